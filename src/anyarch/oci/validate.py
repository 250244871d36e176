"""Validation that refuses exactly what image-spec's own validator refuses.

Registries, skopeo and containerd test their output with image-spec's
validator (``schema/validator.go``); anyarch checks the documents it writes
against the same rules so "anyarch pushed it" never means "other tools reject
it".  Upstream's check has two stages, reproduced here in plain Python:

1. **Go decoding.**  The bytes are parsed as Go's ``encoding/json`` would and
   decoded into the image-spec Go types (``v1.Descriptor``, ``v1.Manifest``,
   ``v1.Index``, ``v1.Image``): a member of the wrong JSON type — even one the
   schemas do not mention, such as a layer's ``platform`` — fails, member names
   match case-insensitively, ``data`` must be padded base64, ``created`` must
   parse as Go's RFC 3339.  Then the media-type specific checks: a descriptor's
   digest must pass go-digest's ``Validate`` (sha256/sha384/sha512 need their
   exact length of lower-case hex; other algorithms are not checked), and every
   config ``Env`` entry must match ``^[^=]+=.*$``.
2. **JSON schema** (the draft-04 schemas in image-spec ``schema/``), with
   ``format`` asserted as santhosh-tekuri/jsonschema does for draft-04:
   ``urls`` entries must be absolute URIs, ``created`` a date-time.

The first stage that finds problems decides, as upstream returns early.  The
schemas are expressed as code below, member for member, so there is no runtime
dependency on a JSON-schema library; the test-suite cross-checks them against
the upstream schema files with ``jsonschema``.

Docker schema 2 documents have no upstream validator; they are checked with
the rules of their OCI twin, as upstream's backwards-compatibility test does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anyarch.errors import InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import mediatype
from anyarch.oci._gocompat import base64_ok, created_ok, digest_problem, uri_ok
from anyarch.oci._gojson import EscapedStr, GoJSONError, GoObject, loads

__all__ = ["VALIDATED_MEDIA_TYPES", "is_valid", "problems", "validate"]

_KIND: dict[str, str] = {
    mediatype.OCI_DESCRIPTOR: "descriptor",
    mediatype.OCI_MANIFEST: "manifest",
    mediatype.OCI_INDEX: "index",
    mediatype.OCI_CONFIG: "config",
    mediatype.OCI_LAYOUT_HEADER: "layout",
    mediatype.DOCKER_MANIFEST: "manifest",
    mediatype.DOCKER_MANIFEST_LIST: "index",
    mediatype.DOCKER_CONFIG: "config",
}

#: Media types :func:`validate` knows rules for.
VALIDATED_MEDIA_TYPES = frozenset(_KIND)

_NAMES = {
    "descriptor": "content descriptor",
    "manifest": "image manifest",
    "index": "image index",
    "config": "image config",
    "layout": "oci-layout file",
}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _at(path: str) -> str:
    return path or "(document)"


# =============================================================================
# Stage 1: encoding/json into the image-spec Go types
# =============================================================================

# Go's case folding of a member name (encoding/json foldName): ASCII letters
# upper-cased, any other rune replaced by the smallest rune of its
# unicode.SimpleFold orbit.  Only two non-ASCII runes have an ASCII letter in
# their orbit: KELVIN SIGN (K, k, U+212A) and LATIN SMALL LONG S (S, s, U+017F);
# dotted/dotless i (U+0130, U+0131) are orbits of their own.
_FOLD = str.maketrans({"\u212a": "K", "\u017f": "S"})


def _fold(name: str) -> str | None:
    folded = name.translate(_FOLD)
    if not folded.isascii():
        return None
    return folded.upper()


@dataclass(frozen=True)
class _Struct:
    """A Go struct: JSON member name → field type."""

    name: str
    fields: Mapping[str, Any]

    def field(self, key: str) -> tuple[str, Any] | None:
        folded = _fold(key)
        if folded is None:
            return None
        for name, t in self.fields.items():
            if name.upper() == folded:
                return name, t
        return None


# Field types: "string", "int", "bool", "bytes" ([]byte), "time" (time.Time),
# ("slice", T), ("map", T) (string keys), ("ptr", T), or a _Struct.
_PLATFORM_T = _Struct(
    "Platform",
    {
        "architecture": "string",
        "os": "string",
        "os.version": "string",
        "os.features": ("slice", "string"),
        "variant": "string",
    },
)
_DESCRIPTOR_T = _Struct(
    "Descriptor",
    {
        "mediaType": "string",
        "digest": "string",
        "size": "int",
        "urls": ("slice", "string"),
        "annotations": ("map", "string"),
        "data": "bytes",
        "platform": ("ptr", _PLATFORM_T),
        "artifactType": "string",
    },
)
_MANIFEST_T = _Struct(
    "Manifest",
    {
        "schemaVersion": "int",
        "mediaType": "string",
        "artifactType": "string",
        "config": _DESCRIPTOR_T,
        "layers": ("slice", _DESCRIPTOR_T),
        "subject": ("ptr", _DESCRIPTOR_T),
        "annotations": ("map", "string"),
    },
)
_INDEX_T = _Struct(
    "Index",
    {
        "schemaVersion": "int",
        "mediaType": "string",
        "artifactType": "string",
        "manifests": ("slice", _DESCRIPTOR_T),
        "subject": ("ptr", _DESCRIPTOR_T),
        "annotations": ("map", "string"),
    },
)
_EMPTY_T = _Struct("struct {}", {})
_IMAGE_CONFIG_T = _Struct(
    "ImageConfig",
    {
        "User": "string",
        "ExposedPorts": ("map", _EMPTY_T),
        "Env": ("slice", "string"),
        "Entrypoint": ("slice", "string"),
        "Cmd": ("slice", "string"),
        "Volumes": ("map", _EMPTY_T),
        "WorkingDir": "string",
        "Labels": ("map", "string"),
        "StopSignal": "string",
        "ArgsEscaped": "bool",
    },
)
_HISTORY_T = _Struct(
    "History",
    {
        "created": ("ptr", "time"),
        "created_by": "string",
        "author": "string",
        "comment": "string",
        "empty_layer": "bool",
    },
)
_IMAGE_T = _Struct(
    "Image",
    {
        "created": ("ptr", "time"),
        "author": "string",
        "architecture": "string",
        "os": "string",
        "os.version": "string",
        "os.features": ("slice", "string"),
        "variant": "string",
        "config": _IMAGE_CONFIG_T,
        "rootfs": _Struct("RootFS", {"type": "string", "diff_ids": ("slice", "string")}),
        "history": ("slice", _HISTORY_T),
    },
)

_INT64 = (-(1 << 63), (1 << 63) - 1)


def _type_name(t: Any) -> str:
    if isinstance(t, _Struct):
        return f"v1.{t.name}" if t.fields else t.name
    if isinstance(t, tuple):
        kind, inner = t
        return {"slice": "[]", "map": "map[string]", "ptr": "*"}[kind] + _type_name(inner)
    return {"int": "int64", "bytes": "[]uint8", "time": "time.Time"}.get(t, str(t))


def _go_decode(v: Any, t: Any, path: str, errs: list[str], existing: Any = None) -> Any:
    """Decode ``v`` into Go type ``t`` as encoding/json does; return the Go value, record errors."""
    if v is None:
        # null sets slices, maps, pointers (and []byte) to nil; otherwise it does nothing.
        return None if isinstance(t, tuple) or t == "bytes" else existing

    def mismatch() -> Any:
        errs.append(
            f"{_at(path)}: cannot unmarshal {_json_type(v)} into Go value of type {_type_name(t)}"
        )
        return existing

    if isinstance(t, _Struct):
        if not isinstance(v, GoObject):
            return mismatch()
        out: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for key, value in v.pairs:
            found = t.field(key)
            if found is not None:
                name, ft = found
                # Go matches member names case-insensitively: say which field a variant hit.
                where = _join(path, key) if key == name else f"{_join(path, key)} (as {name!r})"
                out[name] = _go_decode(value, ft, where, errs, out.get(name))
        return out
    if isinstance(t, tuple):
        kind, inner = t
        if kind == "ptr":
            return _go_decode(v, inner, path, errs, existing)
        if kind == "slice":
            if not isinstance(v, list):
                return mismatch()
            return [_go_decode(item, inner, f"{path}[{i}]", errs) for i, item in enumerate(v)]
        # map[string]T: existing entries stay, each element is decoded fresh
        if not isinstance(v, GoObject):
            return mismatch()
        m: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for key, value in v.pairs:
            m[key] = _go_decode(value, inner, f"{path}[{key!r}]", errs)
        return m
    if t == "string":
        return v if isinstance(v, str) else mismatch()
    if t == "bool":
        return v if isinstance(v, bool) else mismatch()
    if t == "int":
        if isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]:
            return v
        return mismatch()
    if t == "bytes":
        if isinstance(v, str):
            if not base64_ok(v):
                errs.append(f"{_at(path)}: illegal base64 data (standard, padded base64 expected)")
                return existing
            return v
        if isinstance(v, list):  # Go also decodes a JSON array of 0..255 into []byte
            for i, item in enumerate(v):
                if item is not None and not (
                    isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255
                ):
                    errs.append(
                        f"{_at(path)}[{i}]: cannot unmarshal {_json_type(item)} into Go value of type uint8"
                    )
            return v
        return mismatch()
    if t == "time":
        if not isinstance(v, str):
            errs.append(f"{_at(path)}: Time.UnmarshalJSON: input is not a JSON string")
            return existing
        if not created_ok(v, escaped=isinstance(v, EscapedStr)):
            errs.append(f"{_at(path)}: {v!r} is not an RFC 3339 date-time")
            return existing
        return v
    raise AssertionError(f"unknown Go type {t!r}")  # pragma: no cover


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_ENV = re.compile(r"[^=]+=.*")


def _stage1(doc: Any, kind: str) -> list[str]:
    t = {
        "descriptor": _DESCRIPTOR_T,
        "manifest": _MANIFEST_T,
        "index": _INDEX_T,
        "config": _IMAGE_T,
    }.get(kind)
    if t is None:
        return []
    errs: list[str] = []
    value = _go_decode(doc, t, "", errs) or {}
    if errs:
        return errs
    if kind == "descriptor":
        problem = digest_problem(value.get("digest") or "")
        return [f"digest: {problem}"] if problem else []
    if kind == "config":
        env = (value.get("config") or {}).get("Env") or []
        return [
            f"config.Env[{i}]: {e!r} is not NAME=value"
            for i, e in enumerate(env)
            if _ENV.fullmatch(e or "") is None
        ][:1]
    return []


# =============================================================================
# Stage 2: the draft-04 JSON schemas of image-spec schema/, as code
# =============================================================================

Check = Callable[[Any, str, list[str]], None]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, GoObject),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _typed(name: str, then: Callable[[Any, str, list[str]], None] | None = None) -> Check:
    is_type = _TYPES[name]

    def check(v: Any, path: str, errs: list[str]) -> None:
        if not is_type(v):
            errs.append(f"{_at(path)}: expected {name}, got {_json_type(v)}")
        elif then is not None:
            then(v, path, errs)

    return check


def _string(
    pattern: tuple[re.Pattern[str], str] | None = None,
    fmt: str | None = None,
    enum: Sequence[str] = (),
) -> Check:
    def more(v: str, path: str, errs: list[str]) -> None:
        if pattern is not None and pattern[0].search(v) is None:
            errs.append(f"{_at(path)}: {v!r} is not {pattern[1]}")
        if fmt == "uri" and not uri_ok(v):
            errs.append(f"{_at(path)}: {v!r} is not an absolute URI")
        if fmt == "date-time" and not created_ok(v):
            errs.append(f"{_at(path)}: {v!r} is not an RFC 3339 date-time")
        if enum and v not in enum:
            errs.append(f"{_at(path)}: {v!r} is not one of {list(enum)}")

    return _typed("string", more)


def _integer(minimum: int, maximum: int) -> Check:
    def more(v: int, path: str, errs: list[str]) -> None:
        if not minimum <= v <= maximum:
            errs.append(f"{_at(path)}: {v} is outside [{minimum}, {maximum}]")

    return _typed("integer", more)


def _array(items: Check | None = None, min_items: int = 0) -> Check:
    def more(v: list[Any], path: str, errs: list[str]) -> None:
        if len(v) < min_items:
            errs.append(f"{_at(path)}: needs at least {min_items} item(s)")
        if items is not None:
            for i, item in enumerate(v):
                items(item, f"{path}[{i}]", errs)

    return _typed("array", more)


def _object(
    properties: Mapping[str, Check] | None = None,
    required: Sequence[str] = (),
    pattern_properties: tuple[re.Pattern[str], Check] | None = None,
) -> Check:
    def more(v: GoObject, path: str, errs: list[str]) -> None:
        members = v.last
        for name in required:
            if name not in members:
                errs.append(f"{_at(_join(path, name))}: required")
        for name, value in members.items():
            if properties is not None and name in properties:
                properties[name](value, _join(path, name), errs)
            if pattern_properties is not None and pattern_properties[0].search(name):
                pattern_properties[1](value, f"{path}[{name!r}]", errs)

    return _typed("object", more)


def _one_of(*alternatives: Check) -> Check:
    def check(v: Any, path: str, errs: list[str]) -> None:
        ok = sum(1 for alt in alternatives if _passes(alt, v, path))
        if ok != 1:
            found: list[str] = []
            for alt in alternatives:
                alt(v, path, found)
            errs.append(
                f"{_at(path)}: matches {ok} of the allowed forms, needs exactly one"
                + (f" ({found[0]})" if ok == 0 and found else "")
            )

    return check


def _passes(check: Check, v: Any, path: str) -> bool:
    errs: list[str] = []
    check(v, path, errs)
    return not errs


# defs.json / defs-descriptor.json.  Python patterns use \Z where the Go
# (RE2) patterns say $: in Python $ also matches before a final newline.
_MEDIA_TYPE_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z"
)
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z")
_NON_EMPTY_KEY = re.compile(r".")  # ".{1,}" searched: any character but a newline
_JSON_MAX_INT64 = 9223372036854776000  # as written in defs.json (a float64 in Go)

_MEDIA_TYPE = _string((_MEDIA_TYPE_RE, "a type/subtype media type (RFC 6838 restricted names)"))
_DIGEST = _string((_DIGEST_RE, "a digest of the form algorithm:encoded"))
_URLS = _array(_string(fmt="uri"))
_MAP_STRING_STRING = _object(pattern_properties=(_NON_EMPTY_KEY, _typed("string")))
_MAP_STRING_OBJECT = _object(pattern_properties=(_NON_EMPTY_KEY, _typed("object")))
_SCHEMA_VERSION = _integer(2, 2)

# content-descriptor.json
_CONTENT_DESCRIPTOR = _object(
    {
        "mediaType": _MEDIA_TYPE,
        "size": _integer(0, _JSON_MAX_INT64),
        "digest": _DIGEST,
        "urls": _URLS,
        "data": _typed("string"),
        "artifactType": _MEDIA_TYPE,
        "annotations": _MAP_STRING_STRING,
    },
    required=("mediaType", "size", "digest"),
)

# image-manifest-schema.json
_MANIFEST = _object(
    {
        "schemaVersion": _SCHEMA_VERSION,
        "mediaType": _MEDIA_TYPE,
        "artifactType": _MEDIA_TYPE,
        "config": _CONTENT_DESCRIPTOR,
        "subject": _CONTENT_DESCRIPTOR,
        "layers": _array(_CONTENT_DESCRIPTOR, min_items=1),
        "annotations": _MAP_STRING_STRING,
    },
    required=("schemaVersion", "config", "layers"),
)

# image-index-schema.json
_PLATFORM = _object(
    {
        "architecture": _typed("string"),
        "os": _typed("string"),
        "os.version": _typed("string"),
        "os.features": _array(_typed("string")),
        "variant": _typed("string"),
    },
    required=("architecture", "os"),
)
_MANIFEST_DESCRIPTOR = _object(
    {
        "mediaType": _MEDIA_TYPE,
        "size": _integer(-_JSON_MAX_INT64, _JSON_MAX_INT64),
        "digest": _DIGEST,
        "urls": _URLS,
        "platform": _PLATFORM,
        "annotations": _MAP_STRING_STRING,
    },
    required=("mediaType", "size", "digest"),
)
_INDEX = _object(
    {
        "schemaVersion": _SCHEMA_VERSION,
        "mediaType": _MEDIA_TYPE,
        "artifactType": _MEDIA_TYPE,
        "subject": _CONTENT_DESCRIPTOR,
        "manifests": _array(_MANIFEST_DESCRIPTOR),
        "annotations": _MAP_STRING_STRING,
    },
    required=("schemaVersion", "manifests"),
)

# config-schema.json
_STRINGS = _array(_typed("string"))
_CONFIG = _object(
    {
        "created": _string(fmt="date-time"),
        "author": _typed("string"),
        "architecture": _typed("string"),
        "variant": _typed("string"),
        "os": _typed("string"),
        "os.version": _typed("string"),
        "os.features": _STRINGS,
        "config": _object(
            {
                "User": _typed("string"),
                "ExposedPorts": _MAP_STRING_OBJECT,
                "Env": _STRINGS,
                "Entrypoint": _one_of(_STRINGS, _typed("null")),
                "Cmd": _one_of(_STRINGS, _typed("null")),
                "Volumes": _one_of(_MAP_STRING_OBJECT, _typed("null")),
                "WorkingDir": _typed("string"),
                "Labels": _one_of(_MAP_STRING_STRING, _typed("null")),
                "StopSignal": _typed("string"),
                "ArgsEscaped": _typed("boolean"),
            }
        ),
        "rootfs": _object(
            {"diff_ids": _STRINGS, "type": _string(enum=("layers",))},
            required=("diff_ids", "type"),
        ),
        "history": _array(
            _object(
                {
                    "created": _string(fmt="date-time"),
                    "author": _typed("string"),
                    "created_by": _typed("string"),
                    "comment": _typed("string"),
                    "empty_layer": _typed("boolean"),
                }
            )
        ),
    },
    required=("architecture", "os", "rootfs"),
)

# image-layout-schema.json
_LAYOUT = _object(
    {"imageLayoutVersion": _string(enum=("1.0.0",))}, required=("imageLayoutVersion",)
)

_SCHEMAS: dict[str, Check] = {
    "descriptor": _CONTENT_DESCRIPTOR,
    "manifest": _MANIFEST,
    "index": _INDEX,
    "config": _CONFIG,
    "layout": _LAYOUT,
}


# =============================================================================
# Public API
# =============================================================================


def _kind(media_type: str) -> str:
    kind = _KIND.get(mediatype.essence(media_type)) if isinstance(media_type, str) else None
    if kind is None:
        raise UnsupportedMediaTypeError(
            f"no validator for media type {media_type!r}",
            hint="validators exist for: " + ", ".join(sorted(_KIND)),
        )
    return kind


def problems(raw: bytes, media_type: str) -> list[str]:
    """What upstream's validator finds wrong with ``raw`` as ``media_type``; empty when valid.

    Raises :class:`UnsupportedMediaTypeError` for a media type with no validator.
    """
    kind = _kind(media_type)
    try:
        doc = loads(bytes(raw))
    except GoJSONError as e:
        return [f"not valid JSON: {e}"]
    return _stage1(doc, kind) or _schema_problems(doc, kind)


def _schema_problems(doc: Any, kind: str) -> list[str]:
    errs: list[str] = []
    _SCHEMAS[kind](doc, "", errs)
    return errs


def is_valid(raw: bytes, media_type: str) -> bool:
    """Whether upstream's validator accepts ``raw`` as ``media_type``."""
    return not problems(raw, media_type)


def validate(raw: bytes, media_type: str, *, what: str | None = None) -> None:
    """Raise :class:`InvalidDocumentError` naming the first problem, if upstream would reject ``raw``."""
    found = problems(raw, media_type)
    if found:
        name = what or _NAMES[_kind(media_type)]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidDocumentError(
            f"invalid {name}: {found[0]}{more}",
            hint="the OCI image-spec validator rejects this document; "
            "registries and other tools may refuse it",
        )
