"""Framing for the coordinator ↔ node byte streams (over an SSH channel or local pipes).

A stream is a sequence of frames: one kind byte, an 8-byte big-endian length,
then that many bytes.  JSON frames carry a UTF-8 JSON object.  A blob frame
carries a JSON header ``{"digest", "size"}``; exactly ``size`` raw bytes
follow it, so layers are streamed, never held in memory.  A stream that ends
without its ``Z`` frame was cut (the node or the connection died): readers
raise :class:`StreamCut` for that, which the dispatcher treats as a lost node.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

PROTOCOL = 1

EVENT = b"E"  # progress event from the node's build
RESULT = b"R"  # outcome of a command: exit code, metadata, images, blob list
BLOB = b"B"  # JSON header, then `size` raw bytes
MANIFEST = b"M"  # a context manifest (context upload)
ERROR = b"X"  # the node-side helper failed: {"message", "hint"}
END = b"Z"  # clean end of stream

_HEAD = struct.Struct(">cQ")
_MAX_JSON = 64 << 20
CHUNK = 1 << 20


class StreamCut(Exception):
    """The stream ended before its end frame: the peer or the connection died."""


class ProtocolError(Exception):
    """The peer sent something that is not this protocol (a different anyarch?)."""


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    parts = []
    left = n
    while left:
        chunk = fh.read(left)
        if not chunk:
            raise StreamCut(f"stream ended {left} bytes short")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def write_json(fh: IO[bytes], kind: bytes, obj: Any) -> None:
    write_json_bytes(fh, kind, json.dumps(obj, separators=(",", ":")).encode())


def write_json_bytes(fh: IO[bytes], kind: bytes, data: bytes) -> None:
    """A frame of already encoded JSON (sent byte for byte: a context manifest's digest is its id)."""
    fh.write(_HEAD.pack(kind, len(data)) + data)
    fh.flush()


def write_blob(
    fh: IO[bytes],
    digest: str,
    size: int,
    src: IO[bytes],
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """A blob frame: header, then ``size`` bytes copied from ``src`` (not flushed: many
    small files go out in large writes; the end frame flushes)."""
    header = json.dumps({"digest": digest, "size": size}, separators=(",", ":")).encode()
    fh.write(_HEAD.pack(BLOB, len(header)) + header)
    left = size
    while left:
        chunk = src.read(min(CHUNK, left))
        if not chunk:
            raise ProtocolError(f"{digest}: source ended {left} bytes short")
        fh.write(chunk)
        left -= len(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))


def write_end(fh: IO[bytes], obj: Any = None) -> None:
    write_json(fh, END, obj if obj is not None else {})


@dataclass
class Frame:
    """A frame read from a stream; for a blob, ``body`` reads its bytes (read it fully)."""

    kind: bytes
    obj: Any
    body: _Bounded | None = None
    #: the JSON payload as it came (a node checks a context manifest's digest on it)
    raw: bytes = b""


class _Bounded:
    """Reads at most ``size`` bytes of the underlying stream."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh = fh
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n is None or n < 0 else min(n, self.left)
        data = self._fh.read(want)
        if not data:
            raise StreamCut(f"blob ended {self.left} bytes short")
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.left:
            self.read(CHUNK)


def read_frame(fh: IO[bytes]) -> Frame:
    head = fh.read(_HEAD.size)
    if not head:
        raise StreamCut("stream ended before its end frame")
    if len(head) < _HEAD.size:
        head += _read_exact(fh, _HEAD.size - len(head))
    kind, length = _HEAD.unpack(head)
    if kind not in (EVENT, RESULT, BLOB, MANIFEST, ERROR, END):
        raise ProtocolError(
            f"unknown frame kind {kind!r} (is the node's anyarch a different version?)"
        )
    if length > _MAX_JSON:
        raise ProtocolError(f"frame of {length} bytes is too large")
    raw = _read_exact(fh, length)
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise ProtocolError(f"bad JSON in a {kind!r} frame: {e}") from None
    if kind == BLOB:
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("size"), int)
            or not isinstance(obj.get("digest"), str)
        ):
            raise ProtocolError("bad blob header")
        return Frame(kind, obj, _Bounded(fh, obj["size"]))
    return Frame(kind, obj, raw=raw)


__all__ = [
    "BLOB",
    "CHUNK",
    "END",
    "ERROR",
    "EVENT",
    "MANIFEST",
    "PROTOCOL",
    "RESULT",
    "Frame",
    "ProtocolError",
    "StreamCut",
    "read_frame",
    "write_blob",
    "write_end",
    "write_json",
    "write_json_bytes",
]
