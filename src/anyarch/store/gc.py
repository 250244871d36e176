"""Garbage collection: mark from ``index.json``, sweep the rest.

Writers hold the gc lock shared while they add blobs; gc takes it exclusive,
so a blob written for an image that is about to be tagged is never swept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from anyarch._util.fs import TMP_PREFIX
from anyarch.oci import Digest
from anyarch.store.store import Store


@dataclasses.dataclass(frozen=True, slots=True)
class GcResult:
    """What gc removed."""

    removed: tuple[Digest, ...]
    bytes_freed: int
    leftovers: int  # interrupted writes removed


def collect(store: Store) -> GcResult:
    with store.layout.collecting():
        live: set[Digest] = set()
        for e in store.entries():
            for desc in store.walk(e.descriptor):
                live.add(desc.digest)
        removed: list[Digest] = []
        freed = 0
        for d in list(store.blobs.all_digests()):
            if d in live:
                continue
            p = store.blobs.path(d)
            try:
                freed += p.stat().st_size
                p.unlink()
                removed.append(d)
            except FileNotFoundError:
                continue
        leftovers = 0
        if store.blobs.ingest.is_dir():
            for f in store.blobs.ingest.iterdir():
                leftovers += 1
                freed += _size(f)
                if f.is_dir():
                    shutil.rmtree(f, ignore_errors=True)
                else:
                    f.unlink(missing_ok=True)
        for dirpath, dirnames, filenames in os.walk(store.root):
            if dirpath == str(store.root):
                dirnames[:] = [d for d in dirnames if d not in ("snapshots", "blobs", "cache", "work")]
            for fn in filenames:
                if fn.startswith(TMP_PREFIX):
                    tmp = os.path.join(dirpath, fn)
                    freed += os.path.getsize(tmp)
                    os.unlink(tmp)
                    leftovers += 1
            for dn in list(dirnames):
                if dn.startswith(("import-", "export-")) and dirpath == str(store.root):
                    shutil.rmtree(os.path.join(dirpath, dn), ignore_errors=True)
                    dirnames.remove(dn)
                    leftovers += 1
        return GcResult(tuple(removed), freed, leftovers)


def _size(p: os.PathLike[str]) -> int:
    try:
        if os.path.isdir(p):
            return sum(
                os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(p) for f in fs
            )
        return os.path.getsize(p)
    except OSError:
        return 0
