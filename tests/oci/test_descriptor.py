"""Descriptors: checked on construction, JSON with OCI names and no empty fields."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyarch.errors import DigestMismatchError, InvalidDocumentError
from anyarch.oci import EMPTY_JSON_DESCRIPTOR, Descriptor, Digest, FrozenMap, Platform, mediatype

D = Digest.of(b"content")


def test_minimal_json_omits_empty_fields() -> None:
    desc = Descriptor(mediatype.OCI_LAYER_GZIP, D, 7)
    assert desc.to_json() == {"mediaType": mediatype.OCI_LAYER_GZIP, "digest": str(D), "size": 7}
    assert Descriptor.from_json(desc.to_json()) == desc


def test_full_round_trip() -> None:
    desc = Descriptor(
        mediatype.OCI_MANIFEST,
        Digest.of(b"{}"),
        2,
        urls=("https://example.com/blob",),
        annotations={"org.opencontainers.image.ref.name": "v1"},
        platform=Platform("linux", "arm", variant="v7"),
        artifact_type="application/vnd.example+json",
        data=b"{}",
    )
    j = desc.to_json()
    assert j["data"] == "e30="
    assert j["platform"] == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert j["urls"] == ["https://example.com/blob"]
    back = Descriptor.from_json(j)
    assert back == desc and hash(back) == hash(desc)
    assert isinstance(back.urls, tuple)


def test_annotations_are_immutable_and_hashable() -> None:
    source = {"a": "1"}
    desc = Descriptor(mediatype.OCI_CONFIG, D, 7, annotations=source)
    source["a"] = "changed"
    assert desc.annotations == {"a": "1"}
    assert isinstance(desc.annotations, FrozenMap)
    with pytest.raises(TypeError):
        desc.annotations["b"] = "2"  # type: ignore[index]
    assert len({desc, Descriptor(mediatype.OCI_CONFIG, D, 7, annotations={"a": "1"})}) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"media_type": "invalid"},
        {"media_type": ""},
        {"size": -1},
        {"size": 1 << 63},
        {"size": True},
        {"size": 1.0},
        {"digest": str(D)},
        {"artifact_type": "foo/.bar"},
        {"urls": [""]},
        {"annotations": {"a": 1}},
    ],
    ids=lambda k: next(iter(k)) + "=" + repr(next(iter(k.values())))[:20],
)
def test_construction_refuses_broken_descriptors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"media_type": mediatype.OCI_LAYER, "digest": D, "size": 7}
    args.update(kwargs)
    with pytest.raises(InvalidDocumentError):
        Descriptor(**args)  # type: ignore[arg-type]


def test_embedded_data_must_match() -> None:
    with pytest.raises(DigestMismatchError):
        Descriptor(mediatype.OCI_EMPTY, D, 2, data=b"{}")
    with pytest.raises(DigestMismatchError):
        Descriptor(mediatype.OCI_EMPTY, Digest.of(b"{}"), 3, data=b"{}")


def test_empty_json_descriptor_is_the_spec_one() -> None:
    assert EMPTY_JSON_DESCRIPTOR.to_json() == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
        "data": "e30=",
    }


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"digest": str(D), "size": 1}, "mediaType is required"),
        ({"mediaType": "text/plain", "size": 1}, "digest is required"),
        ({"mediaType": "text/plain", "digest": str(D)}, "size is required"),
        ({"mediaType": "text/plain", "digest": str(D), "size": "1"}, "size must be an integer"),
        ({"mediaType": "text/plain", "digest": str(D), "size": 1.5}, "size must be an integer"),
        ({"mediaType": "text/plain", "digest": str(D).upper(), "size": 1}, "digest"),
        (
            {"mediaType": "text/plain", "digest": str(D), "size": 1, "urls": "x"},
            "urls must be an array",
        ),
        (
            {"mediaType": "text/plain", "digest": str(D), "size": 7, "data": "Y29udGVudA"},
            "padded standard base64",
        ),
        (
            {"mediaType": "text/plain", "digest": str(D), "size": 1, "platform": "linux"},
            "platform",
        ),
        (
            {"mediaType": "text/plain", "digest": str(D), "size": 1, "annotations": {"a": 1}},
            "annotations['a'] must be a string",
        ),
    ],
)
def test_from_json_names_the_problem(doc: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as e:
        Descriptor.from_json(doc, what="manifest", path="layers[3]")
    assert fragment in e.value.message
    assert "manifest" in e.value.message
    assert "layers[3]" in e.value.message


def test_from_json_reads_base64_with_line_breaks_as_go_does() -> None:
    doc = {"mediaType": "text/plain", "digest": str(D), "size": 7, "data": "Y29u\ndGVu\r\ndA=="}
    assert Descriptor.from_json(doc).data == b"content"


def test_verify() -> None:
    desc = Descriptor.of(b"abc", mediatype.OCI_LAYER)
    desc.verify(b"abc")
    with pytest.raises(DigestMismatchError):
        desc.verify(b"abd")
    with pytest.raises(DigestMismatchError):
        desc.verify(b"abcd")


@given(st.binary(max_size=64), st.booleans())
def test_of_and_json_round_trip(content: bytes, embed: bool) -> None:
    desc = Descriptor.of(content, "application/octet-stream", embed=embed)
    assert desc.size == len(content)
    j = desc.to_json()
    if embed:
        assert base64.b64decode(j["data"]) == content
    assert Descriptor.from_json(j) == desc
