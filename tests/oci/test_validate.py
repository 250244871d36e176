"""The validator beyond upstream's own cases: Go's decoding rules, formats, and the schemas as code.

Upstream's validator decodes with Go's encoding/json before it checks the
schema, so documents a JSON-schema library accepts can still be rejected (and
the reverse).  Each case below is a rule of that Go code; the differential
test at the end checks the hand-written schemas against the upstream schema
files with ``jsonschema``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyarch.errors import InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import mediatype, validate
from anyarch.oci._gocompat import created_ok, uri_ok
from anyarch.oci._gojson import GoJSONError, loads

HEX = "5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
D = f"sha256:{HEX}"
DESC = f'"mediaType": "text/plain", "size": 1, "digest": "{D}"'
LAYER = f'{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 1, "digest": "{D}"}}'


def manifest(extra_layer_members: str = "", top: str = "") -> bytes:
    layer = LAYER[:-1] + (", " + extra_layer_members if extra_layer_members else "") + "}"
    return (
        f'{{"schemaVersion": 2, "config": {LAYER}, "layers": [{layer}]'
        + (", " + top if top else "")
        + "}"
    ).encode()


def index_entry(members: str) -> bytes:
    return f'{{"schemaVersion": 2, "manifests": [{{{DESC}, {members}}}]}}'.encode()


def config(config_members: str = "", top: str = "") -> bytes:
    return (
        '{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}'
        + (f', "config": {{{config_members}}}' if config_members else "")
        + (", " + top if top else "")
        + "}"
    ).encode()


CASES: list[tuple[str, bytes, str, bool]] = [
    # --- Go matches member names case-insensitively ---------------------------------
    ("folded-key-type-error", f'{{{DESC}, "SIZE": "1"}}'.encode(), mediatype.OCI_DESCRIPTOR, False),
    (
        "folded-key-long-s",
        f'{{{DESC}, "\u017fize": "1"}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "folded-key-kelvin-unknown",
        config(top='"\u212a": 1, "config": {}'),
        mediatype.OCI_CONFIG,
        True,
    ),
    ("folded-key-kelvin-match", config('"Wor\u212aingDir": 5'), mediatype.OCI_CONFIG, False),
    ("folded-key-cyrillic-no-match", config('"\u0415nv": ["foo"]'), mediatype.OCI_CONFIG, True),
    (
        "folded-key-dotless-i-no-match",
        f'{{{DESC}, "d\u0131gest": 5}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "folded-key-dotted-i-no-match",
        f'{{{DESC}, "d\u0130gest": 5}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "folded-key-long-s-digest",
        f'{{{DESC}, "dige\u017ft": 5}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "folded-digest-last-wins",
        f'{{{DESC}, "Digest": "{D.upper()}"}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    ("folded-env-checked", config('"env": ["foo"]'), mediatype.OCI_CONFIG, False),
    (
        "unknown-member-ignored",
        f'{{{DESC}, "sizes": "x"}}'.encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    # --- duplicates: Go decodes every copy ------------------------------------------
    ("duplicate-first-bad", f'{{"size": "x", {DESC}}}'.encode(), mediatype.OCI_DESCRIPTOR, False),
    (
        "duplicate-env-replaced",
        config('"Env": ["foo"], "Env": ["A=1"]'),
        mediatype.OCI_CONFIG,
        True,
    ),
    (
        "duplicate-config-merged",
        config('"Env": ["foo"]', top='"config": {"User": "x"}'),
        mediatype.OCI_CONFIG,
        False,
    ),
    # --- go-digest runs only on descriptor documents ----------------------------------
    (
        "sha384-valid",
        f"{{{DESC.replace(D, 'sha384:' + 'a' * 96)}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "sha384-short",
        f"{{{DESC.replace(D, 'sha384:' + 'a' * 64)}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "sha512-upper",
        f"{{{DESC.replace(D, 'sha512:' + 'A' * 128)}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "unknown-algorithm-unchecked",
        f"{{{DESC.replace(D, 'foo:ABC')}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "layer-upper-hex-not-checked",
        manifest().replace(HEX.encode(), HEX.upper().encode()),
        mediatype.OCI_MANIFEST,
        True,
    ),
    # --- members the schemas do not mention are still Go-typed ------------------------
    ("layer-platform-string", manifest('"platform": "linux"'), mediatype.OCI_MANIFEST, False),
    (
        "layer-platform-object",
        manifest('"platform": {"os": "linux"}'),
        mediatype.OCI_MANIFEST,
        True,
    ),
    ("index-entry-data-array", index_entry('"data": [1, 2]'), mediatype.OCI_INDEX, True),
    ("index-entry-data-array-256", index_entry('"data": [256]'), mediatype.OCI_INDEX, False),
    ("index-entry-data-unpadded", index_entry('"data": "e30"'), mediatype.OCI_INDEX, False),
    ("index-entry-data-newlines", index_entry('"data": "e3\\n0="'), mediatype.OCI_INDEX, True),
    (
        "index-entry-artifact-type-unchecked",
        index_entry('"artifactType": "foo/.bar"'),
        mediatype.OCI_INDEX,
        True,
    ),
    (
        "index-entry-negative-size",
        f'{{"schemaVersion": 2, "manifests": [{{{DESC.replace(": 1,", ": -1,")}}}]}}'.encode(),
        mediatype.OCI_INDEX,
        True,
    ),
    ("config-memory-not-typed", config('"Memory": "lots"'), mediatype.OCI_CONFIG, True),
    ("config-null", config(top='"config": null'), mediatype.OCI_CONFIG, False),
    (
        "exposed-port-value-string",
        config('"ExposedPorts": {"80/tcp": "x"}'),
        mediatype.OCI_CONFIG,
        False,
    ),
    (
        "exposed-port-value-null",
        config('"ExposedPorts": {"80/tcp": null}'),
        mediatype.OCI_CONFIG,
        False,
    ),
    # --- created: Go's time decoding and the date-time format --------------------------
    (
        "created-plain",
        config(top='"created": "2015-10-31T22:22:56.015925234Z"'),
        mediatype.OCI_CONFIG,
        True,
    ),
    (
        "created-escaped",
        config(top='"created": "2015-10-31T22:22:56\\u002e015925234Z"'),
        mediatype.OCI_CONFIG,
        False,
    ),
    (
        "created-offset",
        config(top='"created": "2015-10-31T22:22:56+05:30"'),
        mediatype.OCI_CONFIG,
        True,
    ),
    (
        "created-lowercase",
        config(top='"created": "2015-10-31t22:22:56z"'),
        mediatype.OCI_CONFIG,
        False,
    ),
    (
        "created-history-bad",
        config(top='"history": [{"created": "2015-02-29T00:00:00Z"}]'),
        mediatype.OCI_CONFIG,
        False,
    ),
    ("created-number", config(top='"created": 1'), mediatype.OCI_CONFIG, False),
    # --- Env ---------------------------------------------------------------------------
    ("env-empty-value", config('"Env": ["A="]'), mediatype.OCI_CONFIG, True),
    ("env-no-name", config('"Env": ["=x"]'), mediatype.OCI_CONFIG, False),
    ("env-newline-value", config('"Env": ["A=b\\nc"]'), mediatype.OCI_CONFIG, False),
    ("env-newline-name", config('"Env": ["A\\nB=c"]'), mediatype.OCI_CONFIG, True),
    # --- JSON as Go reads it -----------------------------------------------------------
    ("nan", f"{{{DESC.replace(': 1,', ': NaN,')}}}".encode(), mediatype.OCI_DESCRIPTOR, False),
    (
        "size-float",
        f"{{{DESC.replace(': 1,', ': 1.0,')}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "size-exponent",
        f"{{{DESC.replace(': 1,', ': 1e3,')}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "size-overflow",
        f"{{{DESC.replace(': 1,', ': 9223372036854775808,')}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    (
        "size-max",
        f"{{{DESC.replace(': 1,', ': 9223372036854775807,')}}}".encode(),
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "schema-version-float",
        manifest().replace(b'"schemaVersion": 2', b'"schemaVersion": 2.0'),
        mediatype.OCI_MANIFEST,
        False,
    ),
    ("trailing-garbage", f"{{{DESC}}}x".encode(), mediatype.OCI_DESCRIPTOR, False),
    ("two-values", f"{{{DESC}}} {{}}".encode(), mediatype.OCI_DESCRIPTOR, False),
    ("bom", b"\xef\xbb\xbf" + f"{{{DESC}}}".encode(), mediatype.OCI_DESCRIPTOR, False),
    (
        "invalid-utf8-in-string",
        f'{{{DESC}, "x": "'.encode() + b"\xff\xfe" + b'"}',
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    ("unicode-digit", f'{{{DESC}, "x": 1\u0661}}'.encode(), mediatype.OCI_DESCRIPTOR, False),
    (
        "deep-but-allowed",
        f'{{{DESC}, "x": '.encode() + b"[" * 9999 + b"]" * 9999 + b"}",
        mediatype.OCI_DESCRIPTOR,
        True,
    ),
    (
        "too-deep",
        f'{{{DESC}, "x": '.encode() + b"[" * 10000 + b"]" * 10000 + b"}",
        mediatype.OCI_DESCRIPTOR,
        False,
    ),
    ("top-level-null", b"null", mediatype.OCI_MANIFEST, False),
    ("top-level-array", b"[]", mediatype.OCI_MANIFEST, False),
    # --- layout (no Go decoding upstream) --------------------------------------------------
    (
        "layout-extra",
        b'{"imageLayoutVersion": "1.0.0", "IMAGELAYOUTVERSION": 5}',
        mediatype.OCI_LAYOUT_HEADER,
        True,
    ),
    (
        "layout-wrong-version",
        b'{"imageLayoutVersion": "1.0.1"}',
        mediatype.OCI_LAYOUT_HEADER,
        False,
    ),
    # --- Docker documents use their OCI twin's rules -------------------------------------------
    (
        "docker-manifest-no-layers",
        b'{"schemaVersion": 2, "config": ' + LAYER.encode() + b', "layers": []}',
        mediatype.DOCKER_MANIFEST,
        False,
    ),
]


@pytest.mark.parametrize(
    ("raw", "media_type", "valid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_go_rules(raw: bytes, media_type: str, valid: bool) -> None:
    found = validate.problems(raw, media_type)
    assert (found == []) is valid, found


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/foo", True),
        ("HTTP://EXAMPLE.COM", True),
        ("http://[::1]:5000/v2/", True),
        ("http://user:p@ss@host/", True),
        ("urn:oci:blob", True),
        ("mailto:someone@example.com", True),
        ("http:", True),
        ("http://h/#\x01", True),  # Go does not check the fragment for control characters
        ("http://[1.2.3.4]/", True),  # Go 1.21 net/url accepts an IPv4 literal in brackets
        ("value", False),
        ("/absolute/path", False),
        ("//host/path", False),
        ("1http://x", False),
        ("://x", False),
        ("http://::1/", False),
        ("http://[fe80::1%25en0]/", False),
        ("http://[::1/", False),
        ("http://[::g]/", False),
        ("http://a b/", False),
        ("http://host:port/", False),
        ("http://us er@host/", False),
        ("http://h/%zz", False),
        ("http://h/#%zz", False),
        ("http://h/\x01", False),
        ("http://%41/", False),
        ("", False),
    ],
)
def test_uri_format(url: str, ok: bool) -> None:
    assert uri_ok(url) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2015-10-31T22:22:56Z", True),
        ("2015-10-31T22:22:56.015925234Z", True),
        ("2015-10-31T22:22:56-07:00", True),
        ("2016-02-29T00:00:00Z", True),
        ("0000-01-01T00:00:00Z", True),
        ("2015-02-29T00:00:00Z", False),
        ("2015-10-31 22:22:56Z", False),
        ("2015-10-31T22:22:56", False),
        ("2015-10-31T22:22:56+24:00", False),
        ("2015-10-31T22:22:56+23:60", False),
        ("2015-10-31T24:00:00Z", False),
        ("2016-12-31T23:59:60Z", False),  # a leap second: Go's time package refuses it
        ("2015-10-31T22:22:56,5Z", False),  # Go takes a comma, the date-time format does not
        ("2015-10-31T2:22:56Z", False),  # Go takes a one-digit hour, the format does not
        ("2015-10-31T22:22:56.Z", False),
        ("2015-10-31T22:22:56Zjunk", False),
        ("2015-1-31T22:22:56Z", False),
        ("2015-10-31T22:22:56\u0661Z", False),
    ],
)
def test_created_format(text: str, ok: bool) -> None:
    assert created_ok(text) is ok


def test_validate_raises_a_clear_error() -> None:
    with pytest.raises(InvalidDocumentError) as e:
        validate.validate(b'{"imageLayoutVersion": 1}', mediatype.OCI_LAYOUT_HEADER)
    assert e.value.message.startswith("invalid oci-layout file: imageLayoutVersion")
    assert e.value.hint
    with pytest.raises(UnsupportedMediaTypeError):
        validate.problems(b"{}", mediatype.OCI_LAYER_GZIP)
    assert validate.is_valid(b'{"imageLayoutVersion": "1.0.0"}', mediatype.OCI_LAYOUT_HEADER)


def test_go_json_reader_keeps_duplicates_and_escapes() -> None:
    doc = loads(b'{"a": 1, "a": "x\\u0041", "b": [true, false, null, -0, 1.5]}')
    assert doc.pairs == [("a", 1), ("a", "xA"), ("b", [True, False, None, 0, 1.5])]
    assert doc.last == {"a": "xA", "b": [True, False, None, 0, 1.5]}
    assert type(doc.last["a"]).__name__ == "EscapedStr"
    for bad in (b"", b"{", b'{"a"}', b'{"a":}', b"[1,]", b"01", b"tru", b'"\x01"', b"1 2"):
        with pytest.raises(GoJSONError):
            loads(bad)


# --- the schemas as code agree with the schema files ----------------------------------------

_WRONG: list[Any] = [
    None,
    True,
    0,
    2,
    -1,
    1.5,
    "",
    "x",
    "foo/.bar",
    "sha256:ABC",
    "not a uri",
    "2020-13-01T00:00:00Z",
    "layer",
    "1.0.1",
    [],
    ["a"],
    [1],
    [None],
    {},
    {"a": 1},
    {"a": {}},
    {"a": None},
]


def _obj(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=optional)


def _copy(v: Any) -> Any:
    return json.loads(json.dumps(v))


def _containers(node: Any) -> list[Any]:
    """Every object and array in a JSON tree, ``node`` first."""
    if isinstance(node, dict):
        return [node, *(c for child in node.values() for c in _containers(child))]
    if isinstance(node, list):
        return [node, *(c for child in node for c in _containers(child))]
    return []


@st.composite
def _with_defects(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid document with zero, one or two defects at random places in its tree."""
    doc = _copy(draw(valid))  # strategies may share objects (st.just); mutate a private copy
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        node = draw(st.sampled_from(_containers(doc)))
        wrong = json.loads(json.dumps(draw(st.sampled_from(_WRONG))))  # never share a pool entry
        if isinstance(node, dict):
            action = draw(st.sampled_from(["set", "delete", "add"]))
            if action == "add" or not node:
                node[draw(st.sampled_from(["x", "Size", "platform", "data", ""]))] = wrong
            elif action == "set":
                node[draw(st.sampled_from(sorted(node)))] = wrong
            else:
                del node[draw(st.sampled_from(sorted(node)))]
        elif node and draw(st.booleans()):
            node[draw(st.integers(0, len(node) - 1))] = wrong
        elif node and draw(st.booleans()):
            node.pop()
        else:
            node.append(wrong)
    return doc


