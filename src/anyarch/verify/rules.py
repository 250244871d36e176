"""The rules ``anyarch verify`` applies, and the findings they produce.

Each rule has a stable id (``AV001``…) so that CI scripts can grep for it and
so that a finding in a bug report says exactly which check fired.  The
checks here are pure: they look at parsed documents and at a
:class:`~anyarch.verify.reader.Tree`, never at the network or the store.
:mod:`anyarch.verify` reads the image and calls them.

Rules (severity is the default; a few rules pick it per case, as noted):

=====  ========  ==================================================================
AV001  error     image config os/architecture/variant differs from the index entry's platform
AV002  error     ELF binary for another architecture (machine, 32/64-bit, byte order)
AV003  warning   ELF binary that runs only through a 64-bit kernel's 32-bit compat layer
AV004  error     soft-float ARM binary in an ``arm/v7`` (armhf) image (warning when static)
AV005  error     ARM binary needs a newer CPU than the image's ``arm/vN`` variant promises
AV006  error     a dynamically linked binary's loader (or the entrypoint script's interpreter) is missing
AV007  error     Mach-O (macOS) or PE (Windows) executable where Linux executables belong
AV008  warning   the entrypoint is missing or is neither an ELF binary nor a ``#!`` script
AV009  warning   (``--all-files``) ELF program for another architecture outside the bin directories
AV010  error     the same platform twice in an index
AV011  error     two index entries for one platform spelled differently (``arm64`` and ``arm64/v8``)
AV012  info      attestation (``unknown/unknown``) or artifact entry: not an image, not checked
AV013  warning   index entry without a platform: clients cannot select it
AV014  warning   an entry's content is not available here, so it was not checked
AV015  info      nothing could be checked (no ELF programs found, or no ELF rules for the arch)
AV020  warning   Docker and OCI media types mixed in one index or manifest
AV021  error     profile docker-v2: an OCI media type (or zstd layer) where Docker ones are needed
AV022  error     profile lambda: an image index (Lambda runs single-platform manifests only)
AV023  error     profile lambda/cloudrun: a platform the service does not run
=====  ========  ==================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from anyarch.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatype
from anyarch.oci.platform import Platform, format_all, normalize_arch
from anyarch.verify import elf
from anyarch.verify.reader import DIR, FILE, Node, Tree

__all__ = [
    "BIN_DIRS",
    "PROFILES",
    "RULES",
    "Entry",
    "Finding",
    "Rule",
    "Severity",
    "check_binaries",
    "check_config_platform",
    "check_index",
    "check_media_types",
    "check_profile",
    "is_attestation",
]

#: Directories whose every regular file is checked (they are on every PATH).
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")

#: Docker's default PATH, used when the image config sets none (as runc does).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PROFILES = ("default", "lambda", "cloudrun", "docker-v2")

#: ``--all-files`` reports at most this many foreign binaries per entry, then a count.
MAX_DEEP_FINDINGS = 20


class Severity(enum.Enum):
    """How bad a finding is; ``error`` fails the command, ``warning`` only with ``--strict``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Rule:
    """A check: its id, default severity and a title for ``--help``-like listings."""

    id: str
    severity: Severity
    title: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("AV001", Severity.ERROR, "config platform differs from the index entry's platform"),
        Rule("AV002", Severity.ERROR, "ELF binary for another architecture"),
        Rule("AV003", Severity.WARNING, "ELF binary that needs a 32-bit compatibility layer"),
        Rule("AV004", Severity.ERROR, "soft-float ARM binary in an arm/v7 (armhf) image"),
        Rule("AV005", Severity.ERROR, "ARM binary needs a newer CPU than the image's variant"),
        Rule(
            "AV006", Severity.ERROR, "program loader or script interpreter missing from the image"
        ),
        Rule("AV007", Severity.ERROR, "macOS or Windows executable in a Linux image"),
        Rule("AV008", Severity.WARNING, "entrypoint missing or not executable by Linux"),
        Rule(
            "AV009", Severity.WARNING, "ELF program for another architecture elsewhere in the image"
        ),
        Rule("AV010", Severity.ERROR, "duplicate platform in an index"),
        Rule("AV011", Severity.ERROR, "ambiguous platforms in an index"),
        Rule("AV012", Severity.INFO, "attestation or artifact entry: not an image"),
        Rule("AV013", Severity.WARNING, "index entry without a platform"),
        Rule("AV014", Severity.WARNING, "entry content not available; not checked"),
        Rule("AV015", Severity.INFO, "no ELF programs to check"),
        Rule("AV020", Severity.WARNING, "Docker and OCI media types mixed"),
        Rule("AV021", Severity.ERROR, "docker-v2 profile: OCI media type or zstd layer"),
        Rule("AV022", Severity.ERROR, "lambda profile: image index instead of one image manifest"),
        Rule("AV023", Severity.ERROR, "platform not supported by the profile's service"),
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or note) about the image, located as precisely as the rule allows."""

    rule: str
    severity: Severity
    message: str
    hint: str = ""
    platform: str | None = None
    digest: Digest | None = None
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "platform": self.platform,
            "digest": str(self.digest) if self.digest else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


def _finding(
    rule: str,
    message: str,
    hint: str = "",
    *,
    severity: Severity | None = None,
    platform: str | None = None,
    digest: Digest | None = None,
    path: str | None = None,
) -> Finding:
    return Finding(rule, severity or RULES[rule].severity, message, hint, platform, digest, path)


@dataclass(slots=True)
class Entry:
    """One image of the target: an index entry (or the manifest itself), as far as it was read."""

    descriptor: Descriptor
    #: The index the entry came from (None for a lone manifest).
    parent: Index | None = None
    manifest: Manifest | None = None
    config: ImageConfig | None = None
    files_checked: int = 0
    verified: bool = False
    layers: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def platform(self) -> Platform | None:
        """The platform clients select this entry by: the descriptor's, else the config's."""
        if self.descriptor.platform is not None:
            return self.descriptor.platform
        if self.config is not None:
            return self.config.platform
        return None

    @property
    def label(self) -> str | None:
        p = self.platform
        return format_all(p) if p is not None else None


def is_attestation(desc: Descriptor) -> bool:
    """A BuildKit attestation manifest (or any ``unknown/unknown`` entry): metadata, not an image."""
    if desc.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    p = desc.platform
    return p is not None and p.os == "unknown" and p.architecture == "unknown"


def _norm(p: Platform) -> tuple[str, str, str, str, tuple[str, ...]]:
    arch, variant = normalize_arch(p.architecture, p.variant)
    return p.os.lower(), arch, variant, p.os_version, tuple(sorted(set(p.os_features)))


# --- index level ----------------------------------------------------------------------


def check_index(index: Index) -> list[Finding]:
    """Duplicates, ambiguous spellings, attestations and platform-less entries of one index."""
    out: list[Finding] = []
    groups: dict[tuple[str, str, str, str, tuple[str, ...]], list[Descriptor]] = {}
    for d in index.manifests:
        if is_attestation(d):
            ref = d.annotations.get("vnd.docker.reference.digest")
            what = f"attests {ref[:19]}…" if ref else "is not tied to an image"
            out.append(
                _finding(
                    "AV012",
                    f"entry {d.digest.short} is an attestation manifest ({what}); it is not an image "
                    "and is not checked",
                    "nothing to do; registries and runtimes skip unknown/unknown entries",
                    platform="unknown/unknown",
                    digest=d.digest,
                )
            )
            continue
        if d.platform is None:
            if mediatype.is_manifest(d.media_type) or mediatype.is_index(d.media_type):
                out.append(
                    _finding(
                        "AV013",
                        f"entry {d.digest.short} has no platform, so no client will ever select it",
                        "set the entry's platform (anyarch manifest annotate --os/--arch)",
                        digest=d.digest,
                    )
                )
            continue
        groups.setdefault(_norm(d.platform), []).append(d)
    for same in groups.values():
        if len(same) < 2:
            continue
        assert same[1].platform is not None
        second = format_all(same[1].platform)  # the entry the finding points at
        spellings = sorted({format_all(d.platform) for d in same if d.platform is not None})
        digests = ", ".join(d.digest.short for d in same)
        if len(spellings) == 1:
            out.append(
                _finding(
                    "AV010",
                    f"index lists {spellings[0]} {len(same)} times ({digests}): clients pick one of "
                    "them arbitrarily",
                    "keep one entry per platform (anyarch manifest create with each platform once)",
                    platform=second,
                    digest=same[1].digest,
                )
            )
        else:
            out.append(
                _finding(
                    "AV011",
                    f"index has entries for {' and '.join(spellings)}, which are the same platform "
                    f"({digests}): which one a client gets depends on its matcher",
                    "keep one entry per platform, spelled canonically (e.g. linux/arm64, linux/arm/v7)",
                    platform=second,
                    digest=same[1].digest,
                )
            )
    return out


def check_config_platform(entry: Entry) -> list[Finding]:
    """AV001: the config must describe the platform the index entry promises."""
    desc_p, cfg = entry.descriptor.platform, entry.config
    if desc_p is None or cfg is None:
        return []
    cfg_p = cfg.platform
    if _norm(desc_p)[:3] == _norm(cfg_p)[:3]:
        return []
    return [
        _finding(
            "AV001",
            f"entry {entry.descriptor.digest.short} is listed as {format_all(desc_p)} but its image "
            f"config says {format_all(cfg_p)}",
            "the index was assembled from the wrong image; rebuild it from per-platform images "
            "whose configs match (anyarch manifest create)",
            platform=format_all(desc_p),
            digest=entry.descriptor.digest,
        )
    ]


# --- media types and profiles -------------------------------------------------------------


def _family(mt: str) -> str:
    return "docker" if mediatype.is_docker(mt) else "oci"


def _image_parts(entry: Entry) -> list[tuple[str, str]]:
    """(what, media type) of an entry's manifest, config and layers, as read."""
    m = entry.manifest
    if m is None:
        return [("manifest", entry.descriptor.media_type)]
    parts = [("manifest", m.media_type), ("config", m.config.media_type)]
    parts += [("layer", layer.media_type) for layer in m.layers]
    return parts


