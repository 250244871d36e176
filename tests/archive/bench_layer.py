"""Throughput of the layer writer and extractor, with GNU tar on the same tree as the peer.

Run by hand (pytest does not collect it):

    .venv/bin/python tests/archive/bench_layer.py [FILES] [SIZE] [DIR]

Defaults: 1,000 files of 100 kB (100 MB; half random, half text) under /dev/shm,
so the numbers measure anyarch rather than the disk.  Best of three runs, MB/s of
file content.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anyarch.archive.diff import Snapshot, tree_changes, write_diff_layer
from anyarch.archive.extract import extract_layer


def make_tree(root: Path, files: int = 1000, size: int = 100_000) -> int:
    """Half random (incompressible), half text-like data: layers are a mix of both."""
    total = 0
    for i in range(files):
        d = root / f"dir{i % 37:02d}" / f"sub{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        if i % 2:
            data = os.urandom(size)
        else:
            data = (b"line %d of some config or source text\n" % i) * (size // 40 + 1)
            data = data[:size]
        (d / f"file{i:04d}.bin").write_bytes(data)
        total += size
    return total


def best_of(n: int, fn: object) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    base = sys.argv[3] if len(sys.argv) > 3 else ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    tmp = Path(tempfile.mkdtemp(prefix="anyarch-bench-", dir=base))
    try:
        src, empty = tmp / "src", tmp / "empty"
        src.mkdir()
        empty.mkdir()
        mb = make_tree(src, files, size) / 1e6
        print(f"{files} files x {size} B = {mb:.0f} MB in {tmp.parent}")
        changes = list(tree_changes(Snapshot.take(empty), src))
        layer = tmp / "layer"

        for comp in (None, "gzip", "zstd"):

            def write(_: int, comp: str | None = comp) -> None:
                with open(layer, "wb") as fh:
                    write_diff_layer(changes, src, fh, compression=comp)

            def extract(i: int, comp: str | None = comp) -> None:
                dest = tmp / f"x{i}"
                dest.mkdir()
                with open(layer, "rb") as fh:
                    extract_layer(fh, dest, compression=comp)

            w = best_of(3, write)
            x = best_of(3, extract)
            for i in range(3):
                shutil.rmtree(tmp / f"x{i}")
            print(
                f"anyarch  {comp or 'none':5} write {mb / w:6.0f} MB/s   extract {mb / x:6.0f} MB/s"
            )

        tarball = tmp / "gnu.tar"
        for flag, name in (("", "none"), ("z", "gzip")):

            def gwrite(_: int, flag: str = flag) -> None:
                subprocess.run(["tar", f"-c{flag}f", str(tarball), "-C", str(src), "."], check=True)

            def gextract(i: int, flag: str = flag) -> None:
                dest = tmp / f"g{i}"
                dest.mkdir()
                subprocess.run(["tar", f"-x{flag}pf", str(tarball), "-C", str(dest)], check=True)

            w = best_of(3, gwrite)
            x = best_of(3, gextract)
            for i in range(3):
                shutil.rmtree(tmp / f"g{i}")
            print(f"GNU tar  {name:5} write {mb / w:6.0f} MB/s   extract {mb / x:6.0f} MB/s")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
