"""Steps of a plan and their content-addressed cache keys.

A step is one instruction with everything resolved: expanded words, the
environment and working directory it runs with, its mounts and sources, the
platform it executes on, the image config after it.  Its key is a sha256
over a canonical JSON *definition* of what it does, the keys of its inputs
and, for COPY/ADD and context bind mounts, a placeholder that the builder
replaces with the digest of the content it actually reads.

What enters a key is exactly what the step sees, never the target platform
as such: a ``FROM --platform=$BUILDPLATFORM`` stage that declares no
``TARGET*`` argument yields the same keys for every target, so the builder
runs it once.  Filesystem steps chain on the previous filesystem step
(``base``); config-only steps (ENV, LABEL, ...) chain on the previous step
but never enter a filesystem step's key: what they change that a later step
sees (env, user, working directory) is in that step's own definition, as in
BuildKit's LLB, where a LABEL does not invalidate the RUN after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from anyarch.dockerfile.commands import InlineFile, SourceContent
from anyarch.errors import SourceLocation
from anyarch.oci.platform import Platform
from anyarch.plan.config import ImageConfig
from anyarch.plan.options import HistoryEntry

__all__ = [
    "CONTENT_PLACEHOLDER",
    "ConfigSpec",
    "CopySource",
    "CopySpec",
    "MkdirSpec",
    "MountSpec",
    "RunSpec",
    "SourceSpec",
    "Step",
    "StepKind",
    "StepSpec",
    "canonical",
    "compute_key",
]

#: Stands in the plan-time key of a step whose input content is not known yet.
CONTENT_PLACEHOLDER = "<content>"


class StepKind(Enum):
    """What a step does to the filesystem."""

    IMAGE = "image"  # the root filesystem of a base image
    SCRATCH = "scratch"  # an empty root filesystem
    RUN = "run"  # run a command (a layer)
    COPY = "copy"  # copy files in (a layer)
    ADD = "add"  # COPY plus URLs, git and archive unpacking (a layer)
    MKDIR = "mkdir"  # WORKDIR creating its directory (a layer)
    CONFIG = "config"  # change only the image config (ENV, LABEL, CMD, ...)

    @property
    def changes_filesystem(self) -> bool:
        """True for steps that produce a filesystem (sources and layers)."""
        return self is not StepKind.CONFIG

    @property
    def makes_layer(self) -> bool:
        """True for steps that add a layer to the image."""
        return self in (StepKind.RUN, StepKind.COPY, StepKind.ADD, StepKind.MKDIR)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A root filesystem: ``ref`` pinned to ``digest`` for ``platform`` (empty for scratch)."""

    ref: str = ""
    digest: str = ""
    platform: Platform | None = None

    def key_data(self) -> tuple[Any, ...]:
        """The fields that define the step, as plain JSON-able values."""
        return (self.ref, self.digest, _platform_data(self.platform))

    @property
    def pinned(self) -> str:
        """``ref@digest``, the reference to pull."""
        if not self.ref or not self.digest or "@" in self.ref:
            return self.ref
        return f"{self.ref}@{self.digest}"