def check_media_types(
    top: Descriptor, indexes: Sequence[Index], entries: Sequence[Entry]
) -> list[Finding]:
    """AV020: one image should speak one dialect; mixed ones trip older registries and tools."""
    out: list[Finding] = []
    for index in indexes:
        fam = _family(index.media_type)
        odd = [d for d in index.manifests if not is_attestation(d) and _family(d.media_type) != fam]
        if odd:
            kinds = "Docker" if fam == "oci" else "OCI"
            out.append(
                _finding(
                    "AV020",
                    f"{'OCI index' if fam == 'oci' else 'Docker manifest list'} {index.digest.short} "
                    f"lists {len(odd)} {kinds} manifest(s) ({', '.join(d.digest.short for d in odd)})",
                    "assemble the index from images of one format, or convert them "
                    "(skopeo copy --format oci|v2s2)",
                    digest=index.digest,
                )
            )
    for e in entries:
        if (
            e.manifest is None
            or is_attestation(e.descriptor)
            or not mediatype.is_config(e.manifest.config.media_type)
        ):
            continue
        fam = _family(e.manifest.media_type)
        odd_parts = [(w, mt) for w, mt in _image_parts(e) if _family(mt) != fam]
        if odd_parts:
            counts = _count(w for w, _ in odd_parts)
            other = "OCI" if fam == "docker" else "Docker"
            out.append(
                _finding(
                    "AV020",
                    f"{'Docker' if fam == 'docker' else 'OCI'} manifest {e.descriptor.digest.short} has "
                    f"{other} media types for its {counts}",
                    "rebuild or convert the image to one format (skopeo copy --format oci|v2s2)",
                    platform=e.label,
                    digest=e.descriptor.digest,
                )
            )
    _ = top
    return out


