"""Throughput of the layer writer and extractor on a 100 MB tree of 1,000 files.

Run by hand (not collected by pytest): ``.venv/bin/python tests/archive/bench_layer.py``.
Prints MB/s of uncompressed tar for each compression, plus GNU tar as a peer.
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
            data = (b"line %d of some config or source text\n" % i) * (size // 40)
            data = data[:size].ljust(size, b"\n")
        (d / f"file{i:04d}.bin").write_bytes(data)
        total += size
    return total


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="anyarch-bench-"))
    try:
        src, empty = tmp / "src", tmp / "empty"
        src.mkdir()
        empty.mkdir()
        total = make_tree(src)
        mb = total / 1e6
        changes = list(tree_changes(Snapshot.take(empty), src))
        for comp in (None, "gzip", "zstd"):
            out = tmp / f"layer.{comp}"
            t0 = time.perf_counter()
            with open(out, "wb") as fh:
                res = write_diff_layer(changes, src, fh, compression=comp)
            dt = time.perf_counter() - t0
            print(
                f"write  {comp or 'none':5}: {mb / dt:7.1f} MB/s  ({dt:.2f}s, {res.size / 1e6:.1f} MB out)"
            )
            dest = tmp / f"x-{comp}"
            dest.mkdir()
            t0 = time.perf_counter()
            with open(out, "rb") as fh:
                extract_layer(fh, dest, compression=comp, expected_diff_id=res.diff_id)
            dt = time.perf_counter() - t0
            print(f"extract {comp or 'none':5}: {mb / dt:7.1f} MB/s  ({dt:.2f}s)")
        t0 = time.perf_counter()
        subprocess.run(["tar", "-C", str(src), "-czf", str(tmp / "gnu.tgz"), "."], check=True)
        dt = time.perf_counter() - t0
        print(f"GNU tar czf (peer): {mb / dt:7.1f} MB/s  ({dt:.2f}s)")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
