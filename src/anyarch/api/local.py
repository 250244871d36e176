"""Jobs on the local store alone: import, export, gc."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from anyarch import transfer
from anyarch._util.canonjson import dumps
from anyarch.archive.codecs import open_decompressed
from anyarch.errors import (
    DigestMismatchError,
    InvalidDocumentError,
    InvalidInputError,
    InvalidReferenceError,
    NotFoundError,
    StoreCorruptError,
)
from anyarch.name import parse_reference
from anyarch.oci import Descriptor, Digest, mediatype
from anyarch.oci.platform import Platform
from anyarch.store import Store
from anyarch.store.gc import GcResult, collect
from anyarch.store.layout import CONTAINERD_NAME, REF_NAME, Layout, StoredImage

# -- import ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Imported:
    name: str | None
    digest: Digest


def import_images(store: Store, path: Path, *, name: str | None = None) -> list[Imported]:
    """Import every image of an OCI layout directory or ``oci-archive`` tar.

    Nothing is tagged unless every blob verified; on any failure the blobs
    this import added are removed again, so the store is as it was.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or directory", hint="give an OCI layout directory or an oci-archive tar")
    if path.is_dir():
        return _import_layout(store, Layout(path, create=False), path.name, name)
    with tempfile.TemporaryDirectory(prefix="import-", dir=store.root) as tmp:
        _extract_layout_tar(path, Path(tmp))
        base = path.name.removesuffix(".tar")
        return _import_layout(store, Layout(Path(tmp), create=False), base, name)


def _import_layout(store: Store, src_layout: Layout, base: str, override: str | None) -> list[Imported]:
    entries = src_layout.entries()
    if not entries:
        raise InvalidDocumentError(f"{src_layout.root}/index.json lists no images", hint="nothing to import")
    if override is not None and len(entries) > 1:
        raise InvalidInputError(
            f"--name given but {src_layout.root} holds {len(entries)} images",
            hint="import without --name, then 'anyarch tag'",
        )
    src = transfer.LayoutEndpoint(src_layout)
    dst = transfer.LayoutEndpoint(store.layout)
    names: list[tuple[str | None, Descriptor]] = []
    with transfer.transaction(dst):
        for e in entries:
            transfer.copy_image(src, dst, e.descriptor)
            names.append((override or _import_name(e, base), e.descriptor))
        out = []
        for n, desc in names:
            if n is None:
                store.add_unnamed(desc)
                out.append(Imported(None, desc.digest))
            else:
                out.append(Imported(store.tag(n, desc), desc.digest))
    return out


def _import_name(e: StoredImage, base: str) -> str | None:
    """A name for an imported entry: containerd's full name, else ref.name, else none.

    An OCI ``ref.name`` is often just a tag (``latest``, ``v1``); it is then
    taken as a tag of ``localhost/<directory name>``.
    """
    full = e.descriptor.annotations.get(CONTAINERD_NAME)
    if full:
        return full
    if not e.name:
        return None
    if "/" in e.name or ":" in e.name:
        try:
            return str(parse_reference(e.name))
        except InvalidReferenceError:
            pass
    repo = "".join(c if c.isalnum() or c in "._-" else "-" for c in base.lower()).strip("._-") or "imported"
    try:
        return str(parse_reference(f"localhost/{repo}:{e.name}"))
    except InvalidReferenceError:
        return None


