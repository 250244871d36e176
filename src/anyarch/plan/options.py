"""What the planner is given: build options and the metadata of base images.

The planner is pure, so everything it would otherwise fetch comes in as
values.  :class:`PlanOptions` mirrors the ``docker build`` options that change
a plan (``--platform``, ``--build-arg``, ``--target``, ``--label``,
``--no-cache``).  :class:`ImageMeta` is the part of a base image's config a
Dockerfile build reads (env, working dir, user, shell, ONBUILD triggers, ...),
keyed by :class:`ImageKey` -- the normalised reference and the platform it
was resolved for, because ``FROM golang`` on ``linux/arm64`` is a different
image than on ``linux/amd64``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from anyarch.dockerfile.commands import HealthConfig
from anyarch.oci.platform import Platform, normalize

__all__ = [
    "HistoryEntry",
    "ImageKey",
    "ImageMeta",
    "MissingImageError",
    "PlanOptions",
]

HISTORY_COMMENT = "buildkit.dockerfile.v0"


class ImageKey(NamedTuple):
    """A base image as the planner needs it: normalised reference and platform."""

    ref: str
    platform: Platform

    def __str__(self) -> str:
        return f"{self.ref} ({self.platform})"


class MissingImageError(LookupError):
    """The builder called :func:`build_plan` without the metadata of a required image.

    A bug in the caller, not in the Dockerfile: call
    :func:`~anyarch.plan.required_images` first and resolve what it lists.
    """


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of an image's ``history``, as BuildKit writes it."""

    created_by: str
    empty_layer: bool = False
    comment: str = HISTORY_COMMENT

    def to_json(self) -> dict[str, Any]:
        """The OCI history object (without ``created``, which the builder stamps)."""
        out: dict[str, Any] = {"created_by": self.created_by, "comment": self.comment}
        if self.empty_layer:
            out["empty_layer"] = True
        return out


def _strings(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class ImageMeta:
    """The config of a resolved base image, as far as a Dockerfile build reads it.

    ``digest`` pins the content (the manifest digest); it is what the cache
    key of a ``FROM`` depends on.  ``has_layers`` false means an image without
    filesystem layers, which BuildKit treats as ``scratch`` while keeping its
    config.  ``platform`` is the image's own os/architecture/variant.
    """

    digest: str
    platform: Platform | None = None
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    shell: tuple[str, ...] = ()
    on_build: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    healthcheck: HealthConfig | None = None
    stop_signal: str = ""
    args_escaped: bool = False
    author: str = ""
    history: tuple[HistoryEntry, ...] = ()
    has_layers: bool = True

    @classmethod
    def from_config(cls, digest: str, config: Mapping[str, Any]) -> ImageMeta:
        """Read an OCI/Docker image config document (already decoded JSON)."""
        inner: Mapping[str, Any] = config.get("config") or {}
        platform = None
        if config.get("os") or config.get("architecture"):
            platform = Platform(
                os=str(config.get("os") or ""),
                architecture=str(config.get("architecture") or ""),
                variant=str(config.get("variant") or ""),
                os_version=str(config.get("os.version") or ""),
            )
        health = inner.get("Healthcheck")
        healthcheck = None
        if isinstance(health, Mapping) and health.get("Test"):
            healthcheck = HealthConfig(
                _strings(health.get("Test")),
                int(health.get("Interval") or 0),
                int(health.get("Timeout") or 0),
                int(health.get("StartPeriod") or 0),
                int(health.get("StartInterval") or 0),
                int(health.get("Retries") or 0),
            )
        rootfs = config.get("rootfs") or {}
        history = tuple(
            HistoryEntry(
                str(h.get("created_by") or ""),
                bool(h.get("empty_layer")),
                str(h.get("comment") or ""),
            )
            for h in config.get("history") or ()
        )
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
        has_layers = bool(diff_ids) or any(not h.empty_layer for h in history)
        entrypoint = inner.get("Entrypoint")
        cmd = inner.get("Cmd")
        return cls(
            digest=digest,
            platform=platform,
            env=_strings(inner.get("Env")),
            user=str(inner.get("User") or ""),
            working_dir=str(inner.get("WorkingDir") or ""),
            shell=_strings(inner.get("Shell")),
            on_build=_strings(inner.get("OnBuild")),
            entrypoint=None if entrypoint is None else _strings(entrypoint),
            cmd=None if cmd is None else _strings(cmd),
            labels=tuple(sorted((inner.get("Labels") or {}).items())),
            exposed_ports=tuple(sorted(inner.get("ExposedPorts") or {})),
            volumes=tuple(sorted(inner.get("Volumes") or {})),
            healthcheck=healthcheck,
            stop_signal=str(inner.get("StopSignal") or ""),
            args_escaped=bool(inner.get("ArgsEscaped")),
            author=str(config.get("author") or ""),
            history=history,
            has_layers=has_layers,
        )


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """The ``docker build`` options that shape a plan.

    - ``platforms``: the target platforms, one plan each (normalised here).
    - ``build_platform``: the platform the build runs on (``BUILDPLATFORM``).
      The planner cannot look at the host itself; the builder passes
      :func:`anyarch.oci.platform.host_platform`.  When None, the first
      target platform is used -- what BuildKit does when a client gives
      targets but no workers.
    - ``build_args``: ``--build-arg`` values; they override ARG defaults and
      the automatic platform args.  ``http_proxy`` and friends reach RUN
      without entering cache keys, as in BuildKit.
    - ``target``: ``--target`` stage name (case-insensitive), or None for the last stage.
    - ``labels``: ``--label`` values, added to the final image only.
    - ``no_cache`` / ``no_cache_filter``: mark every step, or the steps of the
      named stages, as not to be served from cache (the keys do not change).
    - ``cache_id_namespace``: prefix of cache-mount ids (BuildKit's ``BUILDKIT_CACHE_MOUNT_NS``).
    """

    platforms: tuple[Platform, ...]
    build_platform: Platform | None = None
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    no_cache: bool = False
    no_cache_filter: frozenset[str] = frozenset()
    cache_id_namespace: str = ""

    def __post_init__(self) -> None:
        platforms = tuple(normalize(p) for p in _as_tuple(self.platforms))
        if not platforms:
            if self.build_platform is None:
                raise ValueError("PlanOptions needs at least one target platform")
            platforms = (normalize(self.build_platform),)
        object.__setattr__(self, "platforms", tuple(dict.fromkeys(platforms)))
        if self.build_platform is not None:
            object.__setattr__(self, "build_platform", normalize(self.build_platform))
        object.__setattr__(self, "build_args", _frozen_mapping(self.build_args))
        object.__setattr__(self, "labels", _frozen_mapping(self.labels))
        object.__setattr__(
            self, "no_cache_filter", frozenset(s.lower() for s in self.no_cache_filter)
        )

    @property
    def effective_build_platform(self) -> Platform:
        """``build_platform``, or the first target when none was given."""
        return self.build_platform if self.build_platform is not None else self.platforms[0]


def _as_tuple(platforms: Iterable[Platform] | Platform) -> tuple[Platform, ...]:
    if isinstance(platforms, Platform):
        return (platforms,)
    return tuple(platforms)
