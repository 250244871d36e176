"""Helpers for the ``anyarch build`` end-to-end tests.

:class:`Builder` runs the real CLI (``python -m anyarch``) in a subprocess
against a private store.
:class:`ImageView` reads what a build produced *from the store*: the image
config as stored, each layer's tar members, and the file tree the layers make
when applied in order (whiteouts honoured) -- never the builder's own state.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyarch.oci import Index, Manifest
from anyarch.oci.platform import parse as parse_platform
from anyarch.store import Store


@dataclass
class Result:
    """Exit code and output of one CLI run."""

    code: int
    out: str
    err: str
    stdout: bytes = b""

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out[-1500:]!r}, err={self.err[-3000:]!r})"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The JSON progress events (``--progress json``) on stderr."""
        out = []
        for line in self.err.splitlines():
            if line.startswith("{"):
                ev = json.loads(line)
                if kind is None or ev.get("event") == kind:
                    out.append(ev)
        return out

    def finished_steps(self) -> list[dict[str, Any]]:
        """Step events with a final status (done/error/canceled), sources (FROM) excluded."""
        return [
            e
            for e in self.events("step")
            if e["status"] != "running" and e["kind"] not in ("image", "scratch")
        ]

    def error_line(self) -> str:
        lines = [ln for ln in self.err.splitlines() if ln.startswith("Error: ")]
        assert lines, f"no 'Error:' line in stderr: {self.err[-2000:]}"
        return lines[-1]

    def hint_line(self) -> str:
        lines = [ln for ln in self.err.splitlines() if ln.startswith("Hint: ")]
        assert lines, f"no 'Hint:' line in stderr: {self.err[-2000:]}"
        return lines[-1]


class Builder:
    """The anyarch CLI on one private store."""

    def __init__(self, store: Path) -> None:
        self.store_dir = store

    def _run(
        self,
        argv: list[str],
        *,
        input: bytes | None,
        env: dict[str, str] | None,
        cwd: Path | None,
        timeout: float,
    ) -> Result:
        e = dict(os.environ)
        e["ANYARCH_STORE"] = str(self.store_dir)
        e.pop("ANYARCH_DEBUG", None)
        e.pop("SOURCE_DATE_EPOCH", None)
        if env:
            e.update(env)
        p = subprocess.run(
            argv, input=input, capture_output=True, env=e, cwd=cwd, timeout=timeout, check=False
        )
        return Result(
            p.returncode,
            p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"),
            p.stdout,
        )

    def __call__(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        code: int | None = 0,
        timeout: float = 240,
    ) -> Result:
        """Run ``anyarch ARGS``; assert the exit code is ``code`` (None: any)."""
        r = self._run(
            [sys.executable, "-m", "anyarch", *args], input=input, env=env, cwd=cwd, timeout=timeout
        )
        if code is not None:
            assert r.code == code, f"anyarch {' '.join(args)} exited {r.code}, wanted {code}: {r!r}"
        return r

    def build(self, *args: str, **kwargs: Any) -> Result:
        return self("build", *args, **kwargs)

    @property
    def store(self) -> Store:
        return Store(self.store_dir)

    def image(self, ref: str, platform: str | None = None) -> ImageView:
        store = self.store
        resolved = store.resolve(ref, parse_platform(platform) if platform else None)
        return ImageView(store, resolved.manifest, json.loads(resolved.config.raw))

    def index(self, ref: str) -> Index:
        store = self.store
        doc = store.document(store.lookup(ref).descriptor)
        assert isinstance(doc, Index), f"{ref} is a {type(doc).__name__}, not an index"
        return doc


@dataclass
class Member:
    """One tar member of a layer: header fields and (for files) the content."""

    name: str
    type: str  # file, dir, symlink, hardlink, char, block, fifo
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str
    data: bytes


_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def read_layer(data: bytes) -> list[Member]:
    if data.startswith(b"\x28\xb5\x2f\xfd"):  # zstd: tarfile cannot read it
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for ti in tf:
            body = b""
            if ti.isreg():
                fh = tf.extractfile(ti)
                assert fh is not None
                body = fh.read()
            out.append(
                Member(
                    ti.name.rstrip("/"),
                    _TYPES.get(ti.type, repr(ti.type)),
                    ti.mode & 0o7777,
                    ti.uid,
                    ti.gid,
                    int(ti.mtime),
                    ti.linkname,
                    body,
                )
            )
    return out


class ImageView:
    """An image as stored: ``config`` (the JSON document), ``manifest`` and its layers."""

    def __init__(self, store: Store, manifest: Manifest, config: dict[str, Any]) -> None:
        self.store = store
        self.manifest = manifest
        self.config = config

    @property
    def runtime(self) -> dict[str, Any]:
        """The ``config`` object (Env, Cmd, ...)."""
        value: dict[str, Any] = self.config.get("config") or {}
        return value

    @property
    def history(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = self.config.get("history") or []
        return value

    def layer(self, i: int) -> list[Member]:
        """Members of layer ``i`` (negative counts from the top)."""
        desc = self.manifest.layers[i]
        return read_layer(self.store.blobs.read(desc.digest))

    def layer_names(self, i: int) -> list[str]:
        return [m.name for m in self.layer(i)]

    def files(self) -> dict[str, Member]:
        """The merged file tree of all layers (paths without a leading '/')."""
        tree: dict[str, Member] = {}
        for i in range(len(self.manifest.layers)):
            for m in self.layer(i):
                name = m.name.removeprefix("./")
                base = name.rsplit("/", 1)[-1]
                parent = name.rsplit("/", 1)[0] if "/" in name else ""
                if base == ".wh..wh..opq":
                    for k in [k for k in tree if k.startswith(parent + "/")]:
                        del tree[k]
                    continue
                if base.startswith(".wh."):
                    gone = (parent + "/" if parent else "") + base[4:]
                    for k in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                        del tree[k]
                    continue
                if m.type != "dir":
                    for k in [k for k in tree if k.startswith(name + "/")]:
                        del tree[k]
                tree[name] = m
        return tree

    def read(self, path: str) -> bytes:
        """Content of a regular file in the image (hard links followed)."""
        files = self.files()
        m = files[path.lstrip("/")]
        if m.type == "hardlink":
            m = files[m.link.lstrip("/")]
        assert m.type == "file", f"{path} is a {m.type}"
        return m.data


def make_context(root: Path, files: dict[str, str | bytes], dockerfile: str | None = None) -> Path:
    """Write ``files`` (and a Dockerfile) below ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if dockerfile is not None:
        (root / "Dockerfile").write_text(dockerfile)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