_TEXT = st.text(max_size=3)
_MEDIA_TYPES = st.sampled_from(
    ["text/plain", "application/vnd.oci.image.layer.v1.tar", "a/b", "1" * 127 + "/2"]
)
_DIGESTS = st.sampled_from(
    [D, "sha512:" + "a" * 128, "sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"]
)
_SIZES = st.one_of(st.sampled_from([0, 2**63 - 1]), st.integers(0, 2**40))
_STR_MAP = st.dictionaries(_TEXT, _TEXT, max_size=2)
_OBJ_MAP: st.SearchStrategy[dict[str, Any]] = st.dictionaries(_TEXT, st.just({}), max_size=2)
_STRS = st.lists(_TEXT, max_size=2)
_PLATFORM = _obj(
    {"architecture": _TEXT, "os": _TEXT},
    {"os.version": _TEXT, "os.features": _STRS, "variant": _TEXT},
)
_DESCRIPTOR = _obj(
    {"mediaType": _MEDIA_TYPES, "size": _SIZES, "digest": _DIGESTS},
    {
        "urls": st.lists(st.sampled_from(["https://e.com/a", "urn:x"]), max_size=2),
        "data": st.sampled_from(["", "e30="]),
        "artifactType": _MEDIA_TYPES,
        "annotations": _STR_MAP,
    },
)
_INDEX_ENTRY = _obj(
    {
        "mediaType": _MEDIA_TYPES,
        "size": st.integers(-(2**63), 2**63 - 1),
        "digest": _DIGESTS,
        "platform": _PLATFORM,  # optional upstream; always here so its rules get exercised
    },
    {"urls": st.lists(st.just("https://e.com/a"), max_size=1), "annotations": _STR_MAP},
)
_CREATED = st.sampled_from(["2020-01-01T00:00:00Z", "2020-01-01T00:00:00.5+01:00"])
_NULLABLE_STRS = st.one_of(st.none(), _STRS)
_DOCS: dict[str, st.SearchStrategy[Any]] = {
    mediatype.OCI_DESCRIPTOR: _DESCRIPTOR,
    mediatype.OCI_MANIFEST: _obj(
        {
            "schemaVersion": st.just(2),
            "config": _DESCRIPTOR,
            "layers": st.lists(_DESCRIPTOR, min_size=1, max_size=2),
        },
        {
            "mediaType": _MEDIA_TYPES,
            "artifactType": _MEDIA_TYPES,
            "subject": _DESCRIPTOR,
            "annotations": _STR_MAP,
        },
    ),
    mediatype.OCI_INDEX: _obj(
        {"schemaVersion": st.just(2), "manifests": st.lists(_INDEX_ENTRY, max_size=2)},
        {
            "mediaType": _MEDIA_TYPES,
            "artifactType": _MEDIA_TYPES,
            "subject": _DESCRIPTOR,
            "annotations": _STR_MAP,
        },
    ),
    mediatype.OCI_CONFIG: _obj(
        {
            "architecture": _TEXT,
            "os": _TEXT,
            "rootfs": _obj({"diff_ids": _STRS, "type": st.just("layers")}, {}),
        },
        {
            "created": _CREATED,
            "author": _TEXT,
            "variant": _TEXT,
            "os.version": _TEXT,
            "os.features": _STRS,
            "config": _obj(
                {},
                {
                    "User": _TEXT,
                    "ExposedPorts": _OBJ_MAP,
                    "Env": _STRS,
                    "Entrypoint": _NULLABLE_STRS,
                    "Cmd": _NULLABLE_STRS,
                    "Volumes": st.one_of(st.none(), _OBJ_MAP),
                    "WorkingDir": _TEXT,
                    "Labels": st.one_of(st.none(), _STR_MAP),
                    "StopSignal": _TEXT,
                    "ArgsEscaped": st.booleans(),
                },
            ),
            "history": st.lists(
                _obj(
                    {},
                    {
                        "created": _CREATED,
                        "author": _TEXT,
                        "created_by": _TEXT,
                        "comment": _TEXT,
                        "empty_layer": st.booleans(),
                    },
                ),
                max_size=2,
            ),
        },
    ),
    mediatype.OCI_LAYOUT_HEADER: _obj({"imageLayoutVersion": st.just("1.0.0")}, {}),
}


