"""Image references, normalised exactly as Docker normalises them.

Users type ``busybox``, ``user/app:1`` or ``localhost:5000/app@sha256:…`` and
expect anyarch to mean what ``docker pull`` means.  The rules here are those of
``github.com/distribution/reference`` (``regexp.go``, ``normalize.go``,
``reference.go``): the same grammar, the same decision of whether the first
path component is a registry, the same ``docker.io/library/`` expansion and the
same "familiar" shortening for display.

Deliberate differences from the Go package, each because a silent surprise is
worse than an error:

* a first component that *looks* like a registry (it contains ``.`` or ``:``)
  but is not a valid host (``foo_bar.com/app``) is refused; Go would quietly
  turn the whole string into a registry-less path;
* every :class:`Reference` has a registry; there is no registry-less form;
* the familiar form of a Docker Hub repository whose namespace looks like a
  registry (``docker.io/localhost/app``) keeps ``docker.io/``; Go's would
  read back as another image.

Pure: no I/O.  The module only parses and formats strings.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass

from anyarch.errors import InvalidReferenceError

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "DOCKER_HUB_API_REGISTRY",
    "REPOSITORY_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "Reference",
    "is_loopback_registry",
    "parse_reference",
]

#: Docker Hub's canonical registry name, as it appears in normalised references.
DEFAULT_REGISTRY = "docker.io"
#: The host that actually serves Docker Hub's distribution API.
DOCKER_HUB_API_REGISTRY = "registry-1.docker.io"
#: Docker Hub's old name ("the Docker Index"); normalised to ``docker.io``.
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
#: Namespace of Docker Hub's official images: ``busybox`` is ``library/busybox``.
OFFICIAL_REPO_PREFIX = "library/"
#: Tag given to a reference that names neither a tag nor a digest.
DEFAULT_TAG = "latest"
#: Longest repository path distribution/reference accepts (the registry is not counted).
REPOSITORY_MAX_LENGTH = 255
#: Longest tag the grammar allows.
TAG_MAX_LENGTH = 128

# --- the grammar, transcribed from distribution/reference regexp.go ----------
# Go's RE2 and Python's re agree on these constructs; \w is ASCII-only in Go,
# hence re.ASCII, and [[:xdigit:]] is spelled out.

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALPHANUMERIC + r"(?:" + _SEPARATOR + _ALPHANUMERIC + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + r"(?:\." + _DOMAIN_NAME_COMPONENT + r")*"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6_ADDRESS + r")"
_DOMAIN_AND_PORT = _HOST + r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

# Compiled at import: what every parse of a valid tagged reference uses.  Patterns
# needed only to explain an error or to check a digest stay strings (``re`` compiles
# and caches them on first use): every command parses references, few parse digests.
_REMOTE_NAME_RE = re.compile(_REMOTE_NAME)
_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_ALGORITHM = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
_HEX = r"[0-9a-fA-F]+"
#: The whole grammar; used as a final guard so that nothing the piecewise
#: checks below let through can disagree with Go's single regular expression.
_REFERENCE_RE = re.compile(
    r"(?:"
    + _DOMAIN_AND_PORT
    + r"/)?"
    + _REMOTE_NAME
    + r"(?::"
    + _TAG
    + r")?(?:@"
    + _DIGEST
    + r")?",
    re.ASCII,
)

#: Digest algorithms a registry can serve (OCI image-spec "registered
#: algorithms"), with the length of their lowercase hex encoding.  go-digest
#: refuses algorithms whose hash is not linked in; Docker links these two.
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}

_ALLOWED_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@[]+"
)

_FORM_HINT = "an image reference looks like [REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST], e.g. docker.io/library/busybox:1.36"


def _fail(ref: str, what: str, hint: str = _FORM_HINT) -> InvalidReferenceError:
    return InvalidReferenceError(f"invalid image reference {ref!r}: {what}", hint=hint)


@dataclass(frozen=True, slots=True)
class Reference:
    """A fully normalised image reference.

    Every instance is canonical (``docker.io/library/busybox``, never
    ``busybox`` or ``index.docker.io/busybox``), so two references to the same
    image compare equal and ``parse_reference(str(ref), default_tag=None) ==
    ref`` always holds; ``__post_init__`` refuses anything else rather than
    letting a non-canonical value leak into the store's tag index.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        shown = _join(self.registry, self.repository, self.tag, self.digest)
        problem = _registry_problem(self.registry)
        if problem is not None:
            raise _fail(shown, *problem)
        if self.registry == LEGACY_DEFAULT_REGISTRY:
            raise _fail(
                shown,
                f"registry {LEGACY_DEFAULT_REGISTRY!r} is not canonical",
                hint=f"use {DEFAULT_REGISTRY!r}; parse_reference() normalises it",
            )
        if not _is_registry_like(self.registry):
            # "foo/app" is read back as docker.io/foo/app, so a registry named
            # "foo" could never survive str() -> parse_reference().
            raise _fail(
                shown,
                f"registry {self.registry!r} would be read as a Docker Hub namespace",
                hint="a registry needs a '.', a ':PORT' or an uppercase letter, or must be 'localhost'",
            )
        problem = _repository_problem(self.repository)
        if problem is not None:
            raise _fail(shown, *problem)
        if self.registry == DEFAULT_REGISTRY and "/" not in self.repository:
            raise _fail(
                shown,
                "Docker Hub repositories have a namespace",
                hint=f"official images live under 'library/': use 'library/{self.repository}'",
            )
        if self.tag is not None:
            problem = _tag_problem(self.tag)
            if problem is not None:
                raise _fail(shown, *problem)
        if self.digest is not None:
            problem = _digest_problem(self.digest)
            if problem is not None:
                raise _fail(shown, *problem)

    def __str__(self) -> str:
        """The fully qualified form, e.g. ``docker.io/library/busybox:latest``."""
        return _join(self.registry, self.repository, self.tag, self.digest)

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The name as ``docker images`` shows it: ``busybox``, ``user/app``, ``host:5000/app``."""
        if self.registry != DEFAULT_REGISTRY:
            return self.name
        if self.repository.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.repository[len(OFFICIAL_REPO_PREFIX) :]
            # Like Go's familiarizeName: a nested "library/a/b" keeps its prefix,
            # otherwise it would read back as docker.io/a/b.
            if "/" not in rest:
                return rest
        if _is_registry_like(self.repository.partition("/")[0]):
            # Unlike Go: a Hub namespace such as "localhost" or "a.b" would read
            # back as a registry, so the familiar form keeps "docker.io/".
            return self.name
        return self.repository

    @property
    def familiar(self) -> str:
        """Docker's ``FamiliarString``: ``busybox:latest``, ``user/app:1``, ``x@sha256:…``."""
        out = self.familiar_name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    @property
    def identifier(self) -> str | None:
        """What to ask a registry's manifest endpoint for: the digest wins, as it pins content."""
        return self.digest if self.digest is not None else self.tag

    @property
    def api_registry(self) -> str:
        """The host to contact: Docker Hub's API is not served at ``docker.io``."""
        return DOCKER_HUB_API_REGISTRY if self.registry == DEFAULT_REGISTRY else self.registry

    def with_tag(self, tag: str) -> Reference:
        """Same repository (and digest, as Go's ``WithTag`` keeps it) with ``tag``."""
        return dataclasses.replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """Same repository (and tag, as Go's ``WithDigest`` keeps it) with ``digest``."""
        return dataclasses.replace(self, digest=digest)


