"""The image config as a build changes it, step by step (BuildKit's ``dockerspec.DockerOCIImage``).

Every step of a plan carries the config *after* it, so the builder writes the
final image's config from the target stage's last step without replaying the
Dockerfile.  The fields and their rules are Docker's: ``Env`` keeps order and
replaces in place, ``ENTRYPOINT`` clears an inherited ``Cmd``, labels and
exposed ports accumulate over the base image's, history gets one entry per
instruction (``empty_layer`` for those that change only the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anyarch.dockerfile.commands import HealthConfig
from anyarch.plan.envlist import split_env
from anyarch.plan.options import HistoryEntry, ImageMeta

__all__ = [
    "DEFAULT_PATH_UNIX",
    "DEFAULT_PATH_WINDOWS",
    "ImageConfig",
    "default_path",
    "with_env",
]

DEFAULT_PATH_UNIX = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_PATH_WINDOWS = (
    "c:\\Windows\\System32;c:\\Windows;C:\\Windows\\System32\\WindowsPowerShell\\v1.0"
)


def default_path(os: str) -> str:
    """BuildKit's ``DefaultPathEnv``."""
    return DEFAULT_PATH_WINDOWS if os == "windows" else DEFAULT_PATH_UNIX


def with_env(env: tuple[str, ...], key: str, value: str) -> tuple[str, ...]:
    """``env`` with ``key`` set: replaced in place, or appended (BuildKit's ``addEnv``)."""
    prefix = key + "="
    for i, entry in enumerate(env):
        if entry.startswith(prefix) or entry == key:
            return (*env[:i], prefix + value, *env[i + 1 :])
    return (*env, prefix + value)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """An image config at one point of a build.  ``None`` lists mean "not set" (omitted in JSON)."""

    os: str = ""
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str = ""
    healthcheck: HealthConfig | None = None
    shell: tuple[str, ...] = ()
    on_build: tuple[str, ...] = ()
    args_escaped: bool = False
    author: str = ""
    history: tuple[HistoryEntry, ...] = field(default=(), repr=False)

    @classmethod
    def empty(cls, os: str) -> ImageConfig:
        """BuildKit's ``emptyImage``: what ``FROM scratch`` starts with."""
        env = () if os == "windows" else (f"PATH={default_path(os)}",)
        return cls(os=os, env=env, working_dir="/")

    @classmethod
    def from_meta(cls, meta: ImageMeta, os: str) -> ImageConfig:
        """The config a stage inherits from its base image."""
        return cls(
            os=meta.platform.os if meta.platform is not None and meta.platform.os else os,
            env=meta.env,
            cmd=meta.cmd,
            entrypoint=meta.entrypoint,
            working_dir=meta.working_dir,
            user=meta.user,
            exposed_ports=meta.exposed_ports,
            volumes=meta.volumes,
            labels=meta.labels,
            stop_signal=meta.stop_signal,
            healthcheck=meta.healthcheck,
            shell=meta.shell,
            on_build=meta.on_build,
            args_escaped=meta.args_escaped,
            author=meta.author,
            history=meta.history,
        )

    def evolve(self, **changes: Any) -> ImageConfig:
        """A copy with ``changes`` (a fast ``dataclasses.replace``; one per planned step)."""
        new = object.__new__(ImageConfig)
        for name, get, put in _CONFIG_SLOTS:
            put(new, changes[name] if name in changes else get(self))
        return new

    def env_value(self, key: str) -> str | None:
        """The value of ``key`` in ``env`` (first match, as Go's lookups)."""
        for entry in self.env:
            k, v = split_env(entry)
            if k == key:
                return v
        return None

    def labels_dict(self) -> dict[str, str]:
        """Labels as a dict."""
        return dict(self.labels)

    def to_json(self) -> dict[str, Any]:
        """The ``config`` object of an OCI image config, Docker's field names, empty fields omitted."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            h = self.healthcheck
            health: dict[str, Any] = {"Test": list(h.test)}
            for name, value in (
                ("Interval", h.interval),
                ("Timeout", h.timeout),
                ("StartPeriod", h.start_period),
                ("StartInterval", h.start_interval),
                ("Retries", h.retries),
            ):
                if value:
                    health[name] = value
            out["Healthcheck"] = health
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell:
            out["Shell"] = list(self.shell)
        return out


# (name, getter, setter) of each slot: the setters bypass the frozen __setattr__,
# which is what dataclasses do in __init__ too.
_CONFIG_SLOTS = tuple(
    (name, ImageConfig.__dict__[name].__get__, ImageConfig.__dict__[name].__set__)
    for name in ImageConfig.__dataclass_fields__
)
