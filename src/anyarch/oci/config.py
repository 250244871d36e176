"""Image configurations: the platform, runtime defaults, layer diff IDs and history of an image.

Every field of image-spec ``config.md`` is modelled, plus the Docker
extensions builders rely on (``Healthcheck``, ``OnBuild``, ``Shell``, ``Memory``
…).  Everything else — Docker's ``container_config``, ``Hostname``, fields not
invented yet — is kept in ``extra``, and each record re-encodes the members it
models in their original form (``null`` stays ``null``), so reading a config
and writing it back with one change loses nothing but the change.

:class:`ImageConfig` follows the manifest pattern: it is parsed from ``raw``
(``digest`` is the sha256 of those bytes), :meth:`ImageConfig.build` writes a
new one, :meth:`ImageConfig.evolve` derives a changed copy; both emit canonical
JSON checked by :mod:`anyarch.oci.validate`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from anyarch._util import canonjson
from anyarch.errors import InvalidDocumentError, InvalidInputError
from anyarch.oci import mediatype, validate
from anyarch.oci._faithful import (
    Spec,
    as_dict,
    as_list,
    as_set,
    decode,
    encode,
    is_empty,
    is_none,
    read_bool,
    read_int,
    read_set,
    read_str,
    read_str_map,
    read_strs,
    read_strs_or_none,
    same,
)
from anyarch.oci._frozen import FrozenMap, freeze
from anyarch.oci._jsonread import Fields, fail, load_object
from anyarch.oci.descriptor import Descriptor
from anyarch.oci.digest import Digest
from anyarch.oci.platform import Platform

__all__ = ["ContainerConfig", "HealthCheck", "History", "ImageConfig", "RootFS", "created_at"]

_WHAT = "image config"
_R = TypeVar("_R")


def _never(_: Any) -> bool:
    return False


def _frozen(m: Mapping[str, Any]) -> FrozenMap[Any]:
    """``m`` frozen all the way down, so a record's ``extra`` cannot change behind its back."""
    frozen: FrozenMap[Any] = freeze(m)
    return frozen