def _join(registry: str, repository: str, tag: str | None, digest: str | None) -> str:
    out = f"{registry}/{repository}"
    if tag is not None:
        out += ":" + tag
    if digest is not None:
        out += "@" + digest
    return out


def _is_registry_like(first: str) -> bool:
    """normalize.go's splitDockerDomain: is the first path component a registry?"""
    return first == "localhost" or any(c in first for c in ".:") or first.lower() != first


def _registry_problem(registry: str) -> tuple[str, str] | None:
    if _DOMAIN_RE.fullmatch(registry):
        return None
    hint = "a registry is HOST[:PORT]: a DNS name, an IPv4 address or a bracketed IPv6 address"
    if not registry:
        return "registry is empty", hint
    if registry.startswith("[") or registry.count(":") > 1:
        return (
            f"registry {registry!r} is not a valid host: an IPv6 address must be in "
            "brackets, without a zone",
            "write an IPv6 registry like [::1]:5000",
        )
    _, colon, port = registry.partition(":")
    if colon and not (port.isascii() and port.isdecimal()):
        return f"registry {registry!r} has an invalid port {port!r}", hint
    return (
        f"registry {registry!r} is not a valid host name: labels are letters, digits "
        "and inner '-', separated by dots",
        hint,
    )


def _repository_problem(path: str) -> tuple[str, str] | None:
    """Explain why ``path`` is not a remote-name, or return None if it is one."""
    if _REMOTE_NAME_RE.fullmatch(path) and len(path) <= REPOSITORY_MAX_LENGTH:
        return None
    hint = (
        "repository components are lowercase letters and digits, joined by '.', '_', '__' "
        "or dashes, separated by '/'"
    )
    if not path:
        return "repository name is empty", hint
    if path.lower() != path:
        return (
            f"repository name {path!r} must be lowercase",
            "write the repository name in lowercase",
        )
    if len(path) > REPOSITORY_MAX_LENGTH:
        return (
            f"repository name is {len(path)} characters long, more than {REPOSITORY_MAX_LENGTH}",
            "shorten the repository path",
        )
    for i, component in enumerate(path.split("/")):
        if not component:
            where = (
                "ends with '/'"
                if i and i == path.count("/")
                else "has an empty component ('//' or a leading '/')"
            )
            return f"repository name {path!r} {where}", hint
        if not re.fullmatch(_PATH_COMPONENT, component):
            bad = sorted(
                {c for c in component if not (c.isascii() and (c.isalnum() or c in "._-"))}
            )
            if bad:
                return (
                    f"repository component {component!r} has invalid character"
                    f"{'s' if len(bad) > 1 else ''} {' '.join(repr(c) for c in bad)}",
                    hint,
                )
            return (
                f"repository component {component!r} must start and end with a letter or digit "
                "and not repeat '.' or mix separators",
                hint,
            )
    return f"repository name {path!r} is invalid", hint  # pragma: no cover - defensive


