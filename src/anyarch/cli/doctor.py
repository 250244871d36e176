"""``anyarch doctor``: what this host can build and run, and the commands that fix the rest.

A multi-arch build fails late and cryptically (``exec format error`` in the
middle of a RUN step) when emulation is missing, and slowly when overlayfs
is.  Doctor answers up front, per platform: native, emulated (through which
QEMU interpreter, with which binfmt_misc flags — ``F`` is what makes it work
inside containers — and whether it is static), or not at all, with the exact
commands to run.  It also reports the OCI runtime, overlayfs and the store.

Exit status: 0, because a report is not a failure — except when
``--platform`` names a platform this host cannot run: then 8 (host cannot do
it), so scripts can use ``anyarch doctor --platform linux/arm64`` as a check.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from anyarch.build.snapshots import overlay_available
from anyarch.cli.output import table
from anyarch.errors import AnyarchError, EmulationUnavailableError
from anyarch.sandbox import EmulationStatus, Runtime, doctor_report, find_runtime
from anyarch.sandbox.binfmt import BINFMT_DIR, host_target
from anyarch.store import Store


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """The OCI runtime anyarch would use, or why there is none."""

    name: str | None
    path: str | None
    version: str | None
    fix: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OverlayInfo:
    """Whether rootfs assembly can use overlayfs on the store's filesystem."""

    available: bool | None  # None: could not be probed
    note: str


def runtime_info() -> RuntimeInfo:
    """crun/runc and its version (first line of ``--version``, last word)."""
    try:
        rt: Runtime = find_runtime()
    except AnyarchError as e:
        return RuntimeInfo(None, None, None, (e.hint,) if e.hint else ())
    version: str | None = None
    try:
        out = subprocess.run(
            [rt.path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        first = out.strip().splitlines()[0] if out.strip() else ""
        version = first.split()[-1] if first else None
    except (OSError, subprocess.SubprocessError):
        version = None
    return RuntimeInfo(rt.name, rt.path, version)


def overlay_info(store: Store) -> OverlayInfo:
    """Probe overlayfs where snapshots live: support depends on that filesystem too."""
    try:
        ok = overlay_available(store)
    except (OSError, AnyarchError) as e:
        return OverlayInfo(None, f"could not probe in {store.root}: {e}")
    if ok:
        return OverlayInfo(True, "rootfs are overlay mounts of cached layers")
    return OverlayInfo(
        False,
        "rootfs are assembled by copying (slower); overlayfs needs root and ext4/xfs/btrfs/tmpfs",
    )


def _note(s: EmulationStatus) -> str:
    if s.how == "emulated" and s.static is not None:
        kind = "static" if s.static else "dynamic"
        return f"{s.reason}; {kind} interpreter"
    return s.reason


def _status_json(s: EmulationStatus) -> dict[str, Any]:
    return {
        "platform": s.platform,
        "how": s.how,
        "interpreter": s.interpreter,
        "flags": s.flags,
        "static": s.static,
        "handler": s.handler,
        "note": s.reason,
        "fix": list(s.fix),
    }


def _fixes(statuses: list[EmulationStatus], rt: RuntimeInfo) -> list[str]:
    seen: dict[str, None] = {}
    for s in statuses:
        for cmd in s.fix:
            seen.setdefault(cmd, None)
    for cmd in rt.fix:
        seen.setdefault(cmd, None)
    return list(seen)


def _platform_list(values: tuple[str, ...]) -> list[str] | None:
    out = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return out or None


@click.command("doctor")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="PLATFORM[,PLATFORM...]",
    help="Check these platforms (default: the common ones); exit 8 if one cannot run here.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output as a table or as JSON.",
)
@click.option(
    "--binfmt-dir",
    type=click.Path(path_type=Path),
    default=BINFMT_DIR,
    hidden=True,
    help="Read binfmt_misc registrations from here (tests describe other hosts with it).",
)
@click.pass_context
def doctor_cmd(ctx: click.Context, platforms: tuple[str, ...], fmt: str, binfmt_dir: Path) -> None:
    """Show which platforms this host runs natively or emulated, and how to fix the rest."""
    wanted = _platform_list(platforms)
    statuses = doctor_report(wanted, binfmt_dir=binfmt_dir)
    rt = runtime_info()
    store: Store = ctx.obj.store()
    store_root = store.root
    overlay = overlay_info(store)
    fixes = _fixes(statuses, rt)
    host = str(host_target())

    if fmt == "json":
        doc = {
            "host": host,
            "platforms": [_status_json(s) for s in statuses],
            "runtime": (
                {"name": rt.name, "path": rt.path, "version": rt.version} if rt.name else None
            ),
            "overlayfs": {"available": overlay.available, "note": overlay.note},
            "store": str(store_root),
            "fix": fixes,
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        rows = [
            [s.platform, s.how, s.interpreter or "-", s.flags or "-", _note(s)] for s in statuses
        ]
        click.echo(table(["PLATFORM", "HOW", "INTERPRETER", "FLAGS", "NOTE"], rows))
        click.echo("")
        click.echo(f"Host:         {host}")
        if rt.name:
            click.echo(f"OCI runtime:  {rt.name} {rt.version or '(version unknown)'} ({rt.path})")
        else:
            click.echo("OCI runtime:  none found (RUN steps and 'anyarch run' need crun or runc)")
        state = {True: "available", False: "unavailable", None: "unknown"}[overlay.available]
        click.echo(f"overlayfs:    {state} — {overlay.note}")
        click.echo(f"Store:        {store_root}")
        if fixes:
            click.echo("")
            click.echo("To fix:")
            for cmd in fixes:
                click.echo(f"  {cmd}")

    if wanted is not None:
        bad = [s for s in statuses if not s.runnable]
        if bad:
            names = ", ".join(s.platform for s in bad)
            fix = "; ".join(dict.fromkeys(c for s in bad for c in s.fix))
            raise EmulationUnavailableError(
                f"this {host} host cannot run {names}: {bad[0].reason}",
                hint=f"to fix: {fix}" if fix else "build it on a farm node of that platform",
            )


def register(cli: click.Group) -> None:
    """Add ``anyarch doctor`` to the top-level group."""
    cli.add_command(doctor_cmd)