def _count(words: Iterable[str]) -> str:
    seen: dict[str, int] = {}
    for w in words:
        seen[w] = seen.get(w, 0) + 1
    return ", ".join(f"{n} {w}s" if n > 1 else w for w, n in seen.items())


def check_profile(
    profile: str, top: Descriptor, indexes: Sequence[Index], entries: Sequence[Entry]
) -> list[Finding]:
    """Constraints of a deployment target (see :data:`PROFILES`)."""
    if profile == "docker-v2":
        return _docker_v2(top, indexes, entries)
    if profile == "lambda":
        return _lambda(top, entries)
    if profile == "cloudrun":
        return _cloudrun(top, entries)
    return []


def _docker_v2(
    top: Descriptor, indexes: Sequence[Index], entries: Sequence[Entry]
) -> list[Finding]:
    # Old registries (and Docker before 1.10/17.x) know only Docker schema 2 media
    # types; none of them knows zstd layers, Docker-labelled or not.
    out: list[Finding] = []
    hint = "convert to Docker media types: skopeo copy --format v2s2 SRC DST (drops attestations)"
    for index in indexes:
        if not mediatype.is_docker(index.media_type):
            out.append(
                _finding(
                    "AV021",
                    f"index {index.digest.short} is an OCI image index, not a Docker manifest list",
                    hint,
                    digest=index.digest,
                )
            )
    for e in entries:
        bad = [(w, mt) for w, mt in _image_parts(e) if not mediatype.is_docker(mt)]
        if e.manifest is not None:
            bad += [
                ("zstd layer", layer.media_type)
                for layer in e.manifest.layers
                if mediatype.is_docker(layer.media_type)
                and mediatype.is_layer(layer.media_type)
                and mediatype.layer_compression(layer.media_type) == "zstd"
            ]
        if bad:
            what = "attestation manifest" if is_attestation(e.descriptor) else "manifest"
            out.append(
                _finding(
                    "AV021",
                    f"{what} {e.descriptor.digest.short} uses media types a Docker v2 registry may "
                    f"refuse: {_count(w for w, _ in bad)}",
                    hint,
                    platform=e.label,
                    digest=e.descriptor.digest,
                )
            )
    _ = top
    return out


