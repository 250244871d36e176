"""Speed: verifying a ~190 MB, 3-platform index with tens of thousands of files takes under 3 s.

The image is generated (once per session) to look like a real application
image: per platform a base layer of ~12,000 small text files and 400 ELF
programs and shared libraries (half random, half zero bytes, so they compress
like real binaries), and an application layer of large incompressible files.
No layer is shared between platforms, so every byte is decompressed.

What the number means: verify must decompress every layer (gzip cannot be
skipped through) but reads only tar headers and the first page of ELF files.
The peer on this machine is plain decompression of the same blobs with the
same codec (isal when installed), which is the floor; the test prints both.

Run alone for the figure:  .venv/bin/pytest -s tests/verify/test_verify_bench.py
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from verifykit import ImageKit, elf_bytes

from anyarch.archive.codecs import open_decompressed
from anyarch.archive.layer import Entry
from anyarch.oci import Digest
from anyarch.verify import verify_reference

PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
SMALL_FILES = 12_000
ELF_FILES = 400
BIG_FILES = 9
BIG_SIZE = 5_100_000
LIMIT_S = 3.0


def _binary(arch: str, rng: random.Random, size: int) -> bytes:
    head = elf_bytes(arch, flags=0x05000400 if arch == "arm" else 0)
    half = (size - len(head)) // 2
    return head + rng.randbytes(half) + bytes(size - len(head) - half)


def _layers(kit: ImageKit, platform: str, seed: int) -> list[tuple[Any, str]]:
    rng = random.Random(seed)
    arch = platform.split("/")[1]
    base: list[Entry] = [
        Entry(d, "dir", 0o755)
        for d in ("usr", "usr/bin", "usr/lib", "etc", "usr/share", "usr/share/doc")
    ]
    for i in range(SMALL_FILES):
        words = " ".join(
            rng.choice(("alpha", "beta", "gamma", "delta", "value", "key", str(i)))
            for _ in range(rng.randint(20, 400))
        )
        base.append(
            Entry(f"usr/share/doc/pkg{i % 300:03d}/file{i:05d}.txt", data=(words + "\n").encode())
        )
    for i in range(ELF_FILES):
        where = "usr/bin" if i % 2 else "usr/lib"
        base.append(
            Entry(
                f"{where}/prog{i:03d}",
                "file",
                0o755,
                data=_binary(arch, rng, rng.randint(20_000, 120_000)),
            )
        )
    app = [Entry("opt", "dir", 0o755)] + [
        Entry(f"opt/data{i}.bin", data=rng.randbytes(BIG_SIZE)) for i in range(BIG_FILES)
    ]
    return [kit.layer(base), kit.layer(app)]


@pytest.fixture(scope="session")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("bigstore")
    kit = ImageKit(root)
    entries = [
        kit.image(p, _layers(kit, p, n), entrypoint=["/usr/bin/prog001"])
        for n, p in enumerate(PLATFORMS)
    ]
    kit.tag("big", kit.index(entries))
    total = sum(f.stat().st_size for f in (root / "blobs").rglob("*") if f.is_file())
    return root, total


def _best(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best of ``n`` runs, by the smaller of wall and CPU time.

    The test machine is shared (CI runs two test workers on two cores), so a
    wall-clock figure also measures the neighbours; the process's CPU time is
    the code's own cost.  Whichever is smaller is what the code needs.
    """
    best, result = float("inf"), None
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = min(best, wall, cpu)
    return best, result


def _decompress_all(root: Path) -> int:
    total = 0
    for f in (root / "blobs" / "sha256").iterdir():
        with f.open("rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                continue
            fh.seek(0)
            src = open_decompressed(fh, "gzip")
            while chunk := src.read(1 << 20):
                total += len(chunk)
    return total


@pytest.mark.timing
def test_verify_190mb_index_under_3s(big_store):
    root, total = big_store
    kit = ImageKit(root)
    assert 170e6 < total < 220e6, total  # the workload is the size the promise is about
    elapsed, report = _best(2, lambda: verify_reference(kit.store, "big"))
    assert report.findings == [], report.findings
    assert [e.files_checked for e in report.images] == [ELF_FILES // 2] * 3
    floor, raw = _best(1, lambda: _decompress_all(root))
    files = 3 * (SMALL_FILES + ELF_FILES + BIG_FILES)
    print(
        f"\nverify: {total / 1e6:.0f} MB of blobs ({raw / 1e6:.0f} MB uncompressed, {files} files, "
        f"3 platforms) in {elapsed:.2f} s; plain single-threaded decompression {floor:.2f} s; "
        f"{os.cpu_count()} CPUs"
    )
    assert elapsed < LIMIT_S, f"verify took {elapsed:.2f} s (limit {LIMIT_S} s)"


@pytest.mark.timing
def test_all_files_mode_costs_little_more(big_store):
    root, _ = big_store
    kit = ImageKit(root)
    elapsed, report = _best(1, lambda: verify_reference(kit.store, "big", all_files=True))
    assert [e.files_checked for e in report.images] == [ELF_FILES] * 3
    print(f"\nverify --all-files: {elapsed:.2f} s")
    assert elapsed < LIMIT_S


def test_layers_are_read_once(big_store, monkeypatch):
    """Each distinct layer is opened once, however many entries share it."""
    root, _ = big_store
    kit = ImageKit(root)
    from anyarch import transfer

    opened: list[Digest] = []
    real = transfer.LayoutEndpoint.open_blob

    def spy(self: Any, desc: Any) -> Any:
        opened.append(desc.digest)
        return real(self, desc)

    monkeypatch.setattr(transfer.LayoutEndpoint, "open_blob", spy)
    first = kit.entries_of("big")[0]
    kit.tag("twice", kit.index([first, kit.relabel(first, "linux/amd64/v2")]))
    verify_reference(kit.store, "twice")
    layer_digests = {Digest.parse(d["digest"]) for d in kit.read_json(first.digest)["layers"]}
    assert sorted(d for d in opened if d in layer_digests) == sorted(layer_digests)
