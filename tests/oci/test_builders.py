"""Everything anyarch builds validates against image-spec's schemas; bytes in, same digest out.

The builders are driven with varied inputs by hypothesis and every document
they produce is checked by ``jsonschema`` on the upstream schema files (an
implementation independent of :mod:`anyarch.oci.validate`) and by anyarch's
own validator.  Separately, documents in any JSON formatting must parse to a
digest of exactly their bytes.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyarch.oci import (
    ContainerConfig,
    Descriptor,
    Digest,
    History,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    created_at,
    mediatype,
    parse_document,
    validate,
)
from anyarch.oci import (
    HealthCheck as OciHealthCheck,
)

FIXTURE_OK = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_RESTRICTED = string.ascii_letters + string.digits + "!#$&^_.+-"
media_types = st.one_of(
    st.sampled_from(
        [
            mediatype.OCI_LAYER_GZIP,
            mediatype.OCI_LAYER_ZSTD,
            mediatype.OCI_LAYER,
            mediatype.DOCKER_LAYER,
            "application/vnd.example.data+type",
        ]
    ),
    st.builds(
        lambda a, b, c, d: f"{a}{b}/{c}{d}",
        st.sampled_from(string.ascii_letters + string.digits),
        st.text(_RESTRICTED, max_size=20),
        st.sampled_from(string.ascii_letters + string.digits),
        st.text(_RESTRICTED, max_size=20),
    ),
)
hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
    st.sampled_from(["http", "https"]),
    hosts,
    st.sampled_from(["", ":5000", ":443"]),
    st.text(string.ascii_letters + string.digits + "-._~/", max_size=20),
)
annotation_maps = st.dictionaries(
    st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=3
)
platforms = st.builds(
    Platform,
    os=st.sampled_from(["linux", "windows", "freebsd"]),
    architecture=st.sampled_from(["amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64"]),
    variant=st.sampled_from(["", "v6", "v7", "v8"]),
    os_version=st.sampled_from(["", "10.0.17763.1040"]),
    os_features=st.lists(st.sampled_from(["win32k", "sse4"]), max_size=2, unique=True).map(tuple),
)


@st.composite
def descriptors(draw: st.DrawFn, *, with_platform: bool = False) -> Descriptor:
    content = draw(st.binary(max_size=64))
    embed = draw(st.booleans())
    return Descriptor.of(
        content,
        draw(media_types),
        embed=embed,
        urls=draw(st.lists(urls, max_size=2)),
        annotations=draw(annotation_maps),
        platform=draw(platforms) if with_platform else draw(st.none() | platforms),
        artifact_type=draw(st.none() | media_types),
    )


# Names and values of environment variables as upstream accepts them: a name
# without "=", a value without a newline.
env_entries = st.builds(
    lambda k, v: f"{k}={v}",
    st.text(min_size=1, max_size=10).filter(lambda s: "=" not in s),
    st.text(max_size=10).filter(lambda s: "\n" not in s),
)
timestamps = st.integers(0, 4102444800).map(created_at) | st.sampled_from(
    ["2015-10-31T22:22:56.015925234Z", "2024-02-29T23:59:59+05:30", "1999-12-31T00:00:00-00:00"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _extra(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown members; a name Go would fold onto a known field is not unknown, so none of those."""
    folded = {k.upper() for k in known}
    names = st.text(string.ascii_letters + "_-.", min_size=1, max_size=10).filter(
        lambda k: k.upper() not in folded
    )
    return st.dictionaries(names, json_values, max_size=3)


