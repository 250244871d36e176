"""Write a layer tar deterministically, hashing it twice in one pass.

The uncompressed stream's sha256 is the layer's diff ID; the compressed
stream's sha256 is its digest.  Both are computed while the bytes flow to the
sink, so nothing is ever read back.  Entries are written in a fixed order with
fixed metadata, so the same tree always gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from collections.abc import Iterable
from typing import IO

from anyarch.archive.codecs import GzipCompressor


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One member of a layer: a regular file, directory, symlink or hardlink."""

    path: str  # relative, no leading "/" or "./"
    kind: str = "file"  # file | dir | symlink | hardlink
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    link: str = ""
    mtime: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class LayerResult:
    """What a written layer is: its compressed digest and size, and its diff ID."""

    digest: str
    size: int
    diff_id: str
    media_type: str


class _Tee(io.RawIOBase):
    """Uncompressed tar bytes in; diff ID hashed; compressed bytes out to the sink."""

    def __init__(self, sink: IO[bytes], compress: bool) -> None:
        self.sink = sink
        self.diff = hashlib.sha256()
        self.digest = hashlib.sha256()
        self.size = 0
        self.gz = GzipCompressor() if compress else None

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        b = bytes(b)
        self.diff.update(b)
        out = self.gz.compress(b) if self.gz else b
        self._emit(out)
        return len(b)

    def _emit(self, out: bytes) -> None:
        if out:
            self.digest.update(out)
            self.sink.write(out)
            self.size += len(out)

    def finish(self) -> None:
        if self.gz:
            self._emit(self.gz.flush())


def write_layer(entries: Iterable[Entry], sink: IO[bytes], *, compress: bool = True) -> LayerResult:
    """Write ``entries`` (sorted by path) as a tar layer to ``sink``."""
    tee = _Tee(sink, compress)
    with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for e in sorted(entries, key=lambda x: x.path):
            ti = tarfile.TarInfo(e.path + ("/" if e.kind == "dir" else ""))
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
            ti.uname = ti.gname = ""
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif e.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.link
                tf.addfile(ti)
            elif e.kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.link
                tf.addfile(ti)
            else:
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
    tee.finish()
    mt = (
        "application/vnd.oci.image.layer.v1.tar+gzip"
        if compress
        else "application/vnd.oci.image.layer.v1.tar"
    )
    return LayerResult(
        f"sha256:{tee.digest.hexdigest()}", tee.size, f"sha256:{tee.diff.hexdigest()}", mt
    )