def _lambda(top: Descriptor, entries: Sequence[Entry]) -> list[Finding]:
    # AWS Lambda, "Create a Lambda function using a container image" (Requirements):
    # "Lambda supports only Linux-based container images" and "the image you build
    # for your function must target only one of the architectures. Lambda does not
    # support functions that use multi-architecture container images."  It accepts
    # Docker image manifest V2 schema 2 and OCI manifests, and runs x86_64 or arm64.
    # In practice any index is refused — also a single-platform one carrying
    # BuildKit attestations ("The image manifest or layer media type for the source
    # image ... is not supported"), hence --provenance=false in AWS's own advice.
    # https://docs.aws.amazon.com/lambda/latest/dg/images-create.html
    out: list[Finding] = []
    if mediatype.is_index(top.media_type):
        images = [e for e in entries if not is_attestation(e.descriptor)]
        extra = "" if len(images) != 1 else " (a single-platform index too, e.g. with attestations)"
        out.append(
            _finding(
                "AV022",
                f"Lambda runs a single image manifest, not an image index{extra}; "
                f"this index has {len(images)} image(s)",
                "deploy one platform's manifest: anyarch copy --platform linux/arm64 SRC DST "
                "(one --platform copies just that manifest)",
                digest=top.digest,
            )
        )
        return out
    for e in entries:
        p = e.platform
        if p is not None and _norm(p)[:2] not in (("linux", "amd64"), ("linux", "arm64")):
            out.append(
                _finding(
                    "AV023",
                    f"Lambda runs linux/amd64 (x86_64) or linux/arm64 images, not {format_all(p)}",
                    "build the function image for linux/amd64 or linux/arm64",
                    platform=format_all(p),
                    digest=e.descriptor.digest,
                )
            )
    return out