def _extract_layout_tar(path: Path, dest: Path) -> None:
    """Unpack an oci-archive safely: only regular files and dirs, never outside ``dest``."""
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                p = PurePosixPath(m.name)
                if p.is_absolute() or ".." in p.parts:
                    raise InvalidDocumentError(f"{path}: member {m.name!r} escapes the archive", hint="refusing to import it")
                if m.isdir():
                    (dest / p).mkdir(parents=True, exist_ok=True)
                    continue
                if not m.isfile():
                    continue
                (dest / p).parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                assert src is not None
                with src, open(dest / p, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidDocumentError(f"{path}: not a readable tar archive ({e})", hint="give an OCI layout directory or an oci-archive tar") from None
    if not (dest / "oci-layout").is_file():
        raise InvalidDocumentError(f"{path}: no oci-layout file in the archive", hint="is this an oci-archive (docker save of Docker ≥ 25 works too)?")


# -- export ----------------------------------------------------------------------


def export_image(
    store: Store,
    ref: str,
    dest: Path,
    *,
    fmt: str | None = None,
    platform: Platform | None = None,
    source_date_epoch: int = 0,
) -> str:
    """Write ``ref`` as an OCI layout dir, an ``oci-archive`` tar, or a ``docker save`` tar.

    Returns the format written.  ``fmt`` None picks ``oci-archive`` for a path
    ending in ``.tar`` and ``oci`` (a directory) otherwise.
    """
    dest = Path(dest)
    fmt = fmt or ("oci-archive" if dest.suffix == ".tar" else "oci")
    entry = store.lookup(ref)
    if fmt == "docker":
        _export_docker(store, ref, dest, platform, source_date_epoch)
        return fmt
    desc = entry.descriptor
    if platform is not None:
        resolved = store.resolve(ref, platform)
        desc = resolved.descriptor
    ann = dict(desc.annotations)
    if entry.name:
        parsed = parse_reference(entry.name)
        ann[REF_NAME] = parsed.tag or (parsed.digest or "latest")
        ann[CONTAINERD_NAME] = entry.name
    exported = dataclasses.replace(desc, annotations=ann)
    if fmt == "oci":
        if dest.exists() and any(dest.iterdir()) and not (dest / "oci-layout").exists():
            raise InvalidInputError(f"{dest} exists and is not an OCI layout", hint="choose an empty or new directory")
        layout = Layout(dest)
        dst = transfer.LayoutEndpoint(layout)
        with transfer.transaction(dst):
            transfer.copy_image(transfer.LayoutEndpoint(store.layout), dst, desc)
            layout.update_entries(lambda es: [e for e in es if e.name != ann[REF_NAME]] + [StoredImage(ann.get(REF_NAME), exported)])
        if dest.resolve() != store.root.resolve():
            layout.tidy()
        return fmt
    if fmt == "oci-archive":
        members: dict[str, Path | bytes] = {
            "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
            "index.json": dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": [exported.to_json()]}),
        }
        for d in _unique(store, desc):
            members[f"blobs/{d.digest.algorithm}/{d.digest.hex}"] = store.blobs.path(d.digest)
        _write_tar(dest, members, source_date_epoch)
        return fmt
    raise InvalidInputError(f"unknown export format {fmt!r}", hint="use oci, oci-archive or docker")


def _unique(store: Store, desc: Descriptor) -> Iterator[Descriptor]:
    seen: set[Digest] = set()
    for d in store.walk(desc):
        if d.digest in seen or not store.blobs.has(d.digest):
            continue
        seen.add(d.digest)
        yield d


def _export_docker(store: Store, ref: str, dest: Path, platform: Platform | None, epoch: int) -> None:
    """``docker save`` format: manifest.json, config JSON, one uncompressed layer.tar per layer."""
    img = store.resolve(ref, platform)
    members: dict[str, Path | bytes] = {}
    config_name = f"{img.manifest.config.digest.hex}.json"
    members[config_name] = store.blobs.path(img.manifest.config.digest)
    diff_ids = img.config.diff_ids
    if len(diff_ids) != len(img.manifest.layers):
        raise StoreCorruptError(f"image {ref}: config lists {len(diff_ids)} diff_ids for {len(img.manifest.layers)} layers", hint="the image is malformed")
    layer_names = []
    with tempfile.TemporaryDirectory(prefix="export-", dir=store.root) as tmp:
        for layer, diff_id in zip(img.manifest.layers, diff_ids, strict=True):
            out = Path(tmp) / diff_id.hex
            h = hashlib.new(diff_id.algorithm)
            with store.blobs.open(layer.digest) as raw, open_decompressed(raw, mediatype.layer_compression(layer.media_type)) as plain, open(out, "wb") as fh:
                while chunk := plain.read(1 << 20):
                    h.update(chunk)
                    fh.write(chunk)
            if h.hexdigest() != diff_id.hex:
                raise DigestMismatchError(f"layer {layer.digest} does not decompress to its diff_id {diff_id}", hint="the image is corrupt")
            name = f"{diff_id.hex}/layer.tar"
            members[name] = out
            layer_names.append(name)
        tags = []
        if img.name:
            parsed = parse_reference(img.name)
            if parsed.tag:
                tags.append(parsed.familiar)
        manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
        members["manifest.json"] = json.dumps(manifest).encode()
        if tags:
            parsed = parse_reference(img.name or "")
            members["repositories"] = json.dumps({parsed.familiar_name: {parsed.tag: diff_ids[-1].hex if diff_ids else img.manifest.config.digest.hex}}).encode()
        _write_tar(dest, members, epoch)


def _write_tar(dest: Path, members: dict[str, Path | bytes], epoch: int) -> None:
    """Write a deterministic tar (sorted, uid/gid 0, fixed mtime) atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tf:
            dirs: set[str] = set()
            for name in sorted(members):
                parts = name.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        ti = tarfile.TarInfo(d + "/")
                        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, epoch
                        tf.addfile(ti)
                src = members[name]
                ti = tarfile.TarInfo(name)
                ti.mode, ti.mtime = 0o644, epoch
                if isinstance(src, bytes):
                    ti.size = len(src)
                    import io

                    tf.addfile(ti, io.BytesIO(src))
                else:
                    ti.size = src.stat().st_size
                    with open(src, "rb") as f:
                        tf.addfile(ti, f)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- gc ------------------------------------------------------------------------


def gc(store: Store) -> GcResult:
    """Remove blobs no stored image references, unpacked layers no image uses,
    leftovers of interrupted writes, and warm-rebuild records that lost their result."""
    from anyarch.api import fastpath
    from anyarch.build import snapshots
    from anyarch.build.cache import BuildCache

    result = collect(store)
    with store.layout.collecting():
        snapshots.sweep_leftovers(store)
        keep = list(BuildCache(store).chain_ids()) if (store.root / "cache").is_dir() else []
        stale = snapshots.unreferenced_snapshots(store, keep=keep)
        snapshots.remove_snapshots(store, stale)
        dead = _dead_build_dirs(store.root / "work")
        for d in dead:
            shutil.rmtree(d, ignore_errors=True)
        records = fastpath.prune(store.root)
    return dataclasses.replace(
        result, leftovers=result.leftovers + len(stale) + len(dead) + records
    )


def _dead_build_dirs(work: Path) -> list[Path]:
    """``work/build-<pid>-*`` directories whose process is gone (a crash or Ctrl-C)."""
    out: list[Path] = []
    if not work.is_dir():
        return out
    for d in work.iterdir():
        parts = d.name.split("-")
        if len(parts) < 3 or parts[0] != "build" or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            out.append(d)
        except PermissionError:
            continue
    return out

