"""``anyarch manifest``: inspect, create, annotate, push and remove manifest lists.

Output shapes follow ``docker manifest inspect``: a single manifest is the
registry's bytes re-indented with tabs (Go's ``json.Indent``); a list is
rebuilt as Docker's manifest-list struct indented with three spaces; and
``--verbose`` prints docker's ``ImageManifest`` records.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import click

from anyarch.cli.gojson import indent, marshal_indent
from anyarch.cli.output import human_size, table
from anyarch.cli.progress import Reporter
from anyarch.cli.registry import make_options, progress_option, registry_options
from anyarch.name import parse_reference
from anyarch.oci import Descriptor, Index, Manifest, mediatype, parse_document
from anyarch.oci.platform import Platform, format_all


def _platform_spec(p: Platform | None) -> dict[str, Any]:
    """docker's ``manifestlist.PlatformSpec`` field order."""
    p = p or Platform("", "")
    d: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
    if p.os_version:
        d["os.version"] = p.os_version
    if p.os_features:
        d["os.features"] = list(p.os_features)
    if p.variant:
        d["variant"] = p.variant
    return d


def _oci_platform(p: Platform) -> dict[str, Any]:
    d: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
    if p.os_version:
        d["os.version"] = p.os_version
    if p.os_features:
        d["os.features"] = list(p.os_features)
    if p.variant:
        d["variant"] = p.variant
    return d


def list_document(entries: list[tuple[Descriptor, str]]) -> dict[str, Any]:
    """docker's non-verbose list: always a Docker manifest list struct."""
    return {
        "schemaVersion": 2,
        "mediaType": mediatype.DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": mt, "size": d.size, "digest": str(d.digest), "platform": _platform_spec(d.platform)}
            for d, mt in entries
        ],
    }


def _schema_desc(d: Descriptor, oci: bool) -> dict[str, Any]:
    if oci:
        out: dict[str, Any] = {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
        if d.urls:
            out["urls"] = list(d.urls)
        if d.annotations:
            out["annotations"] = dict(d.annotations)
        return out
    out = {"mediaType": d.media_type, "size": d.size, "digest": str(d.digest)}
    if d.urls:
        out["urls"] = list(d.urls)
    return out


def verbose_record(ref: str, desc: Descriptor, raw: bytes, media_type: str) -> dict[str, Any]:
    """docker's ``types.ImageManifest`` JSON."""
    doc = parse_document(raw, media_type)
    d: dict[str, Any] = {"mediaType": media_type, "digest": str(desc.digest), "size": desc.size}
    if desc.platform is not None:
        d["platform"] = _oci_platform(desc.platform)
    rec: dict[str, Any] = {"Ref": ref, "Descriptor": d, "Raw": base64.b64encode(raw).decode()}
    if isinstance(doc, Manifest):
        oci = not mediatype.is_docker(media_type)
        body: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "config": _schema_desc(doc.config, oci), "layers": [_schema_desc(layer, oci) for layer in doc.layers]}
        if oci and doc.annotations:
            body["annotations"] = dict(doc.annotations)
        rec["OCIManifest" if oci else "SchemaV2Manifest"] = body
    return rec


@click.group("manifest")
def manifest_group() -> None:
    """Inspect and assemble multi-platform manifest lists (docker manifest)."""


