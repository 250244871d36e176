"""Image references must mean what they mean to ``docker pull``.

Most cases are transcribed from github.com/distribution/reference
(normalize_test.go, reference_test.go); the id of each case is its input.
Where the Go test exercises the non-normalising ``Parse``, the expectation is
restated for ``ParseNormalizedNamed`` (single names go to docker.io/library).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyarch.errors import InvalidReferenceError
from anyarch.name import Reference, is_loopback_registry, parse_reference

H64 = "f" * 64
D = "sha256:" + H64
D2 = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"


# --- valid and invalid names (normalize_test.go: TestValidateReferenceName,
# TestValidateRemoteName) ------------------------------------------------------

VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]

INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    # reference_test.go TestReferenceParse error cases
    "",
    ":justtag",
    "@" + D,
    "repo@sha256:" + "f" * 34,
    "validname@invaliddigest:" + H64,
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    "domain/" + "a" * 256 + ":tag",
    "aa/asdf$$^/aa",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo",
    "[fe80::1%@invalidzone]:5000/repo",
]


@pytest.mark.parametrize("s", VALID_NAMES, ids=VALID_NAMES)
def test_valid_names_parse_and_are_canonical(s: str) -> None:
    ref = parse_reference(s)
    assert str(ref) == f"{ref.registry}/{ref.repository}:{ref.tag}"
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize("s", INVALID_NAMES, ids=[s[:60] for s in INVALID_NAMES])
def test_invalid_names_are_refused_naming_the_input(s: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(s)
    assert repr(s) in info.value.message
    assert "\n" not in info.value.message
    assert info.value.hint


# --- TestParseRepositoryInfo: familiar name, full name, domain, remote name ----

REPO_INFO = [
    # (remote, familiar, full, ambiguous, domain)
    ("fooo", "localhost/fooo", "localhost/fooo", "localhost/fooo", "localhost"),
    ("fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost"),
    ("fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN"),
    ("fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN"),
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "", "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "", "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", "", "example.com"),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase", "example.com:8000/private/moonbase", "", "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "", "example.com:8000"),
    ("library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base", "docker.io"),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]
REPO_INFO_CASES = [
    pytest.param(spelling, remote, familiar, full, domain, id=spelling)
    for remote, familiar, full, ambiguous, domain in REPO_INFO
    for spelling in dict.fromkeys(x for x in (familiar, full, ambiguous) if x)
]


@pytest.mark.parametrize(("s", "remote", "familiar", "full", "domain"), REPO_INFO_CASES)
def test_repository_info(s: str, remote: str, familiar: str, full: str, domain: str) -> None:
    ref = parse_reference(s, default_tag=None)
    assert ref.registry == domain
    assert ref.repository == remote
    assert ref.name == full
    assert str(ref) == full
    assert ref.familiar_name == familiar
    assert ref.familiar == familiar


# --- TestNormalizedSplitHostname ----------------------------------------------

SPLIT = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
    ("localhost:5000/app", "localhost:5000", "app"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000", "app"),
    ("[::1]:5000/app", "[::1]:5000", "app"),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo"),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo"),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux"),
    ("foo/foo_bar.com", "docker.io", "foo/foo_bar.com"),
]


@pytest.mark.parametrize(("s", "registry", "repository"), SPLIT, ids=[c[0] for c in SPLIT])
def test_registry_and_repository_split(s: str, registry: str, repository: str) -> None:
    ref = parse_reference(s)
    assert (ref.registry, ref.repository) == (registry, repository)


# --- TestReferenceParse, restated for normalised parsing ----------------------

PARSE = [
    # (input, registry, repository, tag, digest)
    ("test_com", "docker.io", "library/test_com", None, None),
    ("test.com:tag", "docker.io", "library/test.com", "tag", None),
    ("test.com:5000", "docker.io", "library/test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "repo", "tag", None),
    ("test:5000/repo", "test:5000", "repo", None, None),
    ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
    ("test:5000/repo@" + D, "test:5000", "repo", None, D),
    ("test:5000/repo:tag@" + D, "test:5000", "repo", "tag", D),
    ("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", None),
    ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io", "a/" * 127 + "a", "tag-puts-this-over-max", None),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", None),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
    ("xn--7o8h.com/myimage:xn--7o8h.com@" + D, "xn--7o8h.com", "myimage", "xn--7o8h.com", D),
    ("foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", "docker.io", "library/192.168.1.1", None, None),
    ("192.168.1.1:tag", "docker.io", "library/192.168.1.1", "tag", None),
    ("192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", None, None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    ("[2001:db8::1]:5000/repo:tag@" + D, "[2001:db8::1]:5000", "repo", "tag", D),
    ("example.com/" + "a" * 255 + ":tag", "example.com", "a" * 255, "tag", None),
    ("busybox:latest@" + D2, "docker.io", "library/busybox", "latest", D2),
    ("validname@sha512:" + "f" * 128, "docker.io", "library/validname", None, "sha512:" + "f" * 128),
    ("x:" + "T" * 128, "docker.io", "library/x", "T" * 128, None),
    ("x:_underscore.tag-1", "docker.io", "library/x", "_underscore.tag-1", None),
]


@pytest.mark.parametrize(
    ("s", "registry", "repository", "tag", "digest"), PARSE, ids=[c[0][:70] for c in PARSE]
)
def test_parse(s: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    assert parse_reference(s, default_tag=None) == Reference(registry, repository, tag, digest)


# --- ParseDockerRef / ParseAnyReference: default tag and canonical strings ----

CANONICAL = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox@" + D2, "docker.io/library/busybox@" + D2, "busybox@" + D2),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest", "gcr.io/library/busybox:latest"),
    # Docker's ParseDockerRef would drop the tag here; we keep both, as the
    # user wrote both (and `docker pull` sends the digest, see identifier).
    ("gcr.io/library/busybox:latest@" + D2, "gcr.io/library/busybox:latest@" + D2, "gcr.io/library/busybox:latest@" + D2),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest", "dmcgowan/myapp:latest"),
    ("dmcgowan/myapp@" + D2, "docker.io/dmcgowan/myapp@" + D2, "dmcgowan/myapp@" + D2),
    ("user/app:1", "docker.io/user/app:1", "user/app:1"),
    ("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest", "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest"),
    ("dbcc1", "docker.io/library/dbcc1:latest", "dbcc1:latest"),
    ("localhost/repo", "localhost/repo:latest", "localhost/repo:latest"),
    ("localhost:5000/repo:1", "localhost:5000/repo:1", "localhost:5000/repo:1"),
    ("index.docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
]


@pytest.mark.parametrize(("s", "full", "familiar"), CANONICAL, ids=[c[0][:70] for c in CANONICAL])
def test_canonical_and_familiar_strings(s: str, full: str, familiar: str) -> None:
    ref = parse_reference(s)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_default_tag_is_configurable_and_never_added_beside_a_digest() -> None:
    assert parse_reference("busybox", default_tag=None).tag is None
    assert parse_reference("busybox", default_tag="edge").tag == "edge"
    assert parse_reference("busybox@" + D).tag is None
    assert parse_reference("busybox:1@" + D).tag == "1"


# --- accessors ----------------------------------------------------------------


def test_identifier_prefers_the_digest() -> None:
    assert parse_reference("busybox").identifier == "latest"
    assert parse_reference("busybox:1@" + D).identifier == D
    assert parse_reference("busybox@" + D).identifier == D
    assert parse_reference("busybox", default_tag=None).identifier is None


@pytest.mark.parametrize(
    ("s", "api"),
    [
        ("busybox", "registry-1.docker.io"),
        ("index.docker.io/user/app", "registry-1.docker.io"),
        ("quay.io/org/app", "quay.io"),
        ("localhost:5000/app", "localhost:5000"),
        ("[::1]:5000/app", "[::1]:5000"),
    ],
)
def test_api_registry(s: str, api: str) -> None:
    assert parse_reference(s).api_registry == api


@pytest.mark.parametrize("repository", ["localhost/app", "a.b/app", "0.0/0"])
def test_familiar_form_keeps_the_hub_when_the_namespace_looks_like_a_registry(
    repository: str,
) -> None:
    # Go's FamiliarString gives "localhost/app", which reads back as another image.
    ref = Reference("docker.io", repository, "1")
    assert ref.familiar == f"docker.io/{repository}:1"
    assert parse_reference(ref.familiar) == ref


def test_name_and_familiar_name() -> None:
    ref = parse_reference("busybox:1")
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    ref = parse_reference("localhost:5000/a/b:1")
    assert ref.name == ref.familiar_name == "localhost:5000/a/b"


# --- WithTag / WithDigest (reference_test.go) ----------------------------------

WITH_TAG = [
    ("test.com/foo", None, "tag", "test.com/foo:tag"),
    ("foo", None, "tag2", "docker.io/library/foo:tag2"),
    ("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
    ("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
    ("test.com:8000/foo", D, "TAG5", f"test.com:8000/foo:TAG5@{D}"),
    ("test.com:8000/foo:old", None, "new", "test.com:8000/foo:new"),
]


@pytest.mark.parametrize(("name", "digest", "tag", "combined"), WITH_TAG, ids=[c[3] for c in WITH_TAG])
def test_with_tag_keeps_the_digest(name: str, digest: str | None, tag: str, combined: str) -> None:
    ref = parse_reference(name, default_tag=None)
    if digest:
        ref = ref.with_digest(digest)
    assert str(ref.with_tag(tag)) == combined


def test_with_digest_keeps_the_tag() -> None:
    ref = parse_reference("test.com:8000/foo:tag")
    assert str(ref.with_digest(D)) == f"test.com:8000/foo:tag@{D}"
    assert str(parse_reference("foo", default_tag=None).with_digest(D)) == f"docker.io/library/foo@{D}"


@pytest.mark.parametrize("tag", ["-foo", ".foo", "", "a" * 129, "a/b", "a:b", "a@b"])
def test_with_tag_refuses_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidReferenceError, match="tag"):
        parse_reference("busybox").with_tag(tag)


@pytest.mark.parametrize(
    "digest",
    ["foo", "sha256:" + "f" * 63, "sha256:" + "F" * 64, "md5:" + "f" * 32, "sha256:" + "g" * 64, "sha512:" + H64],
)
def test_with_digest_refuses_invalid_digests(digest: str) -> None:
    with pytest.raises(InvalidReferenceError, match="digest"):
        parse_reference("busybox").with_digest(digest)


# --- the value type keeps its invariants ----------------------------------------


@pytest.mark.parametrize(
    ("registry", "repository", "why"),
    [
        ("docker.io", "busybox", "namespace"),
        ("index.docker.io", "library/busybox", "not canonical"),
        ("myhost", "app", "Docker Hub namespace"),
        ("", "app", "registry is empty"),
        ("foo_bar.com", "app", "not a valid host"),
        ("example.com:http", "app", "invalid port"),
        ("example.com", "App", "lowercase"),
        ("example.com", "", "empty"),
    ],
)
def test_reference_refuses_non_canonical_values(registry: str, repository: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError, match=why):
        Reference(registry, repository)


def test_reference_is_a_frozen_hashable_value() -> None:
    ref = parse_reference("busybox")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, parse_reference("docker.io/library/busybox:latest")} == {ref}
    assert not hasattr(ref, "__dict__")


# --- error messages -----------------------------------------------------------

ERRORS = [
    ("", "it is empty"),
    ("Uppercase:tag", "repository name 'Uppercase' must be lowercase"),
    ("docker.io/docker/Docker", "repository name 'docker/Docker' must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("busy box", "whitespace at position 5"),
    ("busybox\n", "whitespace at position 8"),
    ("aa/asdf$$^/aa", "invalid character '$' at position 8"),
    ("ünïcode", "invalid character 'ü' at position 1"),
    ("x:" + "a" * 129, "tag is 129 characters long, more than 128"),
    ("x:-a", "tag '-a' starts with '-'"),
    ("x:", "tag is empty"),
    ("x@", "digest is empty"),
    ("x@sha256:" + "f" * 34, "sha256 digest has 34 hex digits, not 64"),
    ("x@sha256:" + "F" * 64, "must be lowercase hex"),
    ("x@sha256:xyz", "not of the form ALGORITHM:HEX"),
    ("x@md5:" + "f" * 32, "digest algorithm 'md5' is not supported"),
    ("x@" + D + "@" + D, "more than one '@'"),
    ("example.com/" + "a" * 256, "repository name is 256 characters long, more than 255"),
    ("domain/" + "a" * 256, "repository name is 263 characters long"),  # "domain" is a Hub namespace
    ("a" * 248, "repository name is 256 characters long"),  # library/ counts, as in Go
    ("docker///docker", "empty component"),
    ("docker/", "ends with '/'"),
    ("-docker", "component '-docker' must start and end with a letter or digit"),
    ("dock..er/docker", "registry 'dock..er' is not a valid host name"),  # has a '.'
    ("docker/dock..er", "component 'dock..er'"),
    ("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "image ID"),
    ("foo_bar.com/app", "registry 'foo_bar.com' is not a valid host name"),
    ("host:abc/app", "registry 'host:abc' has an invalid port 'abc'"),
    ("fc00::1:5000/debian", "IPv6 address must be in brackets"),
    ("[::1]:5000", "IPv6 registry needs a repository"),
    (":justtag", "repository name is empty"),
]


@pytest.mark.parametrize(("s", "message"), ERRORS, ids=[c[0][:40] for c in ERRORS])
def test_error_messages_say_what_is_wrong(s: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(s)
    err = info.value
    assert err.message.startswith(f"invalid image reference {s!r}: ")
    assert message in err.message
    assert "\n" not in err.message.replace(repr(s), "")
    assert err.hint
    assert err.exit_code == 4


# --- loopback registries --------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3:80", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("docker.io", False),
        ("registry-1.docker.io", False),
        ("192.168.1.1:5000", False),
        ("128.0.0.1", False),
        ("0.0.0.0:5000", False),
        ("[2001:db8::1]:5000", False),
        ("localhost.example.com", False),
        ("mylocalhost:5000", False),
        ("[::1", False),
        ("", False),
    ],
)
def test_is_loopback_registry(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback


# --- properties -------------------------------------------------------------------

# Go's grammar, transcribed independently of anyarch.name, as an oracle.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
GO_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?",
    re.ASCII,
)

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alnum,
    st.lists(st.tuples(separator, alnum), max_size=3),
)
path = st.lists(component, min_size=1, max_size=4).map("/".join)
label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
port = st.integers(0, 65535).map(str)
registry = st.one_of(
    st.just("docker.io"),
    st.just("localhost"),
    st.builds(lambda p: f"localhost:{p}", port),
    st.builds(lambda ls: ".".join(ls), st.lists(label, min_size=2, max_size=4)),
    st.builds(lambda h, p: f"{h}:{p}", label, port),
    st.builds(lambda ip, p: f"{ip}:{p}", st.ip_addresses(v=4).map(str), port),
    st.builds(lambda ip, p: f"[{ip}]:{p}", st.ip_addresses(v=6).map(lambda a: a.exploded), port),
    st.builds(lambda ip: f"[{ip}]", st.ip_addresses(v=6).map(str).filter(lambda a: "." not in a)),
).filter(lambda r: r != "index.docker.io")
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True)
digest = st.one_of(
    st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"sha512:[0-9a-f]{128}", fullmatch=True),
)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    reg = draw(registry)
    repo = draw(path)
    if reg == "docker.io" and "/" not in repo:
        repo = "library/" + repo
    return Reference(reg, repo, draw(st.none() | tag), draw(st.none() | digest))


@given(references())
def test_round_trip_through_the_canonical_string(ref: Reference) -> None:
    text = str(ref)
    assert GO_REFERENCE.fullmatch(text), text
    assert parse_reference(text, default_tag=None) == ref


@given(references())
def test_round_trip_through_the_familiar_string(ref: Reference) -> None:
    assert parse_reference(ref.familiar, default_tag=None) == ref


@given(st.text(alphabet="abcAB09.:/@-_[]%", max_size=40))
def test_anything_either_parses_to_valid_grammar_or_is_a_reference_error(s: str) -> None:
    try:
        ref = parse_reference(s)
    except InvalidReferenceError as err:
        assert repr(s) in err.message
        return
    # Go parses what we accept: the normalised form matches its grammar...
    assert GO_REFERENCE.fullmatch(str(ref))
    # ...and only the registry part is rewritten on the way.
    assert parse_reference(str(ref)) == ref
    assert str(parse_reference(s, default_tag=None)).endswith(s.rpartition("/")[2])