@pytest.mark.parametrize("media_type", list(_DOCS))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_schemas_as_code_match_the_schema_files(
    media_type: str, data: st.DataObject, schema_check: Callable[..., list[str]]
) -> None:
    doc = data.draw(_with_defects(_DOCS[media_type]))
    raw = json.dumps(doc).encode()
    ours = validate._schema_problems(loads(raw), validate._kind(media_type))
    theirs = schema_check(doc, media_type, formats=False)
    # Format checks are Go's (tested above); compare structure with the formats applied to both.
    theirs_with_formats = theirs or _format_problems(doc, media_type)
    assert (ours == []) == (theirs_with_formats == []), (ours, theirs)


_FULL_DESCRIPTOR = {
    "mediaType": "text/plain",
    "size": 1,
    "digest": D,
    "urls": ["https://e.com/a"],
    "data": "e30=",
    "artifactType": "a/b",
    "annotations": {"k": "v"},
}
_FULL: dict[str, Any] = {
    mediatype.OCI_DESCRIPTOR: _FULL_DESCRIPTOR,
    mediatype.OCI_MANIFEST: {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "artifactType": "a/b",
        "config": _FULL_DESCRIPTOR,
        "layers": [_FULL_DESCRIPTOR],
        "subject": _FULL_DESCRIPTOR,
        "annotations": {"k": "v"},
    },
    mediatype.OCI_INDEX: {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_INDEX,
        "artifactType": "a/b",
        "manifests": [
            {
                "mediaType": "text/plain",
                "size": 1,
                "digest": D,
                "urls": ["https://e.com/a"],
                "annotations": {"k": "v"},
                "platform": {
                    "architecture": "a",
                    "os": "o",
                    "os.version": "1",
                    "os.features": ["f"],
                    "variant": "v",
                },
            }
        ],
        "subject": _FULL_DESCRIPTOR,
        "annotations": {"k": "v"},
    },
    mediatype.OCI_CONFIG: {
        "created": "2020-01-01T00:00:00Z",
        "author": "a",
        "architecture": "amd64",
        "variant": "v",
        "os": "linux",
        "os.version": "1",
        "os.features": ["f"],
        "config": {
            "User": "u",
            "ExposedPorts": {"80/tcp": {}},
            "Env": ["A=1"],
            "Entrypoint": ["e"],
            "Cmd": ["c"],
            "Volumes": {"/v": {}},
            "WorkingDir": "/",
            "Labels": {"k": "v"},
            "StopSignal": "SIGTERM",
            "ArgsEscaped": True,
        },
        "rootfs": {"type": "layers", "diff_ids": [D]},
        "history": [
            {
                "created": "2020-01-01T00:00:00Z",
                "author": "a",
                "created_by": "b",
                "comment": "c",
                "empty_layer": True,
            }
        ],
    },
    mediatype.OCI_LAYOUT_HEADER: {"imageLayoutVersion": "1.0.0"},
}


