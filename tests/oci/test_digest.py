"""Digest strictness: one spelling per blob, and only algorithms anyarch can verify."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyarch.errors import DigestMismatchError, InvalidDigestError
from anyarch.oci import Digest

HEX64 = "5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
HEX128 = hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    "text",
    [f"sha256:{HEX64}", f"sha512:{HEX128}", f"sha256:{'0' * 64}"],
    ids=["sha256", "sha512", "zeros"],
)
def test_valid_digests_round_trip(text: str) -> None:
    d = Digest.parse(text)
    assert str(d) == text
    assert d.algorithm == text.split(":")[0]
    assert d.hex == d.encoded == text.split(":")[1]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"sha256:{HEX64.upper()}", "lower-case"),
        (f"sha256:{HEX64[:-1]}", "64"),
        (f"sha256:{HEX64}0", "64"),
        (f"sha512:{HEX64}", "128"),
        (f"sha256:{HEX64[:-1]}g", "lower-case hex"),
        (f"SHA256:{HEX64}", "algorithm:encoded"),
        (f"sha384:{'a' * 96}", "unsupported"),
        (f"md5:{'a' * 32}", "unsupported"),
        (f"sha256+b64:{HEX64}", "unsupported"),
        ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "unsupported"),
        (f"sha256+foo+-b:{HEX64}", "algorithm:encoded"),
        (HEX64, "algorithm:encoded"),
        (f":{HEX64}", "algorithm:encoded"),
        ("sha256:", "algorithm:encoded"),
        ("sha256", "algorithm:encoded"),
        ("", "algorithm:encoded"),
        (f"sha256:{HEX64}\n", "algorithm:encoded"),
        (f" sha256:{HEX64}", "algorithm:encoded"),
        (f"sha256:{HEX64[:32]}:{HEX64[32:]}", "algorithm:encoded"),
    ],
    ids=[
        "upper-hex",
        "short",
        "long",
        "sha512-short",
        "non-hex",
        "upper-algorithm",
        "sha384",
        "md5",
        "sha256+b64",
        "multihash",
        "repeated-separators",
        "no-algorithm",
        "empty-algorithm",
        "empty-encoded",
        "no-colon",
        "empty",
        "trailing-newline",
        "leading-space",
        "two-colons",
    ],
)
def test_invalid_digests_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidDigestError) as e:
        Digest.parse(text)
    assert reason in e.value.message
    assert e.value.hint


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(b"sha256:" + HEX64.encode())  # type: ignore[arg-type]


def test_constructor_checks_too() -> None:
    with pytest.raises(InvalidDigestError):
        Digest("sha256", HEX64.upper())
    with pytest.raises(InvalidDigestError):
        Digest("sha1", "a" * 40)


def test_of_hashes_the_bytes() -> None:
    assert str(Digest.of(b"")) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert Digest.of(b"x", "sha512").hex == HEX128
    with pytest.raises(InvalidDigestError):
        Digest.of(b"x", "md5")


def test_short_is_twelve_hex_characters() -> None:
    assert Digest.parse(f"sha256:{HEX64}").short == "5b0bcabd1ed2"


def test_verify() -> None:
    d = Digest.of(b"hello")
    d.verify(b"hello")
    with pytest.raises(DigestMismatchError) as e:
        d.verify(b"hellO", what="layer")
    assert "layer hashes to" in e.value.message


def test_digests_are_values() -> None:
    a, b = Digest.parse(f"sha256:{HEX64}"), Digest.parse(f"sha256:{HEX64}")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert sorted([Digest.of(b"2"), Digest.of(b"1")]) == sorted([Digest.of(b"1"), Digest.of(b"2")])


@given(st.binary(), st.sampled_from(["sha256", "sha512"]))
def test_parse_of_str_is_identity(data: bytes, algorithm: str) -> None:
    d = Digest.of(data, algorithm)
    assert Digest.parse(str(d)) == d
    assert d.hex == hashlib.new(algorithm, data).hexdigest()


@given(st.text())
def test_parse_accepts_only_the_canonical_form(text: str) -> None:
    try:
        d = Digest.parse(text)
    except InvalidDigestError:
        return
    assert str(d) == text
