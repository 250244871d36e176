"""Layer compression codecs: gzip (isal when installed, else zlib) and zstd.

isal's gzip is 5-10x faster than zlib and zstandard is optional, so both are
chosen at import time and the stdlib is the fallback that always works.
"""

from __future__ import annotations

import gzip
import zlib
from typing import IO, Any

from anyarch.errors import UnsupportedMediaTypeError

_igzip: Any
_isal_zlib: Any
_zstd: Any
try:  # pragma: no cover - depends on the environment
    from isal import igzip as _igzip
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover
    _igzip = None
    _isal_zlib = None

try:  # pragma: no cover
    import zstandard as _zstd
except ImportError:  # pragma: no cover
    _zstd = None


GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def have_isal() -> bool:
    return _igzip is not None


def have_zstd() -> bool:
    return _zstd is not None


def sniff(head: bytes) -> str | None:
    """``"gzip"``, ``"zstd"``, ``"bzip2"``, ``"xz"`` or None for a plain stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def open_decompressed(fh: IO[bytes], compression: str | None) -> IO[bytes]:
    """A reader of the uncompressed bytes of ``fh``."""
    if compression is None:
        return fh
    if compression == "gzip":
        if _igzip is not None:
            reader: Any = _igzip.IGzipFile(fileobj=fh, mode="rb")
            return reader  # type: ignore[no-any-return]
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        if _zstd is None:
            raise UnsupportedMediaTypeError(
                "zstd-compressed layer but the 'zstandard' package is not installed",
                hint="pip install zstandard (or anyarch[fast])",
            )
        zreader: Any = _zstd.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        return zreader  # type: ignore[no-any-return]
    if compression == "bzip2":
        import bz2

        return bz2.BZ2File(fh, "rb")
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(fh, "rb")
    raise UnsupportedMediaTypeError(f"unknown compression {compression!r}")


class GzipCompressor:
    """Streaming gzip with a fixed header (mtime 0, no name): same input, same bytes."""

    def __init__(self, level: int = 6) -> None:
        z: Any = _isal_zlib if _isal_zlib is not None else zlib
        # isal levels are 0-3; map zlib's 1-9 onto them
        lvl = min(3, max(0, (level + 2) // 3)) if _isal_zlib is not None else level
        self._c = z.compressobj(lvl, z.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        self._crc32 = z.crc32
        self._started = False

    def compress(self, data: bytes) -> bytes:
        head = b""
        if not self._started:
            self._started = True
            head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        self._crc = self._crc32(data, self._crc)
        self._size += len(data)
        out: bytes = self._c.compress(data)
        return head + out

    def flush(self) -> bytes:
        head = b"" if self._started else b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        self._started = True
        tail: bytes = self._c.flush()
        return (
            head
            + tail
            + (self._crc & 0xFFFFFFFF).to_bytes(4, "little")
            + (self._size & 0xFFFFFFFF).to_bytes(4, "little")
        )