@manifest_group.command("inspect")
@click.option("-v", "--verbose", is_flag=True, help="Output additional info including layers and platform.")
@click.option("--raw", is_flag=True, help="Print the registry's bytes unchanged.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True, help="table: one row per platform.")
@registry_options
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx: click.Context, verbose: bool, raw: bool, fmt: str, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, refs: tuple[str, ...]) -> None:
    """Display an image manifest or manifest list ([MANIFEST_LIST] MANIFEST)."""
    from anyarch.api import manifest_lists

    if len(refs) > 2:
        raise click.UsageError("manifest inspect takes [MANIFEST_LIST] MANIFEST")
    opts = make_options(insecure, cacert, authfile, jobs)
    store = ctx.obj.store()
    data = manifest_lists.inspect(store, refs[-1], opts, list_ref=refs[0] if len(refs) == 2 else None, need_entries=verbose or fmt == "table")
    if raw:
        sys.stdout.buffer.write(data.raw)
        sys.stdout.buffer.flush()
        return
    if fmt == "table":
        rows = []
        for e in data.entries:
            rows.append([format_all(e.descriptor.platform) if e.descriptor.platform else "-", str(e.descriptor.digest), human_size(e.descriptor.size), e.media_type])
        click.echo(table(["PLATFORM", "DIGEST", "SIZE", "MEDIA TYPE"], rows))
        return
    if not data.is_list:
        if verbose:
            e = data.entries[0]
            click.echo(marshal_indent(verbose_record(e.ref, e.descriptor, e.raw or b"", e.media_type), "\t"))
        else:
            click.echo(indent(data.raw))
        return
    if verbose:
        recs = [verbose_record(e.ref, e.descriptor, e.raw or b"", e.media_type) for e in data.entries]
        click.echo(marshal_indent(recs, "\t"))
        return
    doc = parse_document(data.raw, data.media_type)
    assert isinstance(doc, Index)
    click.echo(marshal_indent(list_document([(d, d.media_type) for d in doc.manifests]), "   "))


@manifest_group.command("create")
@click.option("-a", "--amend", is_flag=True, help="Amend an existing manifest list.")
@registry_options
@click.argument("list_ref", metavar="MANIFEST_LIST")
@click.argument("images", nargs=-1, required=True, metavar="MANIFEST...")
@click.pass_context
def create_cmd(ctx: click.Context, amend: bool, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, list_ref: str, images: tuple[str, ...]) -> None:
    """Create a local manifest list from images (each entry's platform from its config)."""
    from anyarch.api import manifest_lists

    lst = manifest_lists.create(ctx.obj.store(), list_ref, images, make_options(insecure, cacert, authfile, jobs), amend=amend)
    click.echo(f"Created manifest list {lst.name}")


@manifest_group.command("annotate")
@click.option("--os", "os_", help="Set operating system.")
@click.option("--arch", help="Set architecture.")
@click.option("--variant", help="Set architecture variant.")
@click.option("--os-version", help="Set operating system version.")
@click.option("--os-features", help="Set operating system features (comma-separated).")
@click.argument("list_ref", metavar="MANIFEST_LIST")
@click.argument("image", metavar="MANIFEST")
@click.pass_context
def annotate_cmd(ctx: click.Context, os_: str | None, arch: str | None, variant: str | None, os_version: str | None, os_features: str | None, list_ref: str, image: str) -> None:
    """Add platform information to an entry of a local manifest list."""
    from anyarch.api import manifest_lists

    feats = [f for f in os_features.split(",") if f] if os_features is not None else None
    manifest_lists.annotate(ctx.obj.store(), list_ref, image, os=os_, arch=arch, variant=variant, os_version=os_version, os_features=feats)


@manifest_group.command("push")
@click.option("-p", "--purge", is_flag=True, help="Remove the local manifest list after push.")
@click.option("--format", "fmt", type=click.Choice(["oci", "docker"]), default="oci", show_default=True, help="docker: a Docker manifest list, for registries that reject OCI indexes.")
@registry_options
@progress_option
@click.argument("list_ref", metavar="MANIFEST_LIST")
@click.pass_context
def push_cmd(ctx: click.Context, purge: bool, fmt: str, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, progress: str, list_ref: str) -> None:
    """Push a manifest list (copying missing images into its repository first)."""
    from anyarch.api import manifest_lists

    with Reporter(progress) as rep:
        res = manifest_lists.push(ctx.obj.store(), list_ref, make_options(insecure, cacert, authfile, jobs), fmt=fmt, purge=purge, progress=rep)
    click.echo(str(res.digest))


@manifest_group.command("rm")
@click.argument("lists", nargs=-1, required=True, metavar="MANIFEST_LIST...")
@click.pass_context
def rm_cmd(ctx: click.Context, lists: tuple[str, ...]) -> None:
    """Delete one or more local manifest lists."""
    from anyarch.api import manifest_lists

    for name in lists:
        manifest_lists.remove(ctx.obj.store(), name)


def register(cli: click.Group) -> None:
    cli.add_command(manifest_group)


_ = (json, parse_reference)