def _cloudrun(top: Descriptor, entries: Sequence[Entry]) -> list[Finding]:
    # Google Cloud Run, "Container runtime contract": "Executables in the container
    # image must be compiled for Linux 64-bit. Cloud Run specifically supports the
    # Linux x86_64 ABI format." ... "If deploying a multi-architecture image, the
    # manifest list must include linux/amd64."  Docker v2 schema 1/2, OCI and zstd
    # images are all accepted, so media types are not checked here.
    # https://cloud.google.com/run/docs/container-contract
    images = [e for e in entries if not is_attestation(e.descriptor)]
    amd64 = [
        e for e in images if e.platform is not None and _norm(e.platform)[:2] == ("linux", "amd64")
    ]
    if amd64:
        return []
    if mediatype.is_index(top.media_type):
        have = ", ".join(sorted({e.label for e in images if e.label})) or "none"
        return [
            _finding(
                "AV023",
                f"Cloud Run needs a linux/amd64 image in a multi-architecture index; this one has: {have}",
                "add a linux/amd64 build to the index",
                digest=top.digest,
            )
        ]
    label = images[0].label if images else None
    return [
        _finding(
            "AV023",
            f"Cloud Run runs only linux/amd64 (x86_64) images, not {label or 'this platform'}",
            "build the image for linux/amd64",
            platform=label,
            digest=top.digest,
        )
    ]


# --- binaries ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    entry: Entry
    tree: Tree
    platform: Platform
    arch: str
    variant: str
    expected: elf.ArchSpec | None
    out: list[Finding]
    checked: set[int]  # id() of file nodes: hardlinks and symlinks to one file count once


def _program(config: ImageConfig | None) -> tuple[str | None, str]:
    """The program a container starts (Entrypoint[0], else Cmd[0]) and the PATH to find it on."""
    if config is None:
        return None, DEFAULT_PATH
    c = config.config
    argv = c.entrypoint if c.entrypoint else c.cmd
    path = c.env_map.get("PATH", DEFAULT_PATH)
    if not argv:
        return None, path
    return argv[0], path


def _lookup_program(
    tree: Tree, program: str, path_var: str, workdir: str
) -> tuple[str, Node] | None:
    if "/" in program:
        where = program if program.startswith("/") else f"{workdir.rstrip('/')}/{program}"
        return tree.resolve(where)
    for d in path_var.split(":"):
        if not d:
            continue
        hit = tree.resolve(f"{d}/{program}")
        if hit is not None and hit[1].kind == FILE:
            return hit
    return None


def check_binaries(entry: Entry, tree: Tree, *, all_files: bool = False) -> list[Finding]:
    """AV002–AV009 and AV015 for one image: its entrypoint, its bin directories, optionally all ELF.

    Binaries are checked against the platform clients select the entry by
    (the descriptor's); AV001 reports separately when the config disagrees.
    Each file is checked once (under the first path that reaches it), so the
    400 busybox applet links produce one finding, not 400.
    """
    platform = entry.platform
    if platform is None:
        return []
    arch, variant = normalize_arch(platform.architecture, platform.variant)
    ctx = _Ctx(entry, tree, platform, arch, variant, elf.ARCHES.get(arch), [], set())
    if platform.os.lower() == "windows":
        return []
    program, path_var = _program(entry.config)
    if program is not None:
        workdir = (entry.config.config.working_dir if entry.config else None) or "/"
        hit = _lookup_program(tree, program, path_var, workdir)
        if hit is None or hit[1].kind != FILE:
            ctx.out.append(
                _finding(
                    "AV008",
                    f"the entrypoint {program!r} is not in the image"
                    + ("" if "/" in program else f" (searched PATH={path_var})"),
                    "COPY the program into the image, or fix ENTRYPOINT/CMD",
                    platform=entry.label,
                    digest=entry.descriptor.digest,
                    path=_abs(program) if "/" in program else None,
                )
            )
        else:
            _check_file(ctx, hit[0], hit[1], entrypoint=True, path_var=path_var)
    for d in BIN_DIRS:
        hit = tree.resolve(d)
        if hit is None or hit[1].kind != DIR or hit[1].children is None:
            continue
        canon, node = hit
        assert node.children is not None
        for name in sorted(node.children):
            target = tree.resolve(f"{canon}/{name}")
            if target is not None and target[1].kind == FILE:
                _check_file(ctx, target[0], target[1])
    if all_files:
        _deep(ctx)
    if ctx.expected is None:
        ctx.out.append(
            _finding(
                "AV015",
                f"anyarch has no ELF rules for architecture {platform.architecture!r}; "
                "its binaries were not checked",
                "nothing to do unless this architecture name is a typo",
                platform=entry.label,
                digest=entry.descriptor.digest,
            )
        )
    if not ctx.checked and ctx.expected is not None:
        ctx.out.append(
            _finding(
                "AV015",
                "no ELF programs found in the entrypoint or the bin directories; nothing to check",
                "fine for script-only or data images; pass --all-files to look everywhere",
                platform=entry.label,
                digest=entry.descriptor.digest,
            )
        )
    entry.files_checked = len(ctx.checked)
    return ctx.out


