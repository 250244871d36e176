"""``RUN --mount=...`` and ``RUN --device=...`` values, parsed as BuildKit parses them.

A mount is a CSV record of ``key=value`` fields (``type=cache,target=/root/.cache,
sharing=locked``).  The rules come from ``instructions/commands_runmount.go``:
five types (bind, cache, tmpfs, secret, ssh), aliases (``src``/``source``,
``dst``/``destination``/``target``, ``ro``/``readonly``, ``rw``/``readwrite``),
read-only by default except for cache and tmpfs, octal ``mode``, decimal
``uid``/``gid``, a tmpfs ``size`` in Docker's RAM units, and the per-type
checks (a secret has no ``from``, only caches share, ...).

BuildKit reads each mount twice: once without variable expansion, to learn
which stage ``from=`` names (which decides the stage graph), and once at
dispatch with the stage's variables.  :func:`parse_mount` does both: without
an ``expand`` function it reads values as written and leaves fields that
still hold a ``$`` reference unvalidated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from anyarch.dockerfile.suggest import suggest

__all__ = [
    "MOUNT_TYPES",
    "SHARING_MODES",
    "Device",
    "Mount",
    "MountError",
    "csv_fields",
    "go_parse_bool",
    "parse_device",
    "parse_mount",
    "ram_in_bytes",
]

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_ALL_KEYS = (
    "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size",
    "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env",
)  # fmt: skip
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_MAX_UINT32 = (1 << 32) - 1


class MountError(ValueError):
    """A mount or device value BuildKit refuses; ``hint`` says what would work."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def go_parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``; raises ValueError for anything else."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


def _parse_uint(value: str, base: int) -> int:
    """Go's ``strconv.ParseUint(value, base, 32)`` for the digits it accepts."""
    if not value or not all(c in "0123456789"[:base] or c == "_" for c in value):
        raise ValueError(value)
    if "_" in value:  # underscores are only allowed with a base prefix in Go
        raise ValueError(value)
    number = int(value, base)
    if number > _MAX_UINT32:
        raise ValueError(value)
    return number


def csv_fields(line: str) -> list[str]:
    """One CSV record split as Go's ``encoding/csv`` (via ``go-csvvalue``) splits it.

    Fields are separated by commas; a field that starts with ``"`` is quoted
    and ``""`` inside it is a quote; a quote anywhere else is an error.
    """
    if line.endswith("\r\n"):
        line = line[:-2]
    elif line.endswith("\n"):
        line = line[:-1]
    if not line:
        raise MountError("failed to parse csv mounts: EOF")
    fields: list[str] = []
    pos = 0
    n = len(line)
    while True:
        if pos >= n or line[pos] != '"':
            comma = line.find(",", pos)
            field = line[pos:] if comma < 0 else line[pos:comma]
            quote = field.find('"')
            if quote >= 0:
                raise MountError(
                    "failed to parse csv mounts: parse error on line 1, column "
                    f'{pos + quote + 1}: bare " in non-quoted-field',
                    'quote the whole field: "target=/a,b"',
                )
            fields.append(field)
            if comma < 0:
                return fields
            pos = comma + 1
            continue
        pos += 1
        parts: list[str] = []
        while True:
            end = line.find('"', pos)
            if end < 0:
                raise MountError(
                    f"failed to parse csv mounts: parse error on line 1, column {pos + 1}: "
                    'extraneous or missing " in quoted-field',
                    "close the quoted field with a double quote",
                )
            parts.append(line[pos:end])
            pos = end + 1
            if pos < n and line[pos] == '"':
                parts.append('"')
                pos += 1
                continue
            if pos < n and line[pos] == ",":
                fields.append("".join(parts))
                pos += 1
                break
            if pos >= n:
                fields.append("".join(parts))
                return fields
            raise MountError(
                f"failed to parse csv mounts: parse error on line 1, column {pos}: "
                'extraneous or missing " in quoted-field',
                "close the quoted field with a double quote",
            )


