"""Local store commands: images, image inspect, tag, rmi, gc, import, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from anyarch.cli.output import created_ago, human_size, table
from anyarch.name import parse_reference
from anyarch.oci.platform import format as format_platform
from anyarch.oci.platform import parse as parse_platform
from anyarch.store import ResolvedImage, Store


def _store(ctx: click.Context) -> Store:
    return ctx.obj.store()  # type: ignore[no-any-return]


@click.command("images")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show unnamed images too (shown by default).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Show full digests.")
@click.option("-f", "--format", "fmt", help="Go template for each image, or 'json'.")
@click.argument("repository", required=False)
@click.pass_context
def images_cmd(ctx: click.Context, show_all: bool, quiet: bool, no_trunc: bool, fmt: str | None, repository: str | None) -> None:
    """List images in the local store."""
    store = _store(ctx)
    rows = []
    want_repo = str(parse_reference(repository)).rsplit(":", 1)[0] if repository else None
    for entry in store.entries():
        s = store.summary(entry)
        if entry.name:
            ref = parse_reference(entry.name)
            repo, tag = ref.familiar_name, ref.tag or "<none>"
            if want_repo and ref.name != want_repo.split("@")[0]:
                continue
        else:
            if want_repo:
                continue
            repo, tag = "<none>", "<none>"
        digest = str(s.descriptor.digest) if no_trunc else s.descriptor.digest.hex[:12]
        rows.append(
            {
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "ID": digest,
                "Platforms": ",".join(format_platform(p) for p in s.platforms),
                "Size": human_size(s.size),
                "CreatedAt": s.created or "",
                "CreatedSince": created_ago(s.created),
            }
        )
    if quiet:
        for r in rows:
            click.echo(r["ID"])
        return
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    if fmt:
        from anyarch._util.gotemplate import parse_template

        tmpl = parse_template(fmt)
        for r in rows:
            click.echo(tmpl.render(r))
        return
    click.echo(
        table(
            ["REPOSITORY", "TAG", "DIGEST", "PLATFORMS", "SIZE", "CREATED"],
            [[r["Repository"], r["Tag"], r["Digest"], r["Platforms"], r["Size"], r["CreatedSince"]] for r in rows],
        )
    )


def inspect_document(img: ResolvedImage, store: Store) -> dict[str, Any]:
    """The ``docker image inspect`` shape for one resolved image."""
    cfg = img.config
    raw = cfg.to_json()
    repo_tags: list[str] = []
    repo_digests: list[str] = []
    names = [e.name for e in store.entries() if e.descriptor.digest == img.top.digest and e.name]
    if img.name and img.name not in names:
        names.append(img.name)
    for n in names:
        ref = parse_reference(n)
        if ref.tag and not ref.digest:
            repo_tags.append(ref.familiar)
        rd = f"{ref.familiar_name}@{img.top.digest}"
        if rd not in repo_digests:
            repo_digests.append(rd)
    out: dict[str, Any] = {
        "Id": str(img.manifest.config.digest),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": _last_comment(raw),
        "Created": raw.get("created", ""),
        "DockerVersion": raw.get("docker_version", ""),
        "Author": raw.get("author", ""),
        "Config": raw.get("config", {}),
        "Architecture": cfg.platform.architecture,
    }
    if cfg.platform.variant:
        out["Variant"] = cfg.platform.variant
    out["Os"] = cfg.platform.os
    if cfg.platform.os_version:
        out["OsVersion"] = cfg.platform.os_version
    out["Size"] = sum(layer.size for layer in img.manifest.layers)
    out["RootFS"] = {"Type": raw.get("rootfs", {}).get("type", "layers"), "Layers": [str(d) for d in cfg.diff_ids]}
    out["Metadata"] = {"LastTagTime": "0001-01-01T00:00:00Z"}
    out["Descriptor"] = img.descriptor.to_json()
    return out


def _last_comment(raw: dict[str, Any]) -> str:
    hist = raw.get("history") or []
    if hist and isinstance(hist[-1], dict):
        return str(hist[-1].get("comment", ""))
    return ""


@click.command("inspect")
@click.option("--platform", help="Platform to select from a multi-platform image (default: this host's).")
@click.option("-f", "--format", "fmt", help="Format the output with a Go template.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def image_inspect_cmd(ctx: click.Context, platform: str | None, fmt: str | None, refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more images (docker image inspect shape)."""
    store = _store(ctx)
    plat = parse_platform(platform) if platform else None
    docs = [inspect_document(store.resolve(r, plat), store) for r in refs]
    if fmt:
        from anyarch._util.gotemplate import parse_template

        tmpl = parse_template(fmt)
        for d in docs:
            click.echo(tmpl.render(d))
        return
    click.echo(json.dumps(docs, indent=4))


@click.command("tag")
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag_cmd(ctx: click.Context, source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    store = _store(ctx)
    entry = store.lookup(source)
    store.tag(target, entry.descriptor)


@click.command("rmi")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def rmi_cmd(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove one or more image names (blobs go with 'anyarch gc')."""
    store = _store(ctx)
    for r in refs:
        for name in store.untag(r):
            if name.startswith("sha256:"):
                click.echo(f"Deleted: {name}")
            else:
                click.echo(f"Untagged: {parse_reference(name).familiar}")


@click.command("gc")
@click.pass_context
def gc_cmd(ctx: click.Context) -> None:
    """Delete blobs no image references, and leftovers of interrupted writes."""
    from anyarch import api

    res = api.gc(_store(ctx))
    for d in res.removed:
        click.echo(f"deleted: {d}")
    if res.leftovers:
        click.echo(f"removed {res.leftovers} leftover(s) of interrupted writes")
    click.echo(f"Total reclaimed space: {human_size(res.bytes_freed)}")


@click.command("import")
@click.option("--name", help="Name for the imported image (when the layout holds one).")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def import_cmd(ctx: click.Context, name: str | None, path: Path) -> None:
    """Import images from an OCI layout directory or an oci-archive tar."""
    from anyarch import api

    for imp in api.import_images(_store(ctx), path, name=name):
        label = parse_reference(imp.name).familiar if imp.name else "<none>"
        click.echo(f"Loaded image: {label} ({imp.digest})")


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "oci-archive", "docker"]),
    help="oci (directory), oci-archive (tar) or docker ('docker save' tar, one platform). Default from PATH.",
)
@click.option("--platform", help="Export only this platform (required for multi-platform images with --format docker unless the host's platform is wanted).")
@click.argument("ref")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str | None, platform: str | None, ref: str, path: Path) -> None:
    """Write an image from the store to an OCI layout, an oci-archive or a docker-save tar."""
    plat = parse_platform(platform) if platform else None
    from anyarch import api

    written = api.export_image(_store(ctx), ref, path, fmt=fmt, platform=plat)
    click.echo(f"Exported {ref} to {path} ({written})")


@click.group("image")
def image_group() -> None:
    """Manage images in the local store (inspect, ls, rm, tag, import, export)."""


image_group.add_command(image_inspect_cmd, "inspect")
image_group.add_command(images_cmd, "ls")
image_group.add_command(rmi_cmd, "rm")
image_group.add_command(tag_cmd, "tag")
image_group.add_command(import_cmd, "import")
image_group.add_command(export_cmd, "export")


def register(cli: click.Group) -> None:
    """Add the store commands to ``cli`` (the main group loads them lazily instead)."""
    for c in (images_cmd, image_group, tag_cmd, rmi_cmd, import_cmd, export_cmd, gc_cmd):
        cli.add_command(c)
