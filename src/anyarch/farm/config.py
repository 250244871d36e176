"""Contexts and builders, persisted in ``$XDG_CONFIG_HOME/anyarch``.

A **context** names a machine: ``default`` is this one; others are reached
over SSH (``ssh://user@host[:port]``, docker's ``--docker host=…`` shape).  A
``unix://`` endpoint also means this machine: anyarch has no daemon, so the
socket path is only kept for docker compatibility.

A **builder** is an ordered list of **nodes**; each node is an endpoint (a
context name, or an endpoint URL given directly) and the platforms it is
*pinned* to (the user's word that this node is for them: the scheduler gives
them to it first).

Both live in small JSON files (``contexts.json``, ``builders.json``) that are
read and rewritten under one file lock and replaced atomically, so two
``anyarch`` processes never lose each other's changes and a crash never
leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from anyarch._util.fs import atomic_write_bytes
from anyarch._util.lock import file_lock
from anyarch.errors import (
    FarmError,
    InvalidInputError,
    InvalidPlatformError,
    NotFoundError,
    UsageError,
)
from anyarch.farm.scheduler import canonical

DEFAULT = "default"
LOCAL_ENDPOINT = "local"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_HOST_RE = re.compile(r"[A-Za-z0-9_.:%-]+")
_USER_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]*")
_FORMAT = 1

T = TypeVar("T")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/anyarch`` (``~/.config/anyarch`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "anyarch"


def canonical_platform(spec: str) -> str:
    """``linux/arm`` → ``linux/arm/v7``, ``arm64`` → ``linux/arm64``: one spelling to compare."""
    return canonical(spec)


def canonical_platforms(specs: Sequence[str]) -> tuple[str, ...]:
    """Canonical platforms, comma lists split, duplicates dropped, order kept."""
    out: dict[str, None] = {}
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                raise InvalidPlatformError(
                    f"invalid platform list {spec!r}: an entry is empty",
                    hint="separate platforms with single commas, e.g. linux/amd64,linux/arm64",
                )
            out.setdefault(canonical_platform(part), None)
    return tuple(out)


def check_name(name: str, what: str) -> str:
    """Names follow docker's context name rule; ``/`` and spaces never appear."""
    if not _NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"invalid {what} name {name!r}",
            hint="use letters, digits and '_.+-', starting with a letter or digit",
        )
    return name


# --- endpoints ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a node runs: this machine (``local``/``unix://…``) or an SSH destination."""

    url: str
    kind: str  # "local" | "ssh"
    host: str = ""
    user: str | None = None
    port: int | None = None

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def __str__(self) -> str:
        return self.url


def parse_endpoint(url: str) -> Endpoint:
    """Parse ``ssh://[user@]host[:port]``, ``unix:///path`` or ``local``."""
    url = url.strip()
    if url in (LOCAL_ENDPOINT, ""):
        return Endpoint(LOCAL_ENDPOINT, "local")
    hint = "use ssh://[user@]host[:port] for another machine, or unix:///path for this one"
    if url.startswith("unix://"):
        if not url[len("unix://") :].startswith("/"):
            raise InvalidInputError(
                f"invalid endpoint {url!r}: the socket path must be absolute", hint=hint
            )
        return Endpoint(url, "local")
    if url.startswith(("tcp://", "http://", "https://", "npipe://", "fd://")):
        raise InvalidInputError(
            f"endpoint {url!r} is not supported: anyarch has no daemon to connect to",
            hint="reach other machines over SSH: ssh://[user@]host[:port]",
        )
    if not url.startswith("ssh://"):
        raise InvalidInputError(f"invalid endpoint {url!r}", hint=hint)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidInputError(f"invalid endpoint {url!r}: {e}", hint=hint) from None
    host = parts.hostname or ""
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInputError(
            f"invalid endpoint {url!r}: an ssh endpoint has no path",
            hint="ssh://[user@]host[:port]",
        )
    if parts.password is not None:
        raise InvalidInputError(
            f"invalid endpoint {url!r}: passwords do not go in the URL",
            hint="use an SSH key or agent (anyarch runs ssh in batch mode)",
        )
    if not host or host.startswith("-") or not _HOST_RE.fullmatch(host):
        raise InvalidInputError(
            f"invalid endpoint {url!r}: no valid host", hint="ssh://[user@]host[:port]"
        )
    user = parts.username
    if user is not None and (not user or not _USER_RE.fullmatch(user)):
        raise InvalidInputError(
            f"invalid endpoint {url!r}: bad user name {user!r}", hint="ssh://[user@]host[:port]"
        )
    netloc = (f"{user}@" if user else "") + (f"[{host}]" if ":" in host else host)
    if port is not None:
        netloc += f":{port}"
    return Endpoint(f"ssh://{netloc}", "ssh", host=host, user=user, port=port)