def _abs(path: str) -> str:
    return "/" + path.lstrip("/")


def _check_file(
    ctx: _Ctx, canon: str, node: Node, *, entrypoint: bool = False, path_var: str = DEFAULT_PATH
) -> None:
    if id(node) in ctx.checked:
        return
    e = ctx.entry
    path = _abs(canon)
    label, digest = e.label, e.descriptor.digest
    if node.fmt in ("macho", "pe"):
        ctx.checked.add(id(node))
        kind = "a Mach-O (macOS) executable" if node.fmt == "macho" else "a PE (Windows) executable"
        ctx.out.append(
            _finding(
                "AV007",
                f"{path} is {kind}; Linux cannot run it",
                f"cross-compile it for {format_all(ctx.platform)} (e.g. GOOS=linux GOARCH={ctx.arch})",
                platform=label,
                digest=digest,
                path=path,
            )
        )
        return
    if node.fmt == "script":
        if entrypoint:
            ctx.checked.add(id(node))
            _check_shebang(ctx, path, node.shebang, path_var)
        return
    if node.fmt != "elf" or node.elf is None:
        if entrypoint:
            ctx.out.append(
                _finding(
                    "AV008",
                    f"the entrypoint {path} is neither an ELF binary nor a #! script",
                    "the kernel will refuse it with 'exec format error'; add a #! line or use a binary",
                    platform=label,
                    digest=digest,
                    path=path,
                )
            )
        return
    info = node.elf
    if not info.is_program:
        return
    ctx.checked.add(id(node))
    _check_elf(ctx, path, info)


def _check_elf(ctx: _Ctx, path: str, info: elf.ElfInfo, *, deep: bool = False) -> bool:
    """Architecture checks for one ELF program; returns False when it is foreign."""
    expected = ctx.expected
    if expected is None:
        return True
    label, digest = ctx.entry.label, ctx.entry.descriptor.digest
    got = info.spec
    plat = format_all(ctx.platform)
    if got != expected:
        native = elf.guess_platform(got)
        native_s = f", a linux/{native} binary" if native else ""
        if got in elf.COMPAT.get(ctx.arch, ()):
            if not deep:
                ctx.out.append(
                    _finding(
                        "AV003",
                        f"{path} is {got.describe()} ELF{native_s}: a {plat} host runs it only through "
                        "its 32-bit compatibility layer, which some kernels and CPUs lack",
                        f"use the {plat} build of this program",
                        platform=label,
                        digest=digest,
                        path=path,
                    )
                )
            return True
        rule = "AV009" if deep else "AV002"
        ctx.out.append(
            _finding(
                rule,
                f"{path} is {got.describe()} ELF{native_s}, but this image is {plat} "
                f"(needs {expected.describe()}): it fails with 'exec format error'",
                f"build or download this file for {plat} (check the COPY --from stage's platform, "
                "release asset names, and --platform on FROM)",
                platform=label,
                digest=digest,
                path=path,
            )
        )
        return False
    if deep:
        return True
    if ctx.arch == "arm" and info.bits == 32:
        _check_arm(ctx, path, info)
    if info.interpreter is not None:
        hit = ctx.tree.resolve(info.interpreter)
        if hit is None or hit[1].kind != FILE:
            ctx.out.append(
                _finding(
                    "AV006",
                    f"{path} is dynamically linked against {info.interpreter}, which is not in the image: "
                    "it fails with 'no such file or directory'",
                    "install the C library it was built against, or link it statically",
                    platform=label,
                    digest=digest,
                    path=path,
                )
            )
    return True