_CONTAINER_KNOWN = {
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
    "Memory",
    "MemorySwap",
    "CpuShares",
    "Healthcheck",
    "OnBuild",
    "Shell",
}
_TOP_KNOWN = {
    "created",
    "author",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "config",
    "rootfs",
    "history",
}
optional_argv = st.none() | st.lists(st.text(max_size=10), max_size=3).map(tuple)
container_configs = st.builds(
    ContainerConfig,
    user=st.none() | st.text(max_size=8),
    exposed_ports=st.lists(st.sampled_from(["80/tcp", "53/udp", "8080"]), unique=True).map(tuple),
    env=st.lists(env_entries, max_size=4).map(tuple),
    entrypoint=optional_argv,
    cmd=optional_argv,
    volumes=st.lists(st.text(min_size=1, max_size=10), unique=True, max_size=2).map(tuple),
    working_dir=st.none() | st.text(max_size=10),
    labels=annotation_maps,
    stop_signal=st.none() | st.sampled_from(["SIGTERM", "SIGKILL", "9"]),
    args_escaped=st.none() | st.booleans(),
    memory=st.none() | st.integers(0, 2**40),
    healthcheck=st.none()
    | st.builds(
        OciHealthCheck,
        test=st.none() | st.lists(st.text(max_size=8), max_size=3).map(tuple),
        interval=st.none() | st.integers(0, 10**12),
        retries=st.none() | st.integers(0, 10),
    ),
    on_build=optional_argv,
    shell=optional_argv,
    extra=_extra(_CONTAINER_KNOWN),
)
histories = st.builds(
    History,
    created=st.none() | timestamps,
    created_by=st.none() | st.text(max_size=20),
    author=st.none() | st.text(max_size=8),
    comment=st.none() | st.text(max_size=8),
    empty_layer=st.booleans(),
    extra=_extra({"created", "created_by", "author", "comment", "empty_layer"}),
)


@st.composite
def image_configs(draw: st.DrawFn) -> ImageConfig:
    return ImageConfig.build(
        architecture=draw(st.sampled_from(["amd64", "arm64", "arm", "s390x"])),
        os=draw(st.sampled_from(["linux", "windows"])),
        variant=draw(st.none() | st.sampled_from(["v7", "v8"])),
        os_version=draw(st.none() | st.just("10.0.20348.1")),
        os_features=draw(st.lists(st.just("win32k"), max_size=1)),
        diff_ids=draw(st.lists(st.binary(max_size=8).map(Digest.of), max_size=4)),
        config=draw(st.none() | container_configs),
        history=draw(st.lists(histories, max_size=3)),
        created=draw(st.none() | timestamps),
        author=draw(st.none() | st.text(max_size=10)),
        extra=draw(_extra(_TOP_KNOWN)),
    )


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    docker = draw(st.booleans())
    return Manifest.build(
        draw(descriptors()),
        draw(st.lists(descriptors(), min_size=1, max_size=4)),
        media_type=mediatype.DOCKER_MANIFEST if docker else mediatype.OCI_MANIFEST,
        annotations=draw(annotation_maps),
        subject=None if docker else draw(st.none() | descriptors()),
        artifact_type=None if docker else draw(st.none() | media_types),
        extra=draw(
            _extra(
                {
                    "schemaVersion",
                    "mediaType",
                    "artifactType",
                    "config",
                    "layers",
                    "subject",
                    "annotations",
                }
            )
        ),
    )


@st.composite
def indexes(draw: st.DrawFn) -> Index:
    docker = draw(st.booleans())
    return Index.build(
        draw(st.lists(descriptors(with_platform=docker), max_size=4)),
        media_type=mediatype.DOCKER_MANIFEST_LIST if docker else mediatype.OCI_INDEX,
        annotations=draw(annotation_maps),
        subject=None if docker else draw(st.none() | descriptors()),
        artifact_type=None if docker else draw(st.none() | media_types),
    )


