"""The local store: an OCI image layout that skopeo, umoci and crane read directly.

Layout (image-spec ``image-layout.md``)::

    ROOT/oci-layout          {"imageLayoutVersion": "1.0.0"}
    ROOT/index.json          one descriptor per stored image; its name in the
                             ``org.opencontainers.image.ref.name`` annotation
                             (the fully qualified reference, as containerd does)
    ROOT/blobs/sha256/<hex>  content, verified before it lands (see blobs.py)
    ROOT/ingest/             blobs being written; removed by gc
    ROOT/.lock               serialises index.json read-modify-write
    ROOT/.gc.lock            writers hold it shared, gc exclusive

Two processes may tag and import at once: every change of ``index.json`` is a
read-modify-write under an exclusive ``flock`` and lands by atomic rename.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from anyarch._util.canonjson import dumps
from anyarch._util.fs import atomic_write_bytes
from anyarch._util.lock import file_lock
from anyarch.errors import InvalidDocumentError, StoreCorruptError
from anyarch.oci import Descriptor
from anyarch.store.blobs import BlobStore

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
CREATED_ANNOTATION = "org.opencontainers.image.created"
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"


def default_store_root() -> Path:
    """``$ANYARCH_STORE``, else ``$XDG_DATA_HOME/anyarch``, else ``~/.local/share/anyarch``."""
    env = os.environ.get("ANYARCH_STORE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "anyarch"


@dataclass(frozen=True, slots=True)
class StoredImage:
    """One entry of the store's ``index.json``: an image name (or none) and what it points to."""

    name: str | None
    descriptor: Descriptor


class Layout:
    """Low-level access to the store directory: blobs, the tag index, locks."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        # absolute: builds mount overlays and start containers from other working directories
        self.root = Path(root).absolute()
        self.blobs = BlobStore(self.root)
        if create:
            self._ensure()
        elif not (self.root / "oci-layout").is_file():
            raise StoreCorruptError(
                f"{self.root} is not an OCI image layout (no oci-layout file)",
                hint="point --store at an anyarch store or an OCI layout directory",
            )

    def _ensure(self) -> None:
        if (self.root / "oci-layout").is_file() and (self.root / "index.json").is_file():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock"):
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            if not (self.root / "index.json").is_file():
                atomic_write_bytes(self.root / "index.json", _encode_index([]))
            if not (self.root / "oci-layout").is_file():
                atomic_write_bytes(self.root / "oci-layout", LAYOUT_VERSION)

    # -- locks -------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Held (shared) by anything that adds blobs, so gc cannot sweep them mid-write."""
        with file_lock(self.root / ".gc.lock", shared=True):
            yield

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Held (exclusive) by gc."""
        with file_lock(self.root / ".gc.lock"):
            yield

    def tidy(self) -> None:
        """Drop the store's own bookkeeping (lock files, an empty ``ingest/``) from a plain layout.

        For a layout handed to other tools (``export``, ``copy … oci:DIR``,
        ``--output type=oci,tar=false``), which expect only ``oci-layout``,
        ``index.json`` and ``blobs/``.  Call it after the write finished; a
        concurrent anyarch writer into the same directory would recreate them.
        """
        with contextlib.suppress(OSError):
            self.blobs.ingest.rmdir()  # only when empty: a crashed write leaves its file for gc
        for name in (".lock", ".gc.lock"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()

    # -- index.json --------------------------------------------------------

    def entries(self) -> list[StoredImage]:
        """Every entry of ``index.json``, in file order."""
        return _decode_index(self.root / "index.json")

    def update_entries(self, change: Callable[[list[StoredImage]], list[StoredImage]]) -> None:
        """Read-modify-write ``index.json`` under the store lock."""
        with file_lock(self.root / ".lock"):
            before = self.entries()
            after = change(list(before))
            if after != before:
                atomic_write_bytes(self.root / "index.json", _encode_index(after))


def _encode_index(entries: list[StoredImage]) -> bytes:
    manifests = []
    for e in entries:
        d = e.descriptor.to_json()
        ann = dict(d.get("annotations", {}))
        if e.name is not None:
            ann[REF_NAME] = e.name
        else:
            ann.pop(REF_NAME, None)
        if ann:
            d["annotations"] = ann
        else:
            d.pop("annotations", None)
        manifests.append(d)
    return dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests})


def _decode_index(path: Path) -> list[StoredImage]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StoreCorruptError(
            f"{path} is missing", hint="the store is damaged; restore it or start a new one"
        ) from None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
            raise ValueError("not an image index")
        out = []
        for m in doc.get("manifests", []):
            desc = Descriptor.from_json(m)
            name = desc.annotations.get(REF_NAME)
            out.append(StoredImage(name, desc))
        return out
    except (ValueError, InvalidDocumentError) as e:
        raise StoreCorruptError(
            f"{path} is malformed: {e}",
            hint="fix or remove that file; blobs are untouched and 'anyarch import' can re-add images",
        ) from None