def _check_arm(ctx: _Ctx, path: str, info: elf.ElfInfo) -> None:
    label, digest = ctx.entry.label, ctx.entry.descriptor.digest
    plat = format_all(ctx.platform)
    level = elf.arch_level_for_variant(ctx.variant)
    if ctx.variant == "v7" and info.arm_float == "soft":
        # The kernel runs soft-float code fine; the loader and libraries of an armhf
        # image do not link it (ld-linux.so.3 vs ld-linux-armhf.so.3).
        static = info.static is True
        ctx.out.append(
            _finding(
                "AV004",
                f"{path} is a soft-float (armel) ARM binary in a {plat} (armhf, hard-float) image"
                + (
                    ": it is static, so it runs, but slower and unlike the rest"
                    if static
                    else ": the image's hard-float loader and libraries cannot run it"
                ),
                "build it with an arm-linux-gnueabihf toolchain (GOARM=7 for Go)",
                severity=Severity.WARNING if static else Severity.ERROR,
                platform=label,
                digest=digest,
                path=path,
            )
        )
    if level is not None and info.arm is not None and info.arm.cpu_arch is not None:
        need, name = elf.arm_cpu_level(info.arm.cpu_arch)
        if need > level:
            ctx.out.append(
                _finding(
                    "AV005",
                    f"{path} is built for {name} (Tag_CPU_arch), newer than the {plat} this image "
                    f"promises: it fails with 'illegal instruction' on ARMv{level} CPUs",
                    f"build it for ARMv{level} (e.g. GOARM={level}, -march=armv{level}), "
                    f"or label the image arm/v{need}",
                    platform=label,
                    digest=digest,
                    path=path,
                )
            )


def _check_shebang(ctx: _Ctx, path: str, shebang: str, path_var: str) -> None:
    words = shebang.split()
    if not words:
        return
    interp = words[0]
    label, digest = ctx.entry.label, ctx.entry.descriptor.digest
    hit = ctx.tree.resolve(interp)
    if hit is None or hit[1].kind != FILE:
        ctx.out.append(
            _finding(
                "AV006",
                f"the entrypoint script {path} runs {interp}, which is not in the image",
                "install the interpreter, or change the script's #! line",
                platform=label,
                digest=digest,
                path=path,
            )
        )
        return
    if interp.rsplit("/", 1)[-1] == "env":
        prog = next((w for w in words[1:] if not w.startswith("-")), None)
        if prog and _lookup_program(ctx.tree, prog, path_var, "/") is None:
            ctx.out.append(
                _finding(
                    "AV006",
                    f"the entrypoint script {path} runs '{prog}' via env, which is not on PATH",
                    "install the interpreter, or change the script's #! line",
                    platform=label,
                    digest=digest,
                    path=path,
                )
            )
            return
    _check_file(ctx, hit[0], hit[1])


def _walk(node: Node, prefix: str) -> Iterator[tuple[str, Node]]:
    stack = [(prefix, node)]
    while stack:
        base, d = stack.pop()
        assert d.children is not None
        for name, child in d.children.items():
            p = f"{base}/{name}" if base else name
            if child.kind == DIR:
                stack.append((p, child))
            elif child.kind == FILE:
                yield p, child


def _deep(ctx: _Ctx) -> None:
    """``--all-files``: every ELF program anywhere, foreign ones reported as warnings."""
    if ctx.expected is None:
        return
    foreign = 0
    for canon, node in _walk(ctx.tree.root, ""):
        if (
            id(node) in ctx.checked
            or node.fmt != "elf"
            or node.elf is None
            or not node.elf.is_program
        ):
            continue
        ctx.checked.add(id(node))
        spec = node.elf.spec
        if spec == ctx.expected or spec in elf.COMPAT.get(ctx.arch, ()):
            continue
        foreign += 1
        if foreign <= MAX_DEEP_FINDINGS:
            _check_elf(ctx, _abs(canon), node.elf, deep=True)
    if foreign > MAX_DEEP_FINDINGS:
        e = ctx.entry
        ctx.out.append(
            _finding(
                "AV009",
                f"{foreign - MAX_DEEP_FINDINGS} more ELF programs for other architectures not listed",
                "see the files above; they are often vendored binaries or prebuilt native modules",
                platform=e.label,
                digest=e.descriptor.digest,
            )
        )