def _tuple(v: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return v if v is None or isinstance(v, tuple) else tuple(v)


# --- HealthCheck ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Docker's ``Healthcheck`` (durations in nanoseconds, as Docker stores them)."""

    test: tuple[str, ...] | None = None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None
    extra: Mapping[str, Any] = field(default_factory=FrozenMap)
    _orig: Mapping[str, Any] = field(default_factory=FrozenMap, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", _tuple(self.test))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_json(self) -> dict[str, Any]:
        return encode(_values(self, _HEALTH), _HEALTH, self._orig, self.extra, _WHAT)


_HEALTH = (
    Spec("test", "Test", read_strs_or_none, as_list, is_none),
    Spec("interval", "Interval", read_int, same, is_none),
    Spec("timeout", "Timeout", read_int, same, is_none),
    Spec("start_period", "StartPeriod", read_int, same, is_none),
    Spec("start_interval", "StartInterval", read_int, same, is_none),
    Spec("retries", "Retries", read_int, same, is_none),
)


def _read_health(f: Fields, key: str) -> HealthCheck | None:
    child = f.child(key)
    return None if child is None else _record(HealthCheck, child, _HEALTH)


# --- ContainerConfig --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """The ``config`` object: how a container of the image runs by default.

    ``None`` means "not set"; for ``entrypoint``/``cmd``/``shell``/``on_build``
    an empty tuple is an explicit empty list, which Docker treats differently.
    ``exposed_ports`` and ``volumes`` are the keys of Docker's string sets.
    """

    user: str | None = None
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str | None = None
    labels: Mapping[str, str] = field(default_factory=FrozenMap)
    stop_signal: str | None = None
    args_escaped: bool | None = None
    memory: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    healthcheck: HealthCheck | None = None
    on_build: tuple[str, ...] | None = None
    shell: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=FrozenMap)
    _orig: Mapping[str, Any] = field(default_factory=FrozenMap, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("exposed_ports", "env", "volumes", "entrypoint", "cmd", "on_build", "shell"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "extra", _frozen(self.extra))

    @property
    def env_map(self) -> dict[str, str]:
        """``env`` as a mapping (later entries win, entries without ``=`` map to "")."""
        out: dict[str, str] = {}
        for entry in self.env:
            name, _, value = entry.partition("=")
            out[name] = value
        return out

    def to_json(self) -> dict[str, Any]:
        return encode(_values(self, _CONTAINER), _CONTAINER, self._orig, self.extra, _WHAT)


def _write_health(h: HealthCheck) -> dict[str, Any]:
    return h.to_json()


_CONTAINER = (
    Spec("user", "User", read_str, same, is_none),
    Spec("exposed_ports", "ExposedPorts", read_set, as_set, is_empty),
    Spec("env", "Env", read_strs, as_list, is_empty),
    Spec("entrypoint", "Entrypoint", read_strs_or_none, as_list, is_none),
    Spec("cmd", "Cmd", read_strs_or_none, as_list, is_none),
    Spec("volumes", "Volumes", read_set, as_set, is_empty),
    Spec("working_dir", "WorkingDir", read_str, same, is_none),
    Spec("labels", "Labels", read_str_map, as_dict, is_empty),
    Spec("stop_signal", "StopSignal", read_str, same, is_none),
    Spec("args_escaped", "ArgsEscaped", read_bool, same, is_none),
    Spec("memory", "Memory", read_int, same, is_none),
    Spec("memory_swap", "MemorySwap", read_int, same, is_none),
    Spec("cpu_shares", "CpuShares", read_int, same, is_none),
    Spec("healthcheck", "Healthcheck", _read_health, _write_health, is_none),
    Spec("on_build", "OnBuild", read_strs_or_none, as_list, is_none),
    Spec("shell", "Shell", read_strs_or_none, as_list, is_none),
)


def _read_container(f: Fields, key: str) -> ContainerConfig:
    child = f.child(key)
    return ContainerConfig() if child is None else _record(ContainerConfig, child, _CONTAINER)


def _write_container(c: ContainerConfig) -> dict[str, Any]:
    return c.to_json()


def _container_unset(c: ContainerConfig) -> bool:
    return c == ContainerConfig()


# --- RootFS -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootFS:
    """``rootfs``: the uncompressed digests (diff IDs) of the layers, bottom first."""

    diff_ids: tuple[Digest, ...] = ()
    type: str = "layers"
    extra: Mapping[str, Any] = field(default_factory=FrozenMap)
    _orig: Mapping[str, Any] = field(default_factory=FrozenMap, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "diff_ids", tuple(self.diff_ids))
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_json(self) -> dict[str, Any]:
        return encode(_values(self, _ROOTFS), _ROOTFS, self._orig, self.extra, _WHAT)


def _read_diff_ids(f: Fields, key: str) -> tuple[Digest, ...]:
    ids = f.opt_str_list(key)
    if ids is None:
        f.missing(key)
    out: list[Digest] = []
    for i, s in enumerate(ids):
        try:
            out.append(Digest.parse(s))
        except InvalidInputError as e:
            fail(_WHAT, f"{f.where(key)}[{i}]: {e.message}", e.hint or "")
    return tuple(out)


def _write_digests(ids: Sequence[Digest]) -> list[str]:
    return [str(d) for d in ids]


def _read_type(f: Fields, key: str) -> str:
    return f.req_str(key)


_ROOTFS = (
    Spec("type", "type", _read_type, same, _never),
    Spec("diff_ids", "diff_ids", _read_diff_ids, _write_digests, _never),
)


def _read_rootfs(f: Fields, key: str) -> RootFS:
    child = f.child(key)
    if child is None:
        f.missing(key)
    return _record(RootFS, child, _ROOTFS)


def _write_rootfs(r: RootFS) -> dict[str, Any]:
    return r.to_json()


# --- History ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """One ``history`` entry: what created a layer (or an empty, metadata-only step)."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False
    extra: Mapping[str, Any] = field(default_factory=FrozenMap)
    _orig: Mapping[str, Any] = field(default_factory=FrozenMap, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", _frozen(self.extra))

    def to_json(self) -> dict[str, Any]:
        return encode(_values(self, _HISTORY), _HISTORY, self._orig, self.extra, _WHAT)


def _read_flag(f: Fields, key: str) -> bool:
    return bool(f.opt_bool(key))


def _not_set(v: bool) -> bool:
    return not v


_HISTORY = (
    Spec("created", "created", read_str, same, is_none),
    Spec("created_by", "created_by", read_str, same, is_none),
    Spec("author", "author", read_str, same, is_none),
    Spec("comment", "comment", read_str, same, is_none),
    Spec("empty_layer", "empty_layer", _read_flag, same, _not_set),
)


def _read_history(f: Fields, key: str) -> tuple[History, ...]:
    items = f.opt_list(key) or []
    out: list[History] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            fail(_WHAT, f"{f.where(key)}[{i}] must be an object")
        out.append(_record(History, Fields(item, _WHAT, f"{f.where(key)}[{i}]"), _HISTORY))
    return tuple(out)


def _write_history(h: Sequence[History]) -> list[dict[str, Any]]:
    return [e.to_json() for e in h]


# --- shared record plumbing -------------------------------------------------


def _values(rec: Any, specs: Sequence[Spec]) -> dict[str, Any]:
    return {s.attr: getattr(rec, s.attr) for s in specs}


def _record(cls: Callable[..., _R], f: Fields, specs: Sequence[Spec]) -> _R:
    values, orig, extra = decode(f, specs)
    return cls(**values, extra=extra, _orig=orig)


def _read_required_str(f: Fields, key: str) -> str:
    return f.req_str(key)


def _read_strs_tuple(f: Fields, key: str) -> tuple[str, ...]:
    return f.opt_str_list(key) or ()


_TOP = (
    Spec("created", "created", read_str, same, is_none),
    Spec("author", "author", read_str, same, is_none),
    Spec("architecture", "architecture", _read_required_str, same, _never),
    Spec("os", "os", _read_required_str, same, _never),
    Spec("os_version", "os.version", read_str, same, is_none),
    Spec("os_features", "os.features", _read_strs_tuple, as_list, is_empty),
    Spec("variant", "variant", read_str, same, is_none),
    Spec("config", "config", _read_container, _write_container, _container_unset),
    Spec("rootfs", "rootfs", _read_rootfs, _write_rootfs, _never),
    Spec("history", "history", _read_history, _write_history, is_empty),
)
_FIELDS = frozenset(s.attr for s in _TOP) | {"extra"}


# --- ImageConfig ------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class ImageConfig:
    """An image configuration: ``raw`` bytes and the fields parsed from them.

    Construct with :meth:`from_bytes` (or ``ImageConfig(raw)``), :meth:`build`
    or :meth:`evolve`.  Two configs are equal when their bytes are.
    """

    raw: bytes = field(repr=False)
    created: str | None = field(init=False, repr=False)
    author: str | None = field(init=False, repr=False)
    architecture: str = field(init=False)
    os: str = field(init=False)
    os_version: str | None = field(init=False, repr=False)
    os_features: tuple[str, ...] = field(init=False, repr=False)
    variant: str | None = field(init=False)
    config: ContainerConfig = field(init=False, repr=False)
    rootfs: RootFS = field(init=False, repr=False)
    history: tuple[History, ...] = field(init=False, repr=False)
    extra: Mapping[str, Any] = field(init=False, repr=False)
    digest: Digest = field(init=False)
    _orig: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        raw = self.raw
        if isinstance(raw, bytearray | memoryview):
            raw = bytes(raw)
        f = Fields(load_object(raw, _WHAT), _WHAT)
        values, orig, extra = decode(f, _TOP)
        values.update(raw=raw, extra=extra, digest=Digest.of(raw), _orig=orig)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_bytes(cls, raw: bytes) -> ImageConfig:
        """Parse and check ``raw``."""
        return cls(raw)

    @classmethod
    def build(
        cls,
        *,
        architecture: str,
        os: str,
        diff_ids: Sequence[Digest] = (),
        config: ContainerConfig | None = None,
        history: Sequence[History] = (),
        created: str | None = None,
        author: str | None = None,
        variant: str | None = None,
        os_version: str | None = None,
        os_features: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> ImageConfig:
        """A new config in canonical JSON that image-spec's validator accepts.

        ``created`` and history timestamps are RFC 3339 strings (see
        :func:`created_at`).  Raises :class:`InvalidDocumentError` when the
        result would be invalid, e.g. an ``env`` entry that is not ``NAME=value``.
        """
        values: dict[str, Any] = {
            "created": created,
            "author": author,
            "architecture": architecture,
            "os": os,
            "os_version": os_version,
            "os_features": tuple(os_features),
            "variant": variant,
            "config": config or ContainerConfig(),
            "rootfs": RootFS(tuple(diff_ids)),
            "history": tuple(history),
        }
        return _emit(values, FrozenMap(), FrozenMap(extra or {}))

    def evolve(self, **changes: Any) -> ImageConfig:
        """A copy with ``changes`` (attribute names; ``diff_ids=`` sets ``rootfs.diff_ids``).

        Unchanged members, modelled or not, keep their original JSON form.
        """
        values = _values(self, _TOP)
        extra = changes.pop("extra", self.extra)
        if "diff_ids" in changes:
            values["rootfs"] = RootFS(
                tuple(changes.pop("diff_ids")),
                self.rootfs.type,
                self.rootfs.extra,
                self.rootfs._orig,
            )
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise TypeError(f"ImageConfig has no field(s) {', '.join(unknown)}")
        for name in ("os_features", "history"):
            if name in changes:
                changes[name] = tuple(changes[name])
        values.update(changes)
        return _emit(values, self._orig, FrozenMap(extra))

    @property
    def size(self) -> int:
        """Length of ``raw``: the size the manifest's config descriptor states."""
        return len(self.raw)

    @property
    def platform(self) -> Platform:
        """The platform the image is for, from ``os``/``architecture``/``variant``/``os.*``."""
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant or "",
            os_version=self.os_version or "",
            os_features=self.os_features,
        )

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        """``rootfs.diff_ids``."""
        return self.rootfs.diff_ids

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON object equal to what ``raw`` holds."""
        return encode(_values(self, _TOP), _TOP, self._orig, self.extra, _WHAT)

    def descriptor(self, media_type: str = mediatype.OCI_CONFIG) -> Descriptor:
        """A descriptor for the manifest's ``config`` (Docker manifests use DOCKER_CONFIG)."""
        if not mediatype.is_config(media_type):
            raise InvalidDocumentError(
                f"{media_type!r} is not an image config media type",
                hint=f"use {mediatype.OCI_CONFIG} or {mediatype.DOCKER_CONFIG}",
            )
        return Descriptor(mediatype.essence(media_type), self.digest, self.size)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageConfig):
            return self.raw == other.raw
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest)


def _emit(
    values: Mapping[str, Any], orig: Mapping[str, Any], extra: Mapping[str, Any]
) -> ImageConfig:
    doc = encode(values, _TOP, orig, extra, _WHAT)
    raw = canonjson.dumps(doc)
    validate.validate(raw, mediatype.OCI_CONFIG, what=_WHAT)
    return ImageConfig(raw)


def created_at(epoch_seconds: int | float) -> str:
    """An RFC 3339 UTC timestamp for ``created`` fields (e.g. from ``SOURCE_DATE_EPOCH``)."""
    t = _dt.datetime.fromtimestamp(epoch_seconds, tz=_dt.UTC)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