def _tag_problem(tag: str) -> tuple[str, str] | None:
    if _TAG_RE.fullmatch(tag):
        return None
    hint = (
        f"a tag is 1 to {TAG_MAX_LENGTH} letters, digits, '_', '.' and '-', "
        "not starting with '.' or '-'"
    )
    if not tag:
        return "tag is empty after ':'", hint
    if len(tag) > TAG_MAX_LENGTH:
        return f"tag is {len(tag)} characters long, more than {TAG_MAX_LENGTH}", hint
    if tag[0] in ".-":
        return f"tag {tag!r} starts with {tag[0]!r}", hint
    return f"tag {tag!r} has invalid characters", hint


def _digest_problem(digest: str) -> tuple[str, str] | None:
    hint = "a digest is sha256: followed by 64 lowercase hex digits (or sha512: and 128)"
    algorithm, colon, encoded = digest.partition(":")
    if not (colon and re.fullmatch(_ALGORITHM, algorithm) and re.fullmatch(_HEX, encoded)):
        return f"digest {digest!r} is not of the form ALGORITHM:HEX", hint
    want = _DIGEST_HEX_LENGTHS.get(algorithm)
    if want is None:
        return f"digest algorithm {algorithm!r} is not supported", hint
    if encoded.lower() != encoded:
        return f"{algorithm} digest must be lowercase hex", hint
    if len(encoded) != want:
        return f"{algorithm} digest has {len(encoded)} hex digits, not {want}", hint
    return None


