"""Shipping anyarch to a node that lacks it: a zipapp of the pure-Python core.

A farm node needs only SSH and Python ≥ 3.11.  When ``anyarch`` is missing
on it, older than the coordinator, or does not speak this farm protocol, the
coordinator packs itself — the ``anyarch`` package plus its pure-Python
dependencies (click, rich and rich's own) — into one ``.pyz`` file, copies
it into the node's cache directory (``~/.cache/anyarch/farm``), and runs it
there with the node's ``python3``.  Optional compiled speed-ups (isal,
zstandard) are left out: the core falls back to zlib.

The archive is deterministic (sorted entries, fixed timestamps) and named
after the sources it holds — ``anyarch-VERSION-KEY.pyz``, the key hashing
every file's name, size and mtime — so a node that already has it is not
sent it again, and the coordinator rebuilds it only when the installed
sources change.  Bytecode for the coordinator's Python rides along
(unchecked-hash ``.pyc`` beside each module): a node with the same Python
version starts it without compiling anything; any other ignores it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyarch
from anyarch.errors import FarmError

#: Packages shipped with anyarch (each if installed; pure-Python files only).
DEPENDENCIES = (
    "click",
    "rich",
    "markdown_it",
    "mdurl",
    "pygments",
    "typing_extensions",
)
_SKIP_DIRS = {"__pycache__", "tests", "test"}
_SKIP_SUFFIXES = (".so", ".pyd", ".pyc", ".pyo", ".c", ".h", ".pyi")
_EPOCH = (1980, 1, 1, 0, 0, 0)
MIN_PYTHON = (3, 11)

MAIN = b'''"""anyarch, shipped to a farm node as a zipapp."""
import sys

if sys.version_info < (3, 11):
    sys.exit("anyarch needs Python >= 3.11; this is " + sys.version.split()[0])
from anyarch.cli import main as _main

# A farm node needs these two commands; make sure they are there.
_known = set(getattr(_main, "COMMANDS", {})) | set(_main.cli.commands)
if "farm-node" not in _known:
    from anyarch.cli import farm_node

    farm_node.register(_main.cli)
if "build" not in _known:
    from anyarch.cli import build

    build.register(_main.cli)
sys.exit(_main.main())
'''


@dataclass(frozen=True, slots=True)
class Zipapp:
    """A built zipapp: where it is on this machine and the name it has on nodes."""

    path: Path
    name: str
    size: int


def _module_files(name: str) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for a top-level module or package, pure-Python files only."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            root = Path(location)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(
                    d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")
                )
                for fn in sorted(filenames):
                    if fn.endswith(_SKIP_SUFFIXES):
                        continue
                    full = Path(dirpath) / fn
                    rel = full.relative_to(root.parent)
                    yield rel.as_posix(), full
    elif spec.origin and spec.origin.endswith(".py"):
        yield Path(spec.origin).name, Path(spec.origin)


def sources() -> list[tuple[str, Path]]:
    """Every file the zipapp holds, sorted by archive name."""
    files: dict[str, Path] = {}
    for name, path in _module_files("anyarch"):
        files[name] = path
    for dep in DEPENDENCIES:
        for name, path in _module_files(dep):
            files.setdefault(name, path)
    if "anyarch/__init__.py" not in files:
        raise FarmError(
            "cannot find anyarch's own sources to ship to a node", hint="reinstall anyarch"
        )
    return sorted(files.items())


def _source_key(files: list[tuple[str, Path]]) -> str:
    h = hashlib.sha256(anyarch.__version__.encode() + b"\0" + MAIN)
    for name, path in files:
        st = path.stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _bytecode(source: bytes, name: str) -> bytes | None:
    """Unchecked-hash bytecode beside each module: a node whose Python has the same
    magic number imports it without compiling (zipimport cannot cache bytecode);
    any other Python ignores it and compiles the source."""
    try:
        code = compile(source, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += (0b01).to_bytes(4, "little")  # hash-based, not checked against the source
    data += importlib.util.source_hash(source)
    data += marshal.dumps(code)
    return bytes(data)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "anyarch" / "farm" / "zipapp"


def zipapp_name(files: list[tuple[str, Path]] | None = None) -> str:
    """The file name the zipapp of the running anyarch has (cheap: from the sources' stat)."""
    key = _source_key(files if files is not None else sources())
    return f"anyarch-{anyarch.__version__}-{key[:16]}.pyz"


def build_zipapp(cache: Path | None = None) -> Zipapp:
    """Build (or reuse) the zipapp of the running anyarch."""
    files = sources()
    cache = cache or cache_root()
    name = zipapp_name(files)
    target = cache / name
    if target.is_file():
        return Zipapp(target, name, target.stat().st_size)
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmpname = tempfile.mkstemp(prefix=".tmp-", suffix=".pyz", dir=cache)
    os.close(fd)
    tmp = Path(tmpname)
    try:
        with open(tmp, "wb") as raw:
            raw.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
                _add(zf, "__main__.py", MAIN)
                for arcname, path in files:
                    data = path.read_bytes()
                    _add(zf, arcname, data)
                    if arcname.endswith(".py"):
                        pyc = _bytecode(data, arcname)
                        if pyc is not None:
                            _add(zf, arcname + "c", pyc)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Zipapp(target, name, target.stat().st_size)


def version_tuple(text: str) -> tuple[int, ...]:
    """``anyarch version 0.1.0`` / ``0.1.0.dev3`` → ``(0, 1, 0)`` (numeric parts only)."""
    word = text.strip().split()[-1] if text.strip() else ""
    out = []
    for part in word.split("."):
        digits = ""
        for c in part:
            if not c.isdigit():
                break
            digits += c
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def needs_bootstrap(
    node_version: str | None, node_protocol: int | None, protocol: int
) -> str | None:
    """Why the node's own anyarch cannot be used (None: it can)."""
    if node_version is None:
        return "anyarch is not installed there"
    if node_protocol != protocol:
        return f"its anyarch {node_version} does not speak farm protocol {protocol}"
    if version_tuple(node_version) < version_tuple(anyarch.__version__):
        return f"its anyarch {node_version} is older than this one ({anyarch.__version__})"
    return None


__all__ = [
    "DEPENDENCIES",
    "MIN_PYTHON",
    "Zipapp",
    "build_zipapp",
    "needs_bootstrap",
    "sources",
    "version_tuple",
]