def _assert_valid(raw: bytes, media_type: str, schema_check: Callable[..., list[str]]) -> None:
    doc = json.loads(raw)
    assert schema_check(doc, media_type) == [], raw
    assert validate.problems(raw, media_type) == [], raw
    # Canonical: what json would write with sorted keys and no spaces.
    assert (
        raw == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


@FIXTURE_OK
@given(m=manifests())
def test_built_manifests_validate(m: Manifest, schema_check: Callable[..., list[str]]) -> None:
    _assert_valid(m.raw, m.media_type, schema_check)
    again = Manifest.from_bytes(m.raw, m.media_type)
    assert again == m and again.digest == m.digest == Digest.of(m.raw)
    assert again.to_json() == json.loads(m.raw)


@FIXTURE_OK
@given(i=indexes())
def test_built_indexes_validate(i: Index, schema_check: Callable[..., list[str]]) -> None:
    _assert_valid(i.raw, i.media_type, schema_check)
    again = parse_document(i.raw)
    assert isinstance(again, Index) and again.manifests == i.manifests
    assert again.to_json() == json.loads(i.raw)


@FIXTURE_OK
@given(i=indexes(), extra=descriptors(with_platform=True))
def test_amended_indexes_validate(
    i: Index, extra: Descriptor, schema_check: Callable[..., list[str]]
) -> None:
    amended = i.with_manifest(extra)
    _assert_valid(amended.raw, amended.media_type, schema_check)
    assert extra in amended.manifests
    removed = amended.without(extra.digest)
    _assert_valid(removed.raw, removed.media_type, schema_check)
    assert all(d.digest != extra.digest for d in removed.manifests)


@FIXTURE_OK
@given(c=image_configs())
def test_built_configs_validate(c: ImageConfig, schema_check: Callable[..., list[str]]) -> None:
    _assert_valid(c.raw, mediatype.OCI_CONFIG, schema_check)
    _assert_valid(c.raw, mediatype.DOCKER_CONFIG, schema_check)
    again = ImageConfig.from_bytes(c.raw)
    assert again.to_json() == json.loads(c.raw)
    assert again.config == c.config and again.history == c.history and again.extra == c.extra


@FIXTURE_OK
@given(c=image_configs(), more=st.lists(histories, max_size=2), cc=container_configs)
def test_evolved_configs_validate_and_keep_unknown_members(
    c: ImageConfig, more: list[History], cc: ContainerConfig, schema_check: Callable[..., list[str]]
) -> None:
    evolved = c.evolve(
        history=(*c.history, *more), config=cc, diff_ids=(*c.diff_ids, Digest.of(b"new"))
    )
    _assert_valid(evolved.raw, mediatype.OCI_CONFIG, schema_check)
    assert evolved.extra == c.extra
    assert evolved.history == (*c.history, *more)
    assert evolved.diff_ids[-1] == Digest.of(b"new")


# --- bytes in, same digest out ----------------------------------------------------------------


@st.composite
def formatted(draw: st.DrawFn, doc: Any) -> bytes:
    """``doc`` as some JSON writer might format it: indentation, spacing, key order, escapes."""
    if draw(st.booleans()):
        items = list(doc.items())
        doc = dict(draw(st.permutations(items)))
    text = json.dumps(
        doc,
        indent=draw(st.sampled_from([None, 0, 2, 3, "\t"])),
        separators=draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,", " : ")])),
        ensure_ascii=draw(st.booleans()),
    )
    return (
        draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", "\n", "\r\n"]))
    ).encode()


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_any_formatting_parses_to_the_digest_of_its_bytes(data: st.DataObject) -> None:
    built = data.draw(st.one_of(manifests(), indexes()))
    raw = data.draw(formatted(json.loads(built.raw)))
    doc = parse_document(raw, built.media_type)
    assert doc.raw is raw
    assert str(doc.digest) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert doc.size == len(raw)
    assert doc.to_json() == built.to_json()
    assert doc.descriptor().digest == doc.digest


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_config_formatting_keeps_digest_and_content(data: st.DataObject) -> None:
    built = data.draw(image_configs())
    raw = data.draw(formatted(json.loads(built.raw)))
    c = ImageConfig.from_bytes(raw)
    assert c.raw is raw
    assert c.digest == Digest.of(raw)
    assert (c.digest == built.digest) == (raw == built.raw)
    assert c.to_json() == json.loads(built.raw)