def parse_docker_flag(value: str) -> Endpoint:
    """The value of ``--docker``: ``host=URL`` (docker's other keys are TLS-only)."""
    fields: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise InvalidInputError(
                f"invalid --docker value {value!r}", hint="write --docker host=ssh://user@host"
            )
        fields[key.strip()] = val.strip()
    unknown = sorted(set(fields) - {"host"})
    if unknown:
        raise InvalidInputError(
            f"--docker: unsupported key(s) {', '.join(unknown)}",
            hint="only host= is used: anyarch reaches nodes over SSH, with no TLS daemon",
        )
    if "host" not in fields:
        raise InvalidInputError("--docker needs host=…", hint="write --docker host=ssh://user@host")
    return parse_endpoint(fields["host"])


# --- values -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContextConfig:
    """A named endpoint."""

    name: str
    endpoint: Endpoint
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "endpoint": self.endpoint.url}


DEFAULT_CONTEXT = ContextConfig(DEFAULT, Endpoint(LOCAL_ENDPOINT, "local"), "The local machine")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One node of a builder: an endpoint (context name or URL) and its pinned platforms."""

    name: str
    endpoint: str
    platforms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "endpoint": self.endpoint, "platforms": list(self.platforms)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NodeConfig:
        return cls(
            str(d["name"]), str(d["endpoint"]), tuple(str(p) for p in d.get("platforms", ()))
        )


@dataclass(frozen=True, slots=True)
class BuilderConfig:
    """A named, ordered set of nodes."""

    name: str
    nodes: tuple[NodeConfig, ...] = field(default=())

    def node(self, name: str) -> NodeConfig | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [n.to_json() for n in self.nodes]}


DEFAULT_BUILDER = BuilderConfig(DEFAULT, (NodeConfig(DEFAULT, DEFAULT),))


# --- the store ---------------------------------------------------------------------


class FarmConfig:
    """Read and change the persisted contexts and builders under one directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else config_dir()

    @property
    def contexts_path(self) -> Path:
        return self.root / "contexts.json"

    @property
    def builders_path(self) -> Path:
        return self.root / "builders.json"

    # -- file plumbing --

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise FarmError(
                f"cannot read {path}: {e.strerror}", hint="check its permissions"
            ) from None
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise FarmError(
                f"{path} is not valid JSON ({e})",
                hint="fix or remove the file (it holds anyarch's contexts/builders)",
            ) from None
        if not isinstance(doc, dict):
            raise FarmError(f"{path} is not a JSON object", hint="fix or remove the file")
        return doc

    def _write(self, path: Path, doc: dict[str, Any]) -> None:
        doc = {"version": _FORMAT, **{k: v for k, v in doc.items() if k != "version"}}
        atomic_write_bytes(
            path, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode(), mode=0o600
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with file_lock(self.root / ".lock"):
            yield

    def _update(self, path: Path, change: Callable[[dict[str, Any]], T]) -> T:
        with self._locked():
            doc = self._read(path)
            out = change(doc)
            self._write(path, doc)
            return out

    # -- contexts --

    def _contexts(self, doc: Mapping[str, Any]) -> dict[str, ContextConfig]:
        out = {DEFAULT: DEFAULT_CONTEXT}
        raw = doc.get("contexts", {})
        if not isinstance(raw, dict):
            raise FarmError(
                f"{self.contexts_path}: 'contexts' is not an object", hint="fix or remove the file"
            )
        for name, d in raw.items():
            try:
                out[name] = ContextConfig(
                    name, parse_endpoint(str(d["endpoint"])), str(d.get("description", ""))
                )
            except (KeyError, TypeError, InvalidInputError) as e:
                raise FarmError(
                    f"{self.contexts_path}: context {name!r} is malformed ({e})",
                    hint=f"anyarch context rm {name}, then create it again",
                ) from None
        return out

    def contexts(self) -> list[ContextConfig]:
        """Every context, ``default`` first, then by name."""
        ctxs = self._contexts(self._read(self.contexts_path))
        return [
            ctxs[DEFAULT],
            *sorted((c for n, c in ctxs.items() if n != DEFAULT), key=lambda c: c.name),
        ]

    def context(self, name: str) -> ContextConfig:
        ctxs = self._contexts(self._read(self.contexts_path))
        if name not in ctxs:
            raise NotFoundError(
                f"context {name!r} does not exist",
                hint="'anyarch context ls' lists them; 'anyarch context create' makes one",
            )
        return ctxs[name]

    def current_context(self) -> str:
        name = self._read(self.contexts_path).get("current")
        return name if isinstance(name, str) and name else DEFAULT

    def create_context(self, name: str, endpoint: Endpoint, description: str = "") -> ContextConfig:
        check_name(name, "context")
        if name == DEFAULT:
            raise InvalidInputError(
                "'default' is reserved for the local machine", hint="choose another name"
            )
        ctx = ContextConfig(name, endpoint, description)

        def change(doc: dict[str, Any]) -> None:
            contexts = doc.setdefault("contexts", {})
            if name in contexts:
                raise InvalidInputError(
                    f"context {name!r} already exists",
                    hint=f"'anyarch context rm {name}' first, or pick another name",
                )
            contexts[name] = ctx.to_json()

        self._update(self.contexts_path, change)
        return ctx

    def use_context(self, name: str) -> None:
        self.context(name)

        def change(doc: dict[str, Any]) -> None:
            if name == DEFAULT:
                doc.pop("current", None)
            else:
                doc["current"] = name

        self._update(self.contexts_path, change)

    def remove_context(self, name: str, *, force: bool = False) -> None:
        """Remove a context; refused while a builder uses it unless ``force``."""
        if name == DEFAULT:
            raise InvalidInputError(
                "the default context cannot be removed", hint="it is the local machine"
            )
        self.context(name)
        users = [
            f"{b.name}/{n.name}" for b in self.builders() for n in b.nodes if n.endpoint == name
        ]
        if users and not force:
            raise InvalidInputError(
                f"context {name!r} is used by builder node(s) {', '.join(users)}",
                hint="remove those nodes ('anyarch builder create --leave') or pass --force",
            )

        def change(doc: dict[str, Any]) -> None:
            doc.get("contexts", {}).pop(name, None)
            if doc.get("current") == name:
                doc.pop("current", None)

        self._update(self.contexts_path, change)

    def endpoint_of(self, node: NodeConfig) -> Endpoint:
        """A node's endpoint: a URL it was given, or its context's."""
        if "://" in node.endpoint or node.endpoint == LOCAL_ENDPOINT:
            return parse_endpoint(node.endpoint)
        try:
            return self.context(node.endpoint).endpoint
        except NotFoundError:
            raise FarmError(
                f"node {node.name}: its context {node.endpoint!r} no longer exists",
                hint=f"recreate the context, or remove the node with 'anyarch builder create --leave --node {node.name}'",
            ) from None

    # -- builders --

    def _builders(self, doc: Mapping[str, Any]) -> dict[str, BuilderConfig]:
        raw = doc.get("builders", {})
        if not isinstance(raw, dict):
            raise FarmError(
                f"{self.builders_path}: 'builders' is not an object", hint="fix or remove the file"
            )
        out: dict[str, BuilderConfig] = {}
        for name, d in raw.items():
            try:
                out[name] = BuilderConfig(name, tuple(NodeConfig.from_json(n) for n in d["nodes"]))
            except (KeyError, TypeError) as e:
                raise FarmError(
                    f"{self.builders_path}: builder {name!r} is malformed ({e})",
                    hint=f"anyarch builder rm {name}, then create it again",
                ) from None
        return out

    def builders(self) -> list[BuilderConfig]:
        """Every builder, by name (``default``, the local machine, is not stored)."""
        return sorted(self._builders(self._read(self.builders_path)).values(), key=lambda b: b.name)

    def builder(self, name: str) -> BuilderConfig:
        if name == DEFAULT:
            return DEFAULT_BUILDER
        found = self._builders(self._read(self.builders_path)).get(name)
        if found is None:
            raise NotFoundError(
                f"builder {name!r} does not exist",
                hint="'anyarch builder ls' lists them; 'anyarch builder create --name NAME CONTEXT' makes one",
            )
        return found

    def current_builder(self) -> str:
        name = self._read(self.builders_path).get("current")
        return name if isinstance(name, str) and name else DEFAULT

    def _check_endpoint(self, endpoint: str) -> str:
        if "://" in endpoint or endpoint == LOCAL_ENDPOINT:
            return parse_endpoint(endpoint).url
        self.context(endpoint)
        return endpoint

    def add_node(
        self,
        builder: str | None,
        endpoint: str,
        *,
        node: str | None = None,
        platforms: Sequence[str] = (),
        append: bool = False,
        use: bool = False,
    ) -> tuple[BuilderConfig, NodeConfig]:
        """``builder create [--append]``: a new builder, or a node added to/updated in one."""
        if builder is not None:
            check_name(builder, "builder")
            if builder == DEFAULT:
                raise InvalidInputError(
                    "'default' is the built-in local builder", hint="choose another name"
                )
        if node is not None:
            check_name(node, "node")
        endpoint = self._check_endpoint(endpoint)
        pins = canonical_platforms(platforms)
        if append and builder is None:
            raise UsageError(
                "--append needs --name BUILDER", hint="name the builder to add the node to"
            )

        def change(doc: dict[str, Any]) -> tuple[BuilderConfig, NodeConfig]:
            builders = self._builders(doc)
            name = builder or _next_name(builders)
            existing = builders.get(name)
            if append:
                if existing is None:
                    raise NotFoundError(
                        f"builder {name!r} does not exist",
                        hint=f"create it first: anyarch builder create --name {name} CONTEXT",
                    )
                nodes = list(existing.nodes)
                old = existing.node(node) if node else None
                if old is not None:
                    new = replace(old, endpoint=endpoint, platforms=pins or old.platforms)
                    nodes[nodes.index(old)] = new
                else:
                    new = NodeConfig(node or _next_node_name(existing), endpoint, pins)
                    nodes.append(new)
                result = BuilderConfig(name, tuple(nodes))
            else:
                if existing is not None:
                    raise InvalidInputError(
                        f"builder {name!r} already exists",
                        hint=f"add a node with --append, or 'anyarch builder rm {name}' first",
                    )
                new = NodeConfig(node or f"{name}0", endpoint, pins)
                result = BuilderConfig(name, (new,))
            doc.setdefault("builders", {})[name] = result.to_json()
            if use:
                doc["current"] = name
            return result, new

        return self._update(self.builders_path, change)

    def remove_node(self, builder: str, node: str) -> BuilderConfig | None:
        """``builder create --leave``: drop a node; the builder goes with its last node."""

        def change(doc: dict[str, Any]) -> BuilderConfig | None:
            builders = self._builders(doc)
            b = builders.get(builder)
            if b is None:
                raise NotFoundError(
                    f"builder {builder!r} does not exist", hint="'anyarch builder ls' lists them"
                )
            if b.node(node) is None:
                raise NotFoundError(
                    f"builder {builder!r} has no node {node!r}",
                    hint="nodes: " + ", ".join(n.name for n in b.nodes),
                )
            rest = tuple(n for n in b.nodes if n.name != node)
            if not rest:
                doc["builders"].pop(builder)
                if doc.get("current") == builder:
                    doc.pop("current", None)
                return None
            result = BuilderConfig(builder, rest)
            doc["builders"][builder] = result.to_json()
            return result

        return self._update(self.builders_path, change)

    def use_builder(self, name: str) -> None:
        self.builder(name)

        def change(doc: dict[str, Any]) -> None:
            if name == DEFAULT:
                doc.pop("current", None)
            else:
                doc["current"] = name

        self._update(self.builders_path, change)

    def remove_builder(self, name: str) -> None:
        if name == DEFAULT:
            raise InvalidInputError(
                "the default builder cannot be removed", hint="it is the local machine"
            )

        def change(doc: dict[str, Any]) -> None:
            if name not in doc.get("builders", {}):
                raise NotFoundError(
                    f"builder {name!r} does not exist", hint="'anyarch builder ls' lists them"
                )
            doc["builders"].pop(name)
            if doc.get("current") == name:
                doc.pop("current", None)

        self._update(self.builders_path, change)


def _next_name(builders: Mapping[str, BuilderConfig]) -> str:
    n = 0
    while f"builder{n}" in builders:
        n += 1
    return f"builder{n}"


def _next_node_name(b: BuilderConfig) -> str:
    names = {n.name for n in b.nodes}
    n = len(b.nodes)
    while f"{b.name}{n}" in names:
        n += 1
    return f"{b.name}{n}"
