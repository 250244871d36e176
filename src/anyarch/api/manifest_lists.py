"""``manifest create|annotate|inspect|push|rm``: assemble per-arch images into one list.

A list being assembled lives in the store directory under ``manifests/`` as a
small JSON file: the list's name and, per entry, the source image (by digest)
and its descriptor with the platform read from the image config.  ``push``
copies each entry's manifest and blobs into the list's repository (mounting
across repositories of the same registry), then pushes the index.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anyarch import transfer
from anyarch._util.fs import atomic_write_bytes
from anyarch.api.remote import RegistryOptions, connect
from anyarch.errors import ImageNotFoundError, InvalidInputError, NotFoundError
from anyarch.name import Reference, parse_reference
from anyarch.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatype, parse_document
from anyarch.oci.platform import Platform
from anyarch.store import Store


@dataclasses.dataclass(frozen=True, slots=True)
class ListEntry:
    """One image of a local manifest list."""

    source: str  # fully qualified name[:tag]@digest of the image
    descriptor: Descriptor

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "descriptor": self.descriptor.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ListEntry:
        return cls(str(d["source"]), Descriptor.from_json(d["descriptor"]))


@dataclasses.dataclass(frozen=True, slots=True)
class LocalList:
    """A manifest list being assembled locally."""

    name: str
    entries: tuple[ListEntry, ...]


def _dir(store: Store) -> Path:
    return store.root / "manifests"


def _path(store: Store, name: str) -> Path:
    return _dir(store) / (urllib.parse.quote(name, safe="") + ".json")


def load(store: Store, list_ref: str) -> LocalList | None:
    name = str(parse_reference(list_ref))
    p = _path(store, name)
    if not p.is_file():
        return None
    doc = json.loads(p.read_text())
    return LocalList(doc["name"], tuple(ListEntry.from_json(e) for e in doc["entries"]))


def save(store: Store, lst: LocalList) -> None:
    doc = {"name": lst.name, "entries": [e.to_json() for e in lst.entries]}
    atomic_write_bytes(_path(store, lst.name), json.dumps(doc, indent=2).encode())


def remove(store: Store, list_ref: str) -> None:
    name = str(parse_reference(list_ref))
    p = _path(store, name)
    if not p.is_file():
        raise NotFoundError(
            f"no local manifest list named {parse_reference(list_ref).familiar}",
            hint="'anyarch manifest create' makes one",
        )
    p.unlink()


def _entries_for(ref: Reference, opts: RegistryOptions) -> list[ListEntry]:
    """Descriptors (with platforms from the image configs) for one image, or each image of a list."""
    with connect(ref.registry, opts) as client:
        fetched = client.get_manifest(ref.repository, ref.digest or ref.tag or "latest")
        doc = parse_document(fetched.raw, fetched.media_type)
        base = ref.name + (f":{ref.tag}" if ref.tag else "")
        if isinstance(doc, Index):
            out = []
            for d in doc.manifests:
                if d.platform is None or d.platform.os == "unknown":
                    continue  # attestations and platform-less entries are not images to list
                out.append(ListEntry(f"{base}@{d.digest}", dataclasses.replace(d, annotations={})))
            return out
        assert isinstance(doc, Manifest)
        cfg = ImageConfig.from_bytes(_read_config(client, ref.repository, doc))
        plat = cfg.platform
        desc = Descriptor(fetched.media_type, fetched.digest, len(fetched.raw), platform=plat)
        return [ListEntry(f"{base}@{fetched.digest}", desc)]


def _read_config(client: Any, repository: str, doc: Manifest) -> bytes:
    buf = bytearray()
    client.get_blob(repository, doc.config.digest, buf.extend, size=doc.config.size)
    return bytes(buf)


def create(store: Store, list_ref: str, images: Sequence[str], opts: RegistryOptions, *, amend: bool = False) -> LocalList:
    name = str(parse_reference(list_ref))
    existing = load(store, name)
    if existing is not None and not amend:
        raise InvalidInputError(
            f"refusing to amend an existing manifest list with no --amend flag: {parse_reference(name).familiar}",
            hint="add --amend, or 'anyarch manifest rm' it first",
        )
    entries = list(existing.entries) if existing else []
    for image in images:
        for e in _entries_for(parse_reference(image), opts):
            entries = [x for x in entries if x.descriptor.digest != e.descriptor.digest]
            entries.append(e)
    lst = LocalList(name, tuple(entries))
    save(store, lst)
    return lst


def annotate(
    store: Store,
    list_ref: str,
    image: str,
    *,
    os: str | None = None,
    arch: str | None = None,
    variant: str | None = None,
    os_version: str | None = None,
    os_features: Sequence[str] | None = None,
) -> ListEntry:
    lst = load(store, list_ref)
    if lst is None:
        raise NotFoundError(
            f"no local manifest list named {parse_reference(list_ref).familiar}",
            hint="'anyarch manifest create' makes one",
        )
    target = _find_entry(lst, image)
    p = target.descriptor.platform or Platform("", "")
    new = Platform(
        os if os is not None else p.os,
        arch if arch is not None else p.architecture,
        variant if variant is not None else p.variant,
        os_version if os_version is not None else p.os_version,
        tuple(os_features) if os_features is not None else p.os_features,
    )
    entry = ListEntry(target.source, dataclasses.replace(target.descriptor, platform=new))
    save(store, LocalList(lst.name, tuple(entry if e is target else e for e in lst.entries)))
    return entry


def _find_entry(lst: LocalList, image: str) -> ListEntry:
    ref = parse_reference(image)
    for e in lst.entries:
        src = parse_reference(e.source, default_tag=None)
        if ref.digest and str(e.descriptor.digest) == ref.digest:
            return e
        if not ref.digest and src.name == ref.name and src.tag == ref.tag:
            return e
    raise ImageNotFoundError(
        f"manifest for image {ref.familiar} does not exist in {parse_reference(lst.name).familiar}",
        hint="'anyarch manifest inspect " + parse_reference(lst.name).familiar + "' lists its entries",
    )


def build_index(lst: LocalList, fmt: str = "oci") -> Index:
    """The index document for a local list (``fmt`` oci or docker)."""
    media = mediatype.OCI_INDEX if fmt == "oci" else mediatype.DOCKER_MANIFEST_LIST
    return Index.build([e.descriptor for e in lst.entries], media_type=media)


@dataclasses.dataclass(frozen=True, slots=True)
class PushResult:
    name: str
    digest: Digest
    index: Index


def push(
    store: Store,
    list_ref: str,
    opts: RegistryOptions,
    *,
    fmt: str = "oci",
    purge: bool = False,
    progress: transfer.Progress | None = None,
) -> PushResult:
    lst = load(store, list_ref)
    if lst is None:
        raise NotFoundError(
            f"no local manifest list named {parse_reference(list_ref).familiar}",
            hint="'anyarch manifest create' makes one",
        )
    if not lst.entries:
        raise InvalidInputError(f"manifest list {parse_reference(lst.name).familiar} is empty", hint="add images with 'anyarch manifest create --amend'")
    target = parse_reference(lst.name)
    index = build_index(lst, fmt)
    with connect(target.registry, opts) as dst_client:
        dst = transfer.RegistryEndpoint(dst_client, target.repository)
        clients: dict[str, Any] = {}
        try:
            for e in lst.entries:
                src_ref = parse_reference(e.source, default_tag=None)
                if src_ref.registry == target.registry:
                    src_client = dst_client
                else:
                    src_client = clients.get(src_ref.registry) or connect(src_ref.registry, opts)
                    clients[src_ref.registry] = src_client
                src = transfer.RegistryEndpoint(src_client, src_ref.repository)
                transfer.copy_image(src, dst, dataclasses.replace(e.descriptor, platform=None), jobs=opts.jobs, progress=progress)
        finally:
            for c in clients.values():
                c.close()
        dst_client.put_manifest(target.repository, target.tag or "latest", index.raw, index.media_type)
    if purge:
        remove(store, lst.name)
    return PushResult(lst.name, index.digest, index)


# -- inspect ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class InspectEntry:
    ref: str  # name@digest
    descriptor: Descriptor
    media_type: str
    raw: bytes | None


@dataclasses.dataclass(frozen=True, slots=True)
class InspectData:
    """What ``manifest inspect`` shows: the top document and, when asked, each entry."""

    ref: str
    raw: bytes
    media_type: str
    digest: Digest
    is_list: bool
    entries: tuple[InspectEntry, ...]


def _fetch_entry(client: Any, ref: Reference, desc: Descriptor) -> InspectEntry:
    fetched = client.get_manifest(ref.repository, desc.digest)
    return InspectEntry(f"{ref.name}@{desc.digest}", desc, fetched.media_type, fetched.raw)


def inspect(
    store: Store, ref_text: str, opts: RegistryOptions, *, list_ref: str | None = None, need_entries: bool = False
) -> InspectData:
    """A local list (as it would be pushed) if one has that name, else the registry's document.

    ``store:REF`` inspects an image of the local store instead.
    """
    if ref_text.startswith("store:") and list_ref is None:
        return _inspect_stored(store, ref_text[len("store:") :])
    local = load(store, list_ref or ref_text)
    if local is not None:
        entries = list(local.entries)
        if list_ref is not None:
            entries = [_find_entry(local, ref_text)]
        index = build_index(LocalList(local.name, tuple(entries)), "oci")
        got: list[InspectEntry] = []
        if need_entries or list_ref is not None:
            for e in entries:
                src = parse_reference(e.source, default_tag=None)
                with connect(src.registry, opts) as client:
                    got.append(_fetch_entry(client, src, e.descriptor))
        if list_ref is not None:
            one = got[0]
            return InspectData(one.ref, one.raw or b"", one.media_type, one.descriptor.digest, False, (one,))
        return InspectData(local.name, index.raw, index.media_type, index.digest, True, tuple(got))
    ref = parse_reference(ref_text)
    with connect(ref.registry, opts) as client:
        fetched = client.get_manifest(ref.repository, ref.digest or ref.tag or "latest")
        doc = parse_document(fetched.raw, fetched.media_type)
        top = Descriptor(fetched.media_type, fetched.digest, len(fetched.raw))
        if isinstance(doc, Index):
            got = []
            if need_entries:
                for d in doc.manifests:
                    got.append(_fetch_entry(client, ref, d))
            else:
                got = [InspectEntry(f"{ref.name}@{d.digest}", d, d.media_type, None) for d in doc.manifests]
            return InspectData(str(ref), fetched.raw, fetched.media_type, fetched.digest, True, tuple(got))
        assert isinstance(doc, Manifest)
        plat = None
        if need_entries:
            cfg = ImageConfig.from_bytes(_read_config(client, ref.repository, doc))
            plat = cfg.platform
        desc = dataclasses.replace(top, platform=plat)
        entry = InspectEntry(f"{ref.name}@{fetched.digest}", desc, fetched.media_type, fetched.raw)
        return InspectData(str(ref), fetched.raw, fetched.media_type, fetched.digest, False, (entry,))


def _inspect_stored(store: Store, ref: str) -> InspectData:
    entry = store.lookup(ref)
    desc = entry.descriptor
    raw = store.blobs.read(desc.digest)
    doc = parse_document(raw, desc.media_type)
    name = entry.name or ref
    base = parse_reference(name).name if entry.name else name
    if isinstance(doc, Index):
        got = tuple(
            InspectEntry(
                f"{base}@{d.digest}",
                d,
                d.media_type,
                store.blobs.read(d.digest) if store.blobs.has(d.digest) else None,
            )
            for d in doc.manifests
        )
        return InspectData(name, raw, desc.media_type, desc.digest, True, got)
    assert isinstance(doc, Manifest)
    cfg = ImageConfig.from_bytes(store.blobs.read(doc.config.digest))
    one = InspectEntry(f"{base}@{desc.digest}", dataclasses.replace(desc, platform=cfg.platform), desc.media_type, raw)
    return InspectData(name, raw, desc.media_type, desc.digest, False, (one,))