_DELETE = object()


def _grow(node: Any) -> None:
    """Add a member to an object, or repeat an item of an array."""
    if isinstance(node, dict):
        node["extra"] = 1
    else:
        node.append(node[0] if node else 1)


def _single_defects(doc: Any) -> list[Any]:
    """Every copy of ``doc`` with exactly one member set to a wrong value, removed, or added."""

    out: list[Any] = []
    for n, node in enumerate(_containers(doc)):
        slots: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
        for slot in slots:
            for wrong in [*_WRONG, _DELETE]:
                copy = _copy(doc)
                target = _containers(copy)[n]
                if wrong is _DELETE:
                    del target[slot]
                else:
                    target[slot] = _copy(wrong)
                out.append(copy)
        copy = _copy(doc)
        _grow(_containers(copy)[n])
        out.append(copy)
    return out


@pytest.mark.parametrize("media_type", list(_FULL))
def test_every_single_defect_gets_the_schema_files_verdict(
    media_type: str, schema_check: Callable[..., list[str]]
) -> None:
    """Deterministic companion of the property above: the whole one-change neighbourhood."""
    variants = _single_defects(_FULL[media_type])
    assert (
        validate._schema_problems(
            loads(json.dumps(_FULL[media_type]).encode()), validate._kind(media_type)
        )
        == []
    )
    disagreements = []
    for doc in variants:
        ours = validate._schema_problems(
            loads(json.dumps(doc).encode()), validate._kind(media_type)
        )
        theirs = schema_check(doc, media_type, formats=False) or _format_problems(doc, media_type)
        if (ours == []) != (theirs == []):
            disagreements.append((doc, ours, theirs))
    assert disagreements == []
    assert len(variants) > 20


