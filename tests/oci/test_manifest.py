"""Manifests: parsed from exact bytes, built canonically, refused with reasons."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from anyarch.errors import InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import (
    EMPTY_JSON_DESCRIPTOR,
    Descriptor,
    Digest,
    Manifest,
    Platform,
    mediatype,
    validate,
)

CONFIG = Descriptor.of(
    b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    mediatype.OCI_CONFIG,
)
LAYER = Descriptor.of(b"layer", mediatype.OCI_LAYER_GZIP)

PRETTY = b"""{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
      "size": 32654
    }
  ],
  "annotations": {"com.example.key1": "value1"},
  "x-vendor": {"kept": [1, 2]}
}
"""


def test_parse_keeps_the_exact_bytes_and_digests_them() -> None:
    m = Manifest.from_bytes(PRETTY)
    assert m.raw is PRETTY
    assert m.digest == Digest("sha256", hashlib.sha256(PRETTY).hexdigest())
    assert m.size == len(PRETTY)
    assert m.media_type == mediatype.OCI_MANIFEST
    assert m.config.size == 7023 and len(m.layers) == 1
    assert m.annotations == {"com.example.key1": "value1"}
    assert m.extra == {"x-vendor": {"kept": (1, 2)}}
    assert m.to_json() == json.loads(PRETTY)


def test_parsed_fields_cannot_drift_from_raw() -> None:
    m = Manifest.from_bytes(PRETTY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.layers = ()  # type: ignore[misc]
    with pytest.raises(ValueError):
        dataclasses.replace(m, layers=())


def test_equality_is_byte_equality() -> None:
    a = Manifest.from_bytes(PRETTY)
    b = Manifest.from_bytes(bytes(PRETTY))
    c = Manifest.from_bytes(PRETTY.replace(b"  ", b" "))
    assert a == b and hash(a) == hash(b)
    assert a != c and a.digest != c.digest
    assert a.to_json() == c.to_json()


def test_media_type_comes_from_the_document_or_the_caller() -> None:
    doc = json.loads(PRETTY)
    del doc["mediaType"]
    raw = json.dumps(doc).encode()
    assert Manifest.from_bytes(raw).media_type == mediatype.OCI_MANIFEST
    assert (
        Manifest.from_bytes(raw, mediatype.DOCKER_MANIFEST).media_type == mediatype.DOCKER_MANIFEST
    )
    assert Manifest.from_bytes(PRETTY, mediatype.OCI_MANIFEST + "; charset=utf-8").media_type == (
        mediatype.OCI_MANIFEST
    )


def test_build_is_canonical_and_valid() -> None:
    m = Manifest.build(CONFIG, [LAYER], annotations={"a": "b"})
    assert m.raw == json.dumps(m.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert validate.problems(m.raw, m.media_type) == []
    assert Manifest.from_bytes(m.raw) == m
    again = Manifest.build(CONFIG, [LAYER], annotations={"a": "b"})
    assert again.digest == m.digest  # reproducible


def test_build_docker_manifest() -> None:
    config = dataclasses.replace(CONFIG, media_type=mediatype.DOCKER_CONFIG)
    layer = dataclasses.replace(LAYER, media_type=mediatype.DOCKER_LAYER)
    m = Manifest.build(config, [layer], media_type=mediatype.DOCKER_MANIFEST)
    assert json.loads(m.raw)["mediaType"] == mediatype.DOCKER_MANIFEST
    with pytest.raises(InvalidDocumentError):
        Manifest.build(config, [layer], media_type=mediatype.DOCKER_MANIFEST, subject=LAYER)


def test_build_artifact_with_empty_config_and_subject() -> None:
    subject = Manifest.build(CONFIG, [LAYER]).descriptor()
    m = Manifest.build(
        EMPTY_JSON_DESCRIPTOR,
        [EMPTY_JSON_DESCRIPTOR],
        artifact_type="application/vnd.example.sbom.v1+json",
        subject=subject,
    )
    assert m.subject == subject
    d = m.descriptor()
    assert d.artifact_type == "application/vnd.example.sbom.v1+json"
    assert validate.problems(m.raw, mediatype.OCI_MANIFEST) == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"layers": []}, "without layers"),
        ({"media_type": mediatype.OCI_INDEX}, "media type"),
        ({"artifact_type": "not a media type"}, "artifactType"),
        ({"annotations": {"a": 1}}, "annotations"),
        ({"extra": {"layers": []}}, "modelled fields"),
        (
            {"layers": [dataclasses.replace(LAYER, urls=("relative/path",))]},
            "absolute URI",
        ),
    ],
    ids=[
        "no-layers",
        "index-media-type",
        "bad-artifact-type",
        "bad-annotation",
        "extra-clash",
        "relative-url",
    ],
)
def test_build_refuses_what_would_be_invalid(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"config": CONFIG, "layers": [LAYER]}
    args.update(kwargs)
    with pytest.raises(InvalidDocumentError) as e:
        Manifest.build(**args)  # type: ignore[arg-type]
    assert fragment in e.value.message
    assert e.value.hint


def test_descriptor_points_at_the_manifest() -> None:
    m = Manifest.build(CONFIG, [LAYER])
    d = m.descriptor(Platform("linux", "arm64"), annotations={"k": "v"})
    assert (d.media_type, d.digest, d.size) == (m.media_type, m.digest, len(m.raw))
    assert d.platform == Platform("linux", "arm64")
    d.verify(m.raw)


def test_empty_layers_are_read() -> None:
    # BuildKit writes "layers": [] for FROM scratch images; reading must work.
    doc = json.loads(PRETTY)
    doc["layers"] = []
    assert Manifest.from_bytes(json.dumps(doc).encode()).layers == ()


def _mutated(**changes: object) -> bytes:
    doc = json.loads(PRETTY)
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("raw", "media_type", "error", "fragment"),
    [
        (b"", None, InvalidDocumentError, "not valid JSON"),
        (b"[]", None, InvalidDocumentError, "expected a JSON object"),
        (b"\xef\xbb\xbf" + PRETTY, None, InvalidDocumentError, "byte-order mark"),
        (b"\xff" + PRETTY, None, InvalidDocumentError, "not UTF-8"),
        (PRETTY.replace(b"7023", b"NaN"), None, InvalidDocumentError, "NaN"),
        (
            PRETTY.replace(b'"schemaVersion": 2,', b'"schemaVersion": 2, "schemaVersion": 2,'),
            None,
            InvalidDocumentError,
            "appears twice",
        ),
        (_mutated(schemaVersion=None), None, InvalidDocumentError, "schemaVersion is required"),
        (_mutated(schemaVersion=3), None, InvalidDocumentError, "schemaVersion must be 2"),
        (_mutated(schemaVersion="2"), None, InvalidDocumentError, "must be an integer"),
        (_mutated(config=None), None, InvalidDocumentError, "config is required"),
        (_mutated(layers=None), None, InvalidDocumentError, "layers is required"),
        (_mutated(layers={}), None, InvalidDocumentError, "layers must be an array"),
        (
            _mutated(mediaType=mediatype.OCI_INDEX),
            None,
            InvalidDocumentError,
            "not an image manifest",
        ),
        (PRETTY, mediatype.DOCKER_MANIFEST, InvalidDocumentError, "contradicts"),
        (PRETTY, mediatype.OCI_INDEX, UnsupportedMediaTypeError, "not an image manifest"),
        (PRETTY, mediatype.DOCKER_SCHEMA1_SIGNED, UnsupportedMediaTypeError, "schema 1"),
        (b'{"schemaVersion": 1, "fsLayers": []}', None, UnsupportedMediaTypeError, "schema 1"),
        (b'{"schemaVersion": 2, "manifests": []}', None, UnsupportedMediaTypeError, "image index"),
        (
            _mutated(layers=[{"mediaType": "x/y", "digest": "sha256:abc", "size": 1}]),
            None,
            InvalidDocumentError,
            "layers[0].digest",
        ),
        (_mutated(subject="nope"), None, InvalidDocumentError, "subject must be an object"),
        (_mutated(annotations={"a": 1}), None, InvalidDocumentError, "annotations['a']"),
        (b"[" * 100000 + b"]" * 100000, None, InvalidDocumentError, "nested too deeply"),
    ],
    ids=[
        "empty",
        "array",
        "bom",
        "not-utf8",
        "nan",
        "duplicate-key",
        "no-schema-version",
        "schema-version-3",
        "schema-version-string",
        "no-config",
        "no-layers",
        "layers-object",
        "index-media-type-inside",
        "served-as-docker",
        "served-as-index",
        "served-as-schema1",
        "schema1-body",
        "index-body",
        "short-digest",
        "subject-string",
        "annotation-number",
        "deep-nesting",
    ],
)
def test_broken_manifests_are_refused_with_reasons(
    raw: bytes, media_type: str | None, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as e:
        Manifest.from_bytes(raw, media_type)
    assert fragment in str(e.value)
