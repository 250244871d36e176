"""Walk an image's layers without unpacking them: its final file tree, and the first bytes of files.

Verifying that an image's binaries fit its platform needs two things: which
files the running container would see (layers stacked, whiteouts applied,
symlinks followed inside the image) and the first bytes of some of them.
Extracting layers to disk would cost seconds per image and write hundreds of
megabytes; this module instead streams each layer tar once, keeps a small
in-memory node per entry, and records for every regular file only what can
identify it: the ELF header and program headers (≤ 4 KiB, see
:data:`~anyarch.verify.elf.HEAD_SIZE`), a script's ``#!`` line, or a foreign
executable's magic.  File bodies are skipped, with ``seek`` when the layer is
an uncompressed file, otherwise by decompressing and dropping them.

The tar parser is our own for the same reason :mod:`anyarch.archive.extract`
has one: :mod:`tarfile`'s stream mode is slow per member, and an image of
tens of thousands of files must verify in well under a second per layer.
It reads ustar, GNU (long names, base-256 sizes, old sparse) and PAX headers.
Unlike the extractor it hashes nothing: verify reads content the store (or
the registry client) already verified, and it refuses nothing a runtime would
merely skip; it only stops at a damaged tar, which it reports.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from anyarch.archive.codecs import open_decompressed, sniff
from anyarch.archive.extract import LayerCorruptError, LayerFormatError, LayerTruncatedError
from anyarch.archive.whiteout import OPAQUE_MARKER, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX
from anyarch.verify import elf

__all__ = [
    "DIR",
    "FILE",
    "HARDLINK",
    "OTHER",
    "SYMLINK",
    "LayerScan",
    "Node",
    "Tree",
    "scan_layer",
]

CHUNK = 1 << 20
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_MAX_META = 16 << 20
_MAX_SYMLINKS = 40
_SHEBANG_MAX = 256

# node kinds
DIR, FILE, SYMLINK, HARDLINK, OTHER = 0, 1, 2, 3, 4

_REGULAR = frozenset(b"07\0")
_HEADER_ONLY = frozenset(b"123456")  # links, devices, dirs, fifos: size is ignored

#: First bytes of the formats :meth:`_Tar.special` looks at: ELF, ``#!``, Mach-O, PE.
_MAGIC_FIRST = frozenset(b"\x7f#\xfe\xce\xcf\xcaM")

_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


class Node:
    """One entry of an image's tree.

    A plain class with ``__slots__`` rather than a dataclass: there is one per
    file of every layer, so construction cost and size matter.
    ``fmt`` classifies a regular file by its first bytes: ``elf``, ``script``,
    ``macho``, ``pe``, or ``""`` (anything else, including empty files: those
    all share one node, :data:`_DATA`, whose ``size`` is meaningless).
    """

    __slots__ = ("children", "elf", "fmt", "kind", "link", "shebang", "size")

    def __init__(
        self,
        kind: int,
        *,
        size: int = 0,
        link: str = "",
        fmt: str = "",
        elf_info: elf.ElfInfo | None = None,
        shebang: str = "",
        children: dict[str, Node] | None = None,
    ) -> None:
        self.kind = kind
        self.size = size
        self.link = link
        self.fmt = fmt
        self.elf = elf_info
        self.shebang = shebang
        self.children = children if children is not None or kind != DIR else {}

    def __repr__(self) -> str:
        names = {DIR: "dir", FILE: "file", SYMLINK: "symlink", HARDLINK: "hardlink", OTHER: "other"}
        extra = f" -> {self.link}" if self.link else f" {self.fmt}" if self.fmt else ""
        return f"<{names[self.kind]}{extra}>"


@dataclass(slots=True)
class LayerScan:
    """One layer read: its own tree, and the whiteouts it applies to the layers below."""

    root: Node
    whiteouts: list[tuple[str, ...]] = field(default_factory=list)
    opaques: list[tuple[str, ...]] = field(default_factory=list)
    entries: int = 0
    #: Uncompressed bytes the tar stream held (a layer's size once unpacked).
    size: int = 0


# --- streaming --------------------------------------------------------------------


class _Chain(io.RawIOBase):
    """Bytes already read (to sniff the compression) followed by the rest of a stream."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._first = first
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._first:
            n = min(len(buffer), len(self._first))
            buffer[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class _Stream:
    """A forward-only reader over the uncompressed tar: one chunk and an index into it.

    The hot paths (a header, a small file body) are a slice or an index bump
    in the current chunk; only data straddling two chunks is ever copied.
    """

    def __init__(self, src: IO[bytes], layer: str, *, seekable: bool) -> None:
        self.src = src
        self.layer = layer
        self.seekable = seekable
        self.buf = b""
        self.i = 0
        self.consumed = 0  # bytes of the stream before buf[0]

    @property
    def offset(self) -> int:
        return self.consumed + self.i

    def _read(self, n: int) -> bytes:
        try:
            return self.src.read(n)
        except EOFError as e:
            raise LayerTruncatedError(
                f"{self.layer}: compressed stream ends early ({e})",
                hint="the blob is incomplete; delete it from the store and pull again",
            ) from e
        except (OSError, ValueError) as e:
            raise LayerCorruptError(
                f"{self.layer}: cannot decompress the layer ({type(e).__name__}: {e})",
                hint="the blob is damaged or is not a layer; pull it again",
            ) from e

    def truncated(self, what: str) -> LayerTruncatedError:
        return LayerTruncatedError(
            f"{self.layer}: tar stream ends at byte {self.offset} inside {what}",
            hint="the blob is incomplete; delete it from the store and pull again",
        )

    def _next(self) -> bool:
        """Replace the (consumed) chunk by the next one; False at EOF."""
        chunk = self._read(CHUNK)
        self.consumed += len(self.buf)
        self.buf, self.i = chunk, 0
        return bool(chunk)

    def ensure(self, n: int) -> int:
        """Make up to ``n`` bytes contiguous at ``buf[i:]``; returns how many are (fewer only at EOF)."""
        have = len(self.buf) - self.i
        if have >= n:
            return n
        if have == 0:
            if not self._next():
                return 0
            have = len(self.buf)
            if have >= n:
                return n
        parts = [self.buf[self.i :]]
        self.consumed += self.i
        while have < n:
            chunk = self._read(max(CHUNK, n - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        self.i = 0
        return min(have, n)

    def take(self, n: int, what: str) -> bytes:
        i = self.i
        j = i + n
        if j <= len(self.buf):
            self.i = j
            return self.buf[i:j]
        parts = [self.buf[i:]]
        need = j - len(self.buf)
        while need > 0:
            if not self._next():
                raise self.truncated(what)
            piece = self.buf[:need]
            parts.append(piece)
            self.i = len(piece)
            need -= len(piece)
        return b"".join(parts)

    def skip(self, n: int, what: str) -> None:
        have = len(self.buf) - self.i
        if have >= n:
            self.i += n
            return
        n -= have
        self.consumed += len(self.buf)
        self.buf = b""
        self.i = 0
        if self.seekable:
            self.src.seek(n, io.SEEK_CUR)
            self.consumed += n
            return
        while n > 0:
            chunk = self._read(min(n, CHUNK))
            if not chunk:
                raise self.truncated(what)
            n -= len(chunk)
            self.consumed += len(chunk)


def _nts(b: bytes) -> bytes:
    i = b.find(0)
    return b if i < 0 else b[:i]


# a member name that needs full normalisation: "." or ".." components, or "//"
_ODD_NAME = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|//")

#: The node of every regular file that is not an executable format: one shared
#: object, since nothing about such files matters to the checks.
_DATA = Node(FILE)


class _Tar:
    """Parses members and builds the layer's tree as it goes."""

    def __init__(self, stream: _Stream, layer: str) -> None:
        self.s = stream
        self.layer = layer
        self.globals: dict[str, bytes] = {}
        self.scan = LayerScan(Node(DIR))
        self.dirs: dict[str, Node] = {"": self.scan.root}
        self.at = 0

    def bad(self, what: str) -> LayerFormatError:
        return LayerFormatError(
            f"{self.layer}: invalid tar header at byte {self.at}: {what}",
            hint="the layer blob is damaged or is not a tar archive",
        )

    def num(self, b: bytes) -> int:
        if b and b[0] & 0x80:  # GNU base-256
            neg = bool(b[0] & 0x40)
            x = int.from_bytes(bytes([b[0] & 0x7F]) + b[1:], "big")
            return x - (1 << (8 * len(b) - 1)) if neg else x
        digits = b.strip(b" \0")
        if not digits:
            return 0
        try:
            return int(digits, 8)
        except ValueError:
            raise self.bad(f"numeric field {bytes(b)!r} is not octal") from None

    def check(self, block: bytes) -> None:
        """The header checksum; only for headers without the ustar magic.

        Every writer since POSIX.1-1988 puts ``ustar`` at offset 257, so for
        those the magic already tells a header from garbage, and damage is
        caught by the codec's CRC (or, uncompressed, by the store's digest
        check on import).  Summing 512 bytes per member was a tenth of the
        time of verifying an image of small files.
        """
        if block[257:262] == b"ustar":
            return
        try:
            want = int(block[148:156].strip(b" \0") or b"0", 8)
        except ValueError:
            raise self.bad("header checksum field is not a number") from None
        unsigned = sum(block) - sum(block[148:156]) + 256
        if want != unsigned:
            signed = unsigned - sum(256 for b in block[:148] + block[156:] if b > 127)
            if want != signed:
                raise self.bad("header checksum mismatch (not a tar archive, or damaged)")

    def pax(self, data: bytes) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        pos = 0
        while pos < len(data) and data[pos] != 0:
            sp = data.find(b" ", pos)
            try:
                length = int(data[pos:sp])
            except ValueError:
                raise self.bad("malformed PAX record length") from None
            if sp < 0 or length <= 0 or pos + length > len(data):
                raise self.bad("malformed PAX record")
            key, eq, value = data[sp + 1 : pos + length - 1].partition(b"=")
            if eq:
                out[key.decode("utf-8", "surrogateescape")] = value
            pos += length
        return out

    def run(self) -> LayerScan:
        s = self.s
        local: dict[str, bytes] = {}
        longname: bytes | None = None
        longlink: bytes | None = None
        while True:
            self.at = s.offset
            i = s.i
            if i + _BLOCK <= len(s.buf):
                block = s.buf[i : i + _BLOCK]
                s.i = i + _BLOCK
            else:
                avail = s.ensure(_BLOCK)
                if avail == 0:
                    break  # some writers omit the end-of-archive blocks
                if avail < _BLOCK:
                    raise s.truncated("a header")
                block = s.take(_BLOCK, "a header")
            if block == _ZERO_BLOCK:
                break
            self.check(block)
            typeflag = block[156]
            if block[124] & 0x80:
                size = self.num(block[124:136])
            else:
                try:
                    size = int(block[124:136].strip(b" \0") or b"0", 8)
                except ValueError:
                    raise self.bad("size field is not octal") from None
            if typeflag in (0x78, 0x67, 0x4C, 0x4B):  # x g L K
                if not 0 <= size <= _MAX_META:
                    raise self.bad(f"extended header of {size} bytes")
                data = s.take(size, "an extended header")
                s.skip(-size % _BLOCK, "an extended header")
                if typeflag == 0x78:
                    local.update(self.pax(data))
                elif typeflag == 0x67:
                    self.globals.update(self.pax(data))
                elif typeflag == 0x4C:
                    longname = _nts(data)
                else:
                    longlink = _nts(data)
                continue
            name = block[0:100]
            z = name.find(0)
            if z >= 0:
                name = name[:z]
            if block[257:263] == b"ustar\0" and block[345]:
                name = _nts(block[345:500]) + b"/" + name
            if longname is not None:
                name = longname
            link = longlink if longlink is not None else b""
            if typeflag in (0x31, 0x32) and longlink is None:
                link = _nts(block[157:257])
            sparse = typeflag == 0x53
            if local or self.globals:
                pax = {**self.globals, **local} if self.globals else local
                name = local.get("path", name)
                link = local.get("linkpath", link)
                if "size" in local:
                    try:
                        size = int(local["size"])
                    except ValueError:
                        raise self.bad("PAX size is not a number") from None
                sparse = sparse or any(k.startswith("GNU.sparse.") for k in pax)
                local = {}
            longname = longlink = None
            if typeflag == 0x53 and block[482]:  # old GNU sparse: extension headers follow
                while s.take(_BLOCK, "a sparse header")[504]:
                    pass
            self.member(name, typeflag, size, link, sparse)
        self.scan.size = s.offset
        return self.scan

    def member(
        self, raw_name: bytes, typeflag: int, size: int, raw_link: bytes, sparse: bool
    ) -> None:
        s = self.s
        self.scan.entries += 1
        name = raw_name.decode("utf-8", "surrogateescape")
        if typeflag == 0 and name.endswith("/"):
            typeflag = 0x35
        if size < 0:
            raise self.bad(f"negative size for {name!r}")
        node: Node | None = None
        if sparse:
            node = Node(OTHER)
            s.skip(size + (-size % _BLOCK), "a sparse file")
        elif typeflag in _REGULAR:
            node = self.file(size)
        elif typeflag not in _HEADER_ONLY:
            # Unknown types carry data (GNU dumpdir, vendor types): skip it, as tar does.
            node = Node(OTHER)
            s.skip(size + (-size % _BLOCK), "an entry")
        path = name.strip("/")
        if _ODD_NAME.search(path):
            parts = [p for p in path.split("/") if p and p != "."]
            if ".." in parts:
                return  # a name a runtime refuses to extract
            path = "/".join(parts)
        if not path:
            return  # the root itself
        parent, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            pparts = tuple(parent.split("/")) if parent else ()
            if base == OPAQUE_MARKER:
                self.scan.opaques.append(pparts)
                self.dir_for(parent)
            elif not base.startswith(WHITEOUT_META_PREFIX) and len(base) > len(WHITEOUT_PREFIX):
                self.scan.whiteouts.append((*pparts, base[len(WHITEOUT_PREFIX) :]))
            return
        if node is None:
            if typeflag == 0x35:
                self.dir_for(path)
                return
            if typeflag == 0x32:
                node = Node(SYMLINK, link=raw_link.decode("utf-8", "surrogateescape"))
            elif typeflag == 0x31:
                node = self.hardlink(raw_link.decode("utf-8", "surrogateescape"))
            else:
                node = Node(OTHER)
        pnode = self.dirs.get(parent)
        if pnode is None:
            pnode = self.dir_for(parent)
        children = pnode.children
        assert children is not None
        old = children.get(base)
        if old is not None and old.kind == DIR:
            self.forget_dir(path)
        children[base] = node

    def file(self, size: int) -> Node:
        """Classify a regular file by its first bytes and skip its body (and padding)."""
        s = self.s
        end = size + (-size % _BLOCK)
        if size < 2:
            s.skip(end, "a file")
            return _DATA
        buf, i = s.buf, s.i
        if len(buf) - i < 4 and s.ensure(min(size, 4)):
            buf, i = s.buf, s.i
        first = buf[i] if i < len(buf) else -1
        if first in _MAGIC_FIRST:
            node = self.special(size, end, buf, i)
            if node is not None:
                return node
        if i + end <= len(buf):
            s.i = i + end
        else:
            s.skip(end, "a file")
        return _DATA

    def special(self, size: int, end: int, buf: bytes, i: int) -> Node | None:
        """An ELF, script, Mach-O or PE file: read what identifies it and skip the rest.

        Returns None (nothing consumed) for a file that only starts like one.
        """
        s = self.s
        pad = end - size
        if buf.startswith(elf.ELF_MAGIC, i):
            n = s.ensure(min(size, elf.HEAD_SIZE))
            info = elf.parse_elf(s.buf[s.i : s.i + n])
            if info is not None and info.wants_arm_tail():
                tail_len = min(size, elf.ARM_TAIL_SIZE)
                s.skip(size - tail_len, "a file")
                tail = s.take(tail_len, "a file")
                s.skip(pad, "a file")
                attrs = elf.parse_arm_tail(info, tail, size)
                if attrs is not None:
                    info = _with_arm(info, attrs)
                return Node(FILE, size=size, fmt="elf", elf_info=info)
            s.skip(end, "a file")
            if info is None:
                return _DATA
            return Node(FILE, size=size, fmt="elf", elf_info=info)
        if buf.startswith(b"#!", i):
            n = s.ensure(min(size, _SHEBANG_MAX))
            line = s.buf[s.i + 2 : s.i + n].split(b"\n", 1)[0].strip()
            s.skip(end, "a file")
            return Node(FILE, size=size, fmt="script", shebang=line.decode("utf-8", "replace"))
        fmt = ""
        if buf[i : i + 4] in _MACHO_MAGICS:
            fmt = "macho"
        elif buf.startswith(b"\xca\xfe\xba\xbe", i) and s.ensure(min(size, 8)) >= 8:
            # A Mach-O universal binary, unless it is a Java class file (same magic;
            # there the next word is the class version, >= 45, not an arch count).
            if int.from_bytes(s.buf[s.i + 4 : s.i + 8], "big") < 20:
                fmt = "macho"
        elif buf.startswith(b"MZ", i):
            fmt = "pe"
        if not fmt:
            return None
        s.skip(end, "a file")
        return Node(FILE, size=size, fmt=fmt)

    def hardlink(self, target: str) -> Node:
        parts = [p for p in target.split("/") if p and p != "."]
        parent = self.dirs.get("/".join(parts[:-1]))
        if parts and parent is not None and parent.children is not None:
            found = parent.children.get(parts[-1])
            if found is not None and found.kind != DIR:
                return found
        return Node(HARDLINK, link="/".join(parts))

    def dir_for(self, key: str) -> Node:
        """The layer's directory node at ``key`` ("" is the root), created with its parents."""
        node = self.dirs.get(key)
        if node is not None:
            return node
        parent_key, _, base = key.rpartition("/")
        parent = self.dir_for(parent_key)
        assert parent.children is not None
        node = parent.children.get(base)
        if node is None or node.kind != DIR:
            node = Node(DIR)
            parent.children[base] = node
        self.dirs[key] = node
        return node

    def forget_dir(self, key: str) -> None:
        """A directory replaced by a non-directory in the same layer: drop its cached nodes."""
        prefix = key + "/"
        for k in [k for k in self.dirs if k == key or k.startswith(prefix)]:
            del self.dirs[k]


def _with_arm(info: elf.ElfInfo, attrs: elf.ArmAttributes) -> elf.ElfInfo:
    from dataclasses import replace

    return replace(info, arm=attrs)


def scan_layer(blob: IO[bytes], layer: str) -> LayerScan:
    """Read one layer blob (gzip, zstd or plain tar, sniffed as containerd does).

    ``layer`` names the layer in error messages (its digest).  The blob is
    read once, front to back; an uncompressed layer that is a real file has
    its file bodies skipped with ``seek``.
    """
    seekable = False
    try:
        seekable = blob.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        start = blob.tell()
        first = blob.read(8)
        blob.seek(start)
        compression = sniff(first)
        src: IO[bytes] = blob
    else:
        first = b""
        while len(first) < 8:
            more = blob.read(CHUNK)
            if not more:
                break
            first += more
        compression = sniff(first)
        src = io.BufferedReader(_Chain(first, blob), CHUNK)
    if compression is None:
        stream = _Stream(src, layer, seekable=seekable)
    else:
        stream = _Stream(open_decompressed(src, compression), layer, seekable=False)
    return _Tar(stream, layer).run()


# --- the merged tree ----------------------------------------------------------------


class Tree:
    """The file tree a container of the image sees: layers stacked bottom to top.

    Directory nodes are this tree's own (copied from the layer scans, which
    stay unchanged and may be shared by several images); file nodes are
    shared, as they are never modified.
    """

    def __init__(self, layers: Iterable[LayerScan] = ()) -> None:
        self.root = Node(DIR)
        for scan in layers:
            self.apply(scan)

    def apply(self, scan: LayerScan) -> None:
        """Stack one more layer: its whiteouts hide lower content, then its entries land."""
        for parts in scan.opaques:
            d = self._lookup(parts)
            if d is not None and d.kind == DIR:
                d.children = {}
        for parts in scan.whiteouts:
            d = self._lookup(parts[:-1])
            if d is not None and d.children is not None:
                d.children.pop(parts[-1], None)
        stack = [(self.root, scan.root)]
        while stack:
            dst, src = stack.pop()
            assert dst.children is not None and src.children is not None
            for name, s in src.children.items():
                if s.kind == DIR:
                    d = dst.children.get(name)
                    if d is None or d.kind != DIR:
                        d = Node(DIR)
                        dst.children[name] = d
                    stack.append((d, s))
                else:
                    dst.children[name] = s

    def _lookup(self, parts: Iterable[str]) -> Node | None:
        """The node at a literal path (no symlinks followed), as whiteouts name them."""
        node = self.root
        for p in parts:
            if node.children is None:
                return None
            nxt = node.children.get(p)
            if nxt is None:
                return None
            node = nxt
        return node

    def resolve(self, path: str, *, follow: bool = True) -> tuple[str, Node] | None:
        """Find ``path`` as the container's kernel would, following symlinks inside the image.

        Absolute symlink targets restart at the image root and ``..`` stops
        at it (the container's ``/`` is the image's root); hardlinks to lower
        layers are looked up by their literal name.  Returns the canonical
        path (no leading ``/``) and the node, or None when the path does not
        resolve (missing component, dangling link, loop).
        """
        todo = [c for c in reversed(path.split("/")) if c and c != "."]
        chain: list[tuple[str, Node]] = []
        cur = self.root
        hops = 0
        while todo:
            name = todo.pop()
            if name == "..":
                if chain:
                    chain.pop()
                cur = chain[-1][1] if chain else self.root
                continue
            if cur.children is None:
                return None
            child = cur.children.get(name)
            if child is None:
                return None
            if child.kind == HARDLINK:
                hops += 1
                target = self._lookup(p for p in child.link.split("/") if p)
                if target is None or target.kind == HARDLINK or hops > _MAX_SYMLINKS:
                    return None
                child = target
            if child.kind == SYMLINK and (todo or follow):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    return None
                if child.link.startswith("/"):
                    chain, cur = [], self.root
                todo.extend(c for c in reversed(child.link.split("/")) if c and c != ".")
                continue
            chain.append((name, child))
            cur = child
        return "/".join(n for n, _ in chain), cur