def _format_problems(doc: Any, media_type: str) -> list[str]:
    """Format violations at the places the schema files put ``format`` (uri, date-time)."""
    out: list[str] = []

    def items(obj: Any, key: str) -> list[Any]:
        value = obj.get(key)
        return value if isinstance(value, list) else []

    def urls(desc: Any) -> None:
        if isinstance(desc, dict) and isinstance(desc.get("urls"), list):
            out.extend(u for u in desc["urls"] if isinstance(u, str) and not uri_ok(u))

    def created(obj: Any) -> None:
        if (
            isinstance(obj, dict)
            and isinstance(obj.get("created"), str)
            and not created_ok(obj["created"])
        ):
            out.append(obj["created"])

    if not isinstance(doc, dict):
        return out
    if media_type == mediatype.OCI_DESCRIPTOR:
        urls(doc)
    elif media_type == mediatype.OCI_MANIFEST:
        urls(doc.get("config"))
        urls(doc.get("subject"))
        for layer in items(doc, "layers"):
            urls(layer)
    elif media_type == mediatype.OCI_INDEX:
        urls(doc.get("subject"))
        for entry in items(doc, "manifests"):
            urls(entry)
    elif media_type == mediatype.OCI_CONFIG:
        created(doc)
        for h in items(doc, "history"):
            created(h)
    return out
