"""Media-type questions every other module asks."""

from __future__ import annotations

import pytest

from anyarch.errors import UnsupportedMediaTypeError
from anyarch.oci import mediatype as mt


def test_indexes_and_manifests() -> None:
    assert mt.is_index(mt.OCI_INDEX) and mt.is_index(mt.DOCKER_MANIFEST_LIST)
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert not mt.is_manifest(mt.OCI_INDEX) and not mt.is_index(mt.OCI_MANIFEST)
    assert not mt.is_manifest(mt.DOCKER_SCHEMA1_SIGNED)
    assert mt.is_schema1(mt.DOCKER_SCHEMA1_MANIFEST) and mt.is_schema1(mt.DOCKER_SCHEMA1_SIGNED)


def test_parameters_are_ignored() -> None:
    assert mt.is_manifest(mt.OCI_MANIFEST + "; charset=utf-8")
    assert mt.essence(" application/json ; q=1") == "application/json"


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mt.OCI_LAYER, None),
        (mt.OCI_LAYER_GZIP, "gzip"),
        (mt.OCI_LAYER_ZSTD, "zstd"),
        (mt.OCI_LAYER_NONDIST, None),
        (mt.OCI_LAYER_NONDIST_GZIP, "gzip"),
        (mt.OCI_LAYER_NONDIST_ZSTD, "zstd"),
        (mt.DOCKER_LAYER, "gzip"),
        (mt.DOCKER_LAYER_TAR, None),
        (mt.DOCKER_FOREIGN_LAYER, "gzip"),
    ],
)
def test_layer_compression(media_type: str, compression: str | None) -> None:
    assert mt.is_layer(media_type)
    assert mt.layer_compression(media_type) == compression


@pytest.mark.parametrize("media_type", [mt.OCI_CONFIG, mt.OCI_MANIFEST, "application/octet-stream"])
def test_compression_of_a_non_layer_is_an_error(media_type: str) -> None:
    assert not mt.is_layer(media_type)
    with pytest.raises(UnsupportedMediaTypeError):
        mt.layer_compression(media_type)


def test_docker_foreign_and_config() -> None:
    assert mt.is_docker(mt.DOCKER_LAYER) and not mt.is_docker(mt.OCI_LAYER_GZIP)
    assert mt.is_foreign(mt.DOCKER_FOREIGN_LAYER) and mt.is_foreign(mt.OCI_LAYER_NONDIST_GZIP)
    assert not mt.is_foreign(mt.OCI_LAYER_GZIP)
    assert mt.is_config(mt.OCI_CONFIG) and mt.is_config(mt.DOCKER_CONFIG)
    assert not mt.is_config(mt.OCI_EMPTY)
    assert mt.EMPTY_JSON == "application/vnd.oci.empty.v1+json"


def test_check_document_explains_schema1() -> None:
    mt.check_document(mt.OCI_INDEX)
    with pytest.raises(UnsupportedMediaTypeError) as e:
        mt.check_document(mt.DOCKER_SCHEMA1_SIGNED)
    assert "schema 1" in e.value.message and e.value.hint
    with pytest.raises(UnsupportedMediaTypeError):
        mt.check_document(mt.OCI_CONFIG)


@pytest.mark.parametrize(
    ("media_type", "ok"),
    [
        ("application/vnd.oci.image.manifest.v1+json", True),
        ("text/plain", True),
        ("a" * 127 + "/" + "b" * 127, True),
        ("a" * 128 + "/b", False),
        ("application", False),
        (".foo/bar", False),
        ("foo/.bar", False),
        ("text/plain; charset=utf-8", False),
        ("text/plain\n", False),
        ("", False),
    ],
)
def test_is_valid(media_type: str, ok: bool) -> None:
    assert mt.is_valid(media_type) is ok