@dataclass(frozen=True, slots=True)
class MountSpec:
    """A resolved ``RUN --mount``.

    ``source_key`` is the key of the filesystem mounted (a stage's last
    filesystem step, or an image), None for the build context (``from_context``),
    a fresh cache, a tmpfs, a secret or an ssh socket.  ``target`` is absolute.
    ``cache_id`` carries the namespace; ``secret_id``/``ssh_id`` name what the
    user passes with ``--secret``/``--ssh``.
    """

    type: str
    target: str
    source: str = "/"
    source_key: str | None = None
    source_stage: str = ""
    from_context: bool = False
    readonly: bool = True
    cache_id: str = ""
    sharing: str = ""
    size_limit: int = 0
    required: bool = False
    secret_id: str = ""
    ssh_id: str = ""
    env: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    def key_data(self) -> tuple[Any, ...]:
        """The fields that define the mount (the source enters the key as an input)."""
        return (
            self.type, self.target, self.source, self.from_context, self.readonly,
            self.cache_id, self.sharing, self.size_limit, self.required, self.secret_id,
            self.ssh_id, self.env, self.mode, self.uid, self.gid,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A resolved RUN: argv, environment, directory, user and mounts.

    ``env`` is the process environment in order (image env, ENV and ARG
    values).  ``proxy_env`` holds ``http_proxy``-style build args, passed to
    the process but kept out of the key.  ``inline_files`` are heredocs the
    command runs as scripts (``/dev/pipes/<name>``).
    """

    args: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    user: str
    mounts: tuple[MountSpec, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    devices: tuple[tuple[str, bool], ...] = ()
    inline_files: tuple[InlineFile, ...] = ()
    proxy_env: tuple[str, ...] = field(default=(), compare=False)

    def key_data(self) -> tuple[Any, ...]:
        """Everything that defines the run, except proxy settings (as BuildKit)."""
        return (
            self.args,
            self.env,
            self.workdir,
            self.user,
            tuple(m.key_data() for m in self.mounts),
            self.network,
            self.security,
            self.devices,
            tuple((f.name, f.data, f.chomp) for f in self.inline_files),
        )


@dataclass(frozen=True, slots=True)
class CopySource:
    """One COPY/ADD source: ``local`` (context or ``--from`` stage), ``url`` or ``git``.

    ``path`` is normalised against ``/`` for local sources; with
    ``--parents``, ``pattern`` is the part after an optional ``/./`` pivot.
    """

    raw: str
    kind: str = "local"
    path: str = ""
    pattern: str = ""

    def key_data(self) -> tuple[Any, ...]:
        """The fields that define the source."""
        return (self.raw, self.kind, self.path, self.pattern)


@dataclass(frozen=True, slots=True)
class CopySpec:
    """A resolved COPY or ADD.

    ``source_key`` is the filesystem copied from (``--from`` stage or image);
    None means the build context.  ``dest`` is absolute; ``dest_raw`` is the
    expanded destination as written.
    """

    sources: tuple[CopySource, ...]
    contents: tuple[SourceContent, ...]
    dest: str
    dest_raw: str
    source_key: str | None = None
    source_stage: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None
    is_add: bool = False

    def key_data(self) -> tuple[Any, ...]:
        """Everything that defines the copy (the ``--from`` source enters as an input)."""
        return (
            tuple(s.key_data() for s in self.sources),
            tuple((c.path, c.data, c.expand) for c in self.contents),
            self.dest, self.dest_raw, self.chown, self.chmod, self.link, self.parents,
            self.exclude, self.checksum, self.keep_git_dir, self.unpack, self.is_add,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MkdirSpec:
    """WORKDIR's directory creation: ``path`` with parents, owned by ``user``."""

    path: str
    user: str = ""

    def key_data(self) -> tuple[Any, ...]:
        """The directory and its owner."""
        return (self.path, self.user)


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A config-only change: the instruction and its resolved values."""

    op: str
    values: tuple[str, ...] = ()

    def key_data(self) -> tuple[Any, ...]:
        """The instruction and its resolved values."""
        return (self.op, self.values)


StepSpec = SourceSpec | RunSpec | CopySpec | MkdirSpec | ConfigSpec


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _platform_data(platform: Platform | None) -> Any:
    if platform is None:
        return None
    return (
        platform.os,
        platform.architecture,
        platform.variant,
        platform.os_version,
        platform.os_features,
    )


def canonical(kind: StepKind, spec: StepSpec, platform: Platform | None) -> str:
    """The canonical JSON definition of a step: ``[kind, platform, spec fields]``."""
    return _ENCODER.encode((kind.value, _platform_data(platform), spec.key_data()))


def compute_key(definition: str, inputs: Sequence[str], content: str | None) -> str:
    """``sha256:`` over a definition, its input keys and the input content digest."""
    h = hashlib.sha256(definition.encode("utf-8", "surrogatepass"))
    for key in inputs:
        h.update(b"\x00")
        h.update(key.encode())
    if content is not None:
        h.update(b"\x00\x00")
        h.update(content.encode())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True, slots=True)
class Step:
    """One node of the build graph for one platform.

    - ``key``: the plan-time cache key (see the module docstring).
    - ``stage``: the stage's name (``build``, ``stage-0``, or the image
      reference of an implicit ``COPY --from=<image>`` source).
    - ``text``: the instruction as written (``RUN make``), for progress output.
    - ``platform``: where it executes: the stage's platform.
    - ``parent``: the previous step of the same stage (or of its base stage).
    - ``base``: the filesystem the step starts from (last filesystem step);
      None for sources.
    - ``inputs``: keys that enter this key, in order: for filesystem steps
      ``base`` and the ``--from``/mount sources, for config steps ``parent``.
    - ``spec``: the resolved fields (:class:`RunSpec`, :class:`CopySpec`, ...).
    - ``config``/``history``: image config after the step; the history entry it adds.
    - ``needs_content``: the key has a content placeholder the builder must
      complete (build context or remote sources); see :meth:`resolve_key`.
    - ``layer_key``: for ``COPY --link``, a key of the layer alone, which
      does not depend on ``base`` (the layer can be rebased).
    - ``used_vars``/``unset_vars``: variables looked up while expanding this
      step's words, set and unset (for the linter).
    """

    key: str
    kind: StepKind
    stage: str
    text: str
    location: SourceLocation | None
    platform: Platform
    parent: str | None
    base: str | None
    inputs: tuple[str, ...]
    spec: StepSpec
    config: ImageConfig
    history: HistoryEntry | None
    definition: str
    needs_content: bool = False
    layer_key: str | None = None
    no_cache: bool = False
    on_build: bool = False
    used_vars: frozenset[str] = frozenset()
    unset_vars: frozenset[str] = frozenset()

    def resolve_key(self, inputs: Sequence[str], content: str | None = None) -> str:
        """The final key, from the *final* keys of :attr:`inputs` and the content digest.

        ``content`` is required exactly when :attr:`needs_content` (the
        digest the builder computed over the context files or downloads this
        step reads); the result replaces the placeholder of :attr:`key`.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"step {self.key} has {len(self.inputs)} inputs, got {len(inputs)}")
        if self.needs_content and content is None:
            raise ValueError(f"step {self.key} ({self.text}) needs the digest of its content")
        return compute_key(self.definition, inputs, content if self.needs_content else None)