def _first_bad_char(s: str) -> tuple[int, str] | None:
    for i, c in enumerate(s):
        if c not in _ALLOWED_CHARS:
            return i, c
    return None


def parse_reference(s: str, *, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse what a user typed into a canonical :class:`Reference`.

    Follows Docker's ``ParseNormalizedNamed``: a first component is a registry
    only if it is ``localhost`` or contains ``.``, ``:`` or an uppercase
    letter; otherwise the reference is on Docker Hub, where a single name is an
    official image under ``library/``.  ``default_tag`` is added when the
    reference has neither a tag nor a digest (pass None to keep it bare); a
    digest pins content, so no tag is invented beside it.
    """
    if not s:
        raise _fail(
            s, "it is empty", hint="name an image, e.g. 'busybox' or 'localhost:5000/app:1'"
        )
    bad = _first_bad_char(s)
    if bad is not None:
        pos, char = bad
        what = "whitespace" if char.isspace() else f"invalid character {char!r}"
        raise _fail(s, f"{what} at position {pos + 1}")
    if _IDENTIFIER_RE.fullmatch(s):
        raise _fail(
            s,
            "a 64-character hex string is an image ID, not a repository name",
            hint="use the ID with 'sha256:' as a digest after a name, e.g. 'app@sha256:…'",
        )

    rest, at, digest = s.partition("@")
    if at:
        if "@" in digest:
            raise _fail(s, "more than one '@'")
        if not digest:
            raise _fail(
                s,
                "digest is empty after '@'",
                hint="a digest is sha256: followed by 64 lowercase hex digits",
            )
    if rest.startswith("[") and "/" not in rest:
        # Otherwise the colons inside the brackets would be taken for a tag.
        raise _fail(s, "an IPv6 registry needs a repository after it, e.g. [::1]:5000/app")
    # The tag separator is the last ':' with no '/' after it: a ':' before a
    # '/' can only be a registry port.
    tag: str | None = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1 :]
    if not rest:
        raise _fail(s, "repository name is empty")

    first, slash, remainder = rest.partition("/")
    if slash and _is_registry_like(first):
        registry = DEFAULT_REGISTRY if first == LEGACY_DEFAULT_REGISTRY else first
        path = remainder
        problem = _registry_problem(registry)
        if problem is not None:
            raise _fail(s, *problem)
    else:
        registry, path = DEFAULT_REGISTRY, rest
    # Judge the path as typed, so messages quote the user's words; then again
    # with Docker Hub's "library/" added, which only the length limit can fail.
    repo_problem = _repository_problem(path)
    if repo_problem is None and registry == DEFAULT_REGISTRY and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
        repo_problem = _repository_problem(path)
    if repo_problem is not None:
        raise _fail(s, *repo_problem)
    for value, check in ((tag, _tag_problem), (digest if at else None, _digest_problem)):
        if value is not None:
            problem = check(value)
            if problem is not None:
                raise _fail(s, *problem)
    # Belt and braces: the piecewise checks above must agree with Go's grammar.
    canonical = _join(registry, path, tag, digest if at else None)
    if not _REFERENCE_RE.fullmatch(canonical):  # pragma: no cover - defensive
        raise _fail(s, "it does not match the reference grammar")
    if tag is None and not at:
        tag = default_tag
    return Reference(registry, path, tag, digest if at else None)


def is_loopback_registry(registry: str) -> bool:
    """Whether ``registry`` (with or without ``:port``) is this machine.

    Such registries are spoken to over plain HTTP, as Docker does for
    ``localhost`` and 127.0.0.0/8: a test registry on loopback has no TLS, and
    traffic that never leaves the host has nothing to protect against.
    """
    host = registry
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        host = host[1:end]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