_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def ram_in_bytes(size: str) -> int:
    """docker/go-units ``RAMInBytes``: ``64m``, ``1.5GiB``, ``100 kb`` in binary units."""
    sep = max(size.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise ValueError(f"invalid size: '{size}'")
    if size[sep] != " ":
        number, suffix = size[: sep + 1], size[sep + 1 :]
    else:
        number, suffix = size[:sep], size[sep + 1 :]
    if not _FLOAT.fullmatch(number):
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    value = float(number)
    if value < 0:
        raise ValueError(f"invalid size: '{size}'")
    if not suffix:
        return int(value)
    lowered = suffix.lower()
    if len(lowered) <= 3:
        if lowered == "b":
            return int(value)
        multiplier = _SIZE_UNITS.get(lowered[0])
        if multiplier is not None and lowered[1:] in ("", "b", "ib"):
            return int(value * multiplier)
    raise ValueError(f"invalid suffix: '{lowered}'")


@dataclass(frozen=True, slots=True)
class Mount:
    """One ``--mount``: BuildKit's ``instructions.Mount``.

    ``readonly`` is already resolved (bind/secret/ssh default to read-only,
    cache/tmpfs to read-write).  ``mode``/``uid``/``gid`` are None when not
    given; ``env`` names the variable a secret is exposed as (None: a file).
    """

    type: str = "bind"
    from_: str = ""
    source: str = ""
    target: str = ""
    readonly: bool = True
    size_limit: int = 0
    cache_id: str = ""
    sharing: str = ""
    required: bool = False
    env: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


#: Fields whose value is converted (enum, bool, number): unchecked while unexpanded.
_CONVERTED = frozenset(
    {
        "type",
        "readonly",
        "ro",
        "readwrite",
        "rw",
        "required",
        "size",
        "sharing",
        "mode",
        "uid",
        "gid",
    }
)


class _MountBuilder:
    """Field-by-field state of one mount while its CSV fields are read."""

    __slots__ = ("kind", "readonly", "values")

    def __init__(self) -> None:
        self.kind = "bind"
        self.values: dict[str, object] = {}
        self.readonly: bool | None = None

    def flag(self, field: str, key: str) -> None:
        """A field without ``=``: ``ro``, ``rw`` or ``required``."""
        if key in ("readonly", "ro"):
            self.readonly = True
        elif key in ("readwrite", "rw"):
            self.readonly = False
        elif key == "required":
            if self.kind not in ("secret", "ssh"):
                raise MountError(f"unexpected key '{key}' for mount type '{self.kind}'")
            self.values["required"] = True
        else:
            raise MountError(
                f"invalid field '{field}' must be a key=value pair",
                "write options as key=value, e.g. type=cache,target=/root/.cache",
            )

    def _bool(self, key: str, value: str) -> bool:
        try:
            return go_parse_bool(value)
        except ValueError:
            raise MountError(f"invalid value for {key}: {value}") from None

    def _only_for(self, key: str, *kinds: str) -> None:
        if self.kind not in kinds:
            raise MountError(f"unexpected key '{key}' for mount type '{self.kind}'")

    def set(self, field: str, key: str, value: str) -> None:
        """A ``key=value`` field, value already expanded."""
        values = self.values
        if key == "type":
            lowered = value.lower()
            if lowered not in MOUNT_TYPES:
                match = suggest(value, MOUNT_TYPES)
                raise MountError(
                    f'unsupported mount type "{value}"'
                    + (f" (did you mean {match}?)" if match else ""),
                    "mount types: " + ", ".join(MOUNT_TYPES),
                )
            self.kind = lowered
        elif key == "from":
            values["from_"] = value
        elif key in ("source", "src"):
            values["source"] = value
        elif key in ("target", "dst", "destination"):
            values["target"] = value
        elif key in ("readonly", "ro"):
            self.readonly = self._bool(key, value)
        elif key in ("readwrite", "rw"):
            self.readonly = not self._bool(key, value)
        elif key == "required":
            self._only_for(key, "secret", "ssh")
            values["required"] = self._bool(key, value)
        elif key == "size":
            self._only_for(key, "tmpfs")
            try:
                values["size_limit"] = ram_in_bytes(value)
            except ValueError:
                raise MountError(f"invalid value for {key}: {value}") from None
        elif key == "id":
            values["cache_id"] = value
        elif key == "sharing":
            lowered = value.lower()
            if lowered not in SHARING_MODES:
                match = suggest(value, SHARING_MODES)
                raise MountError(
                    f'unsupported sharing value "{value}"'
                    + (f" (did you mean {match}?)" if match else ""),
                    "sharing modes: " + ", ".join(SHARING_MODES),
                )
            values["sharing"] = lowered
        elif key in ("mode", "uid", "gid"):
            try:
                values[key] = _parse_uint(value, 8 if key == "mode" else 10)
            except ValueError:
                raise MountError(f"invalid value {value} for {key}") from None
        elif key == "env":
            values["env"] = value
        else:
            match = suggest(key, _ALL_KEYS)
            raise MountError(
                f"unexpected key '{key}' in '{field}'"
                + (f" (did you mean {match}?)" if match else ""),
                "mount options: " + ", ".join(sorted(set(_ALL_KEYS))),
            )

    def build(self) -> Mount:
        readonly = self.readonly
        if readonly is None:
            readonly = self.kind not in ("cache", "tmpfs")
        return Mount(type=self.kind, readonly=readonly, **self.values)  # type: ignore[arg-type]


def parse_mount(spec: str, expand: Callable[[str], str] | None = None) -> Mount:
    """Parse one ``--mount`` value; raise :class:`MountError` with BuildKit's message.

    With ``expand`` (the stage's variable expander) every value is expanded
    and every rule checked: this is the parse whose errors count.  Without it
    the value is read as written, which is what BuildKit does before the
    stages are dispatched, to learn which stage ``from=`` names: the only
    error then is a variable in ``from``; a field that is invalid, or whose
    value still holds a ``$`` reference, is skipped and left to the expanded
    parse (so a broken mount in a stage the build never reaches is not an
    error, as in BuildKit).
    """
    fields = csv_fields(spec)
    builder = _MountBuilder()
    lenient = expand is None
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if expand is not None:
            value = expand(value)
        elif key == "from":
            dollar = value.find("$")
            if dollar != -1 and dollar != len(value) - 1:
                raise MountError(
                    f"'{key}' doesn't support variable expansion, define alias stage instead",
                    "add `FROM ${VAR} AS alias` and mount from=alias",
                )
        elif "$" in value and key in _CONVERTED:
            continue
        try:
            if has_value:
                builder.set(field, key, value)
            else:
                builder.flag(field, key)
        except MountError:
            if not lenient:
                raise
    mount = builder.build()
    try:
        _check(mount)
    except MountError:
        if not lenient:
            raise
    return mount


def _check(m: Mount) -> None:
    if m.type not in ("secret", "ssh", "cache"):
        for name in ("mode", "uid", "gid"):
            if getattr(m, name) is not None:
                raise MountError(f'{name} not allowed for "{m.type}" type mounts')
    if m.type == "secret":
        if m.from_:
            raise MountError("secret mount should not have a from")
        if m.sharing:
            raise MountError("secret mount should not define sharing")
        if not m.source and not m.target and not m.cache_id:
            raise MountError(
                "invalid secret mount. one of source, target required",
                "e.g. --mount=type=secret,id=npmrc,target=/root/.npmrc",
            )
        if m.source and m.cache_id:
            raise MountError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise MountError(f"invalid cache sharing set for {m.type} mount")


@dataclass(frozen=True, slots=True)
class Device:
    """One ``RUN --device``: a CDI device name and whether the build needs it."""

    name: str
    required: bool = False


def parse_device(spec: str) -> Device:
    """BuildKit's ``ParseDevice``: ``vendor.com/class=name[,required]``."""
    try:
        fields = csv_fields(spec)
    except MountError as err:
        raise MountError(err.message.replace("csv mounts", "csv devices"), err.hint) from None
    name = ""
    required = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key == "required":
                required = True
            elif not name:
                name = field
            else:
                raise MountError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "name":
            if name:
                raise MountError(f"device name already set to {name}")
            name = value
        elif key == "required":
            try:
                required = go_parse_bool(value)
            except ValueError:
                raise MountError(f"invalid value for {key}: {value}") from None
        elif not name:
            name = field
        else:
            match = suggest(key, ("name", "required"))
            raise MountError(
                f"unexpected key '{key}' in '{field}'"
                + (f" (did you mean {match}?)" if match else "")
            )
    return Device(name, required)
