"""Indexes: the multi-arch image — build, amend, remove, find a platform."""

from __future__ import annotations

import json

import pytest

from anyarch.errors import ImageNotFoundError, InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import (
    Descriptor,
    Digest,
    Index,
    Manifest,
    Platform,
    mediatype,
    parse_document,
    validate,
)
from anyarch.oci import platform as pf

CONFIG = Descriptor.of(b"{}", mediatype.OCI_CONFIG)


def _image(arch: str, variant: str = "") -> Descriptor:
    layer = Descriptor.of(f"layer-{arch}{variant}".encode(), mediatype.OCI_LAYER_GZIP)
    return Manifest.build(CONFIG, [layer]).descriptor(Platform("linux", arch, variant=variant))


AMD64, ARM64, ARMV7 = _image("amd64"), _image("arm64"), _image("arm", "v7")


def test_build_and_parse() -> None:
    idx = Index.build([AMD64, ARM64], annotations={"org.opencontainers.image.version": "1"})
    assert validate.problems(idx.raw, mediatype.OCI_INDEX) == []
    back = Index.from_bytes(idx.raw, mediatype.OCI_INDEX)
    assert back == idx and back.raw is idx.raw
    assert back.manifests == (AMD64, ARM64)
    assert back.platforms == (Platform("linux", "amd64"), Platform("linux", "arm64"))
    assert back.digest == Digest.of(idx.raw)
    assert back.to_json() == json.loads(idx.raw)


def test_empty_index_is_valid() -> None:
    idx = Index.build([])
    assert idx.manifests == () and validate.is_valid(idx.raw, mediatype.OCI_INDEX)


def test_with_manifest_appends_or_replaces_by_digest() -> None:
    idx = Index.build([AMD64], annotations={"keep": "me"}, extra={"x-vendor": 1})
    two = idx.with_manifest(ARM64)
    assert two.manifests == (AMD64, ARM64)
    assert two.annotations == {"keep": "me"} and two.extra == {"x-vendor": 1}
    relabelled = Descriptor(
        AMD64.media_type, AMD64.digest, AMD64.size, platform=AMD64.platform, annotations={"a": "b"}
    )
    replaced = two.with_manifest(relabelled)
    assert replaced.manifests == (relabelled, ARM64)
    assert idx.manifests == (AMD64,)  # the original is untouched


def test_without_removes_and_refuses_unknown_digests() -> None:
    idx = Index.build([AMD64, ARM64, ARMV7])
    assert idx.without(ARM64.digest).manifests == (AMD64, ARMV7)
    assert idx.without(str(ARM64.digest)).manifests == (AMD64, ARMV7)
    with pytest.raises(ImageNotFoundError) as e:
        idx.without(Digest.of(b"nothing"))
    assert str(AMD64.digest) in (e.value.hint or "")


def test_find_by_platform_matcher_or_predicate() -> None:
    idx = Index.build([AMD64, ARM64, ARMV7])
    assert idx.find(Platform("linux", "arm64")) == ARM64
    assert idx.find(Platform("linux", "aarch64")) == ARM64  # normalised as containerd does
    assert idx.find(pf.parse("linux/arm/v7")) == ARMV7
    assert idx.find(pf.new_matcher(Platform("linux", "amd64"))) == AMD64
    assert idx.find(lambda p: p.architecture.startswith("arm")) == ARM64
    assert idx.find(Platform("linux", "s390x")) is None
    assert idx.find_all(lambda p: p.os == "linux") == (AMD64, ARM64, ARMV7)


def test_find_prefers_what_a_comparer_ranks_first() -> None:
    armv6 = _image("arm", "v6")
    idx = Index.build([armv6, ARMV7])
    # An arm/v7 host can run v6 and v7 images; containerd prefers v7.
    best = pf.only(Platform("linux", "arm", variant="v7"))
    assert idx.find_all(best) == (ARMV7, armv6)
    assert idx.find(best) == ARMV7


def test_docker_manifest_list() -> None:
    docker = [
        Descriptor(mediatype.DOCKER_MANIFEST, d.digest, d.size, platform=d.platform)
        for d in (AMD64, ARM64)
    ]
    idx = Index.build(docker, media_type=mediatype.DOCKER_MANIFEST_LIST)
    assert json.loads(idx.raw)["mediaType"] == mediatype.DOCKER_MANIFEST_LIST
    assert parse_document(idx.raw) == idx
    no_platform = Descriptor(mediatype.DOCKER_MANIFEST, AMD64.digest, AMD64.size)
    with pytest.raises(InvalidDocumentError) as e:
        Index.build([no_platform], media_type=mediatype.DOCKER_MANIFEST_LIST)
    assert "platform" in e.value.message


def test_build_refuses_a_manifest_media_type() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        Index.build([AMD64], media_type=mediatype.OCI_MANIFEST)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"schemaVersion": 2}', "manifests is required"),
        (b'{"schemaVersion": 2, "manifests": {}}', "manifests must be an array"),
        (b'{"schemaVersion": 2, "manifests": [1]}', "manifests[0] must be a JSON object"),
        (
            b'{"schemaVersion": 2, "manifests": [{"mediaType": "x/y", "size": 1, "digest": "sha256:0"}]}',
            "manifests[0].digest",
        ),
        (
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "manifests": []}',
            "not an image index",
        ),
        (b'{"schemaVersion": 2, "config": {}, "layers": []}', "image manifest"),
    ],
)
def test_broken_indexes_are_refused(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as e:
        Index.from_bytes(raw)
    assert fragment in e.value.message
