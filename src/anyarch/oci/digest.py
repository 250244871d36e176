"""Content digests (``algorithm:encoded``), strict so that a digest names exactly one blob.

A digest is how every blob in a store or registry is addressed, so a sloppy
parser is a security bug: ``sha256:ABC…`` and ``sha256:abc…`` must not both be
accepted as "the same" blob, and a digest whose algorithm anyarch cannot compute
must be refused up front rather than trusted unverified.  The grammar is the one
of image-spec ``descriptor.md``; of the registered algorithms anyarch supports
``sha256`` (64 lower-case hex characters) and ``sha512`` (128).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from anyarch.errors import DigestMismatchError, InvalidDigestError

__all__ = ["ALGORITHMS", "Digest"]

#: Supported algorithm → length of its hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

# image-spec descriptor.md:
#   digest                ::= algorithm ":" encoded
#   algorithm             ::= algorithm-component (algorithm-separator algorithm-component)*
#   algorithm-component   ::= [a-z0-9]+
#   algorithm-separator   ::= [+._-]
#   encoded               ::= [a-zA-Z0-9=_-]+
# ``\Z`` (not ``$``): ``$`` would also match before a trailing newline.
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z")
_LOWER_HEX = re.compile(r"[0-9a-f]+\Z")

_HINT_FORM = "a digest looks like sha256:<64 lower-case hex characters>"


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated ``algorithm:hex`` digest; ``str(d)`` gives it back."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        _check(self.algorithm, self.hex, f"{self.algorithm}:{self.hex}")

    @classmethod
    def parse(cls, s: str) -> Digest:
        """Parse ``s`` strictly; raise :class:`InvalidDigestError` when it is not a usable digest."""
        if not isinstance(s, str):
            raise InvalidDigestError(
                f"invalid digest {s!r}: expected a string, not {type(s).__name__}", hint=_HINT_FORM
            )
        if not _GRAMMAR.match(s):
            raise InvalidDigestError(
                f"invalid digest {s!r}: not of the form algorithm:encoded", hint=_HINT_FORM
            )
        algorithm, _, encoded = s.partition(":")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm not in ALGORITHMS:
            raise InvalidDigestError(
                f"unsupported digest algorithm {algorithm!r}",
                hint=f"supported algorithms: {', '.join(ALGORITHMS)}",
            )
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        """The part after the colon (image-spec calls it "encoded")."""
        return self.hex

    @property
    def short(self) -> str:
        """The first 12 hex characters, as ``docker images`` shows IDs."""
        return self.hex[:12]

    def verify(self, data: bytes, *, what: str = "content") -> None:
        """Raise :class:`DigestMismatchError` unless ``data`` hashes to this digest."""
        got = Digest.of(data, self.algorithm)
        if got != self:
            raise DigestMismatchError(
                f"{what} hashes to {got}, expected {self}",
                hint="the content is corrupt or was tampered with; fetch it again",
            )


def _check(algorithm: object, encoded: object, shown: str) -> None:
    if not isinstance(algorithm, str) or not isinstance(encoded, str):
        raise InvalidDigestError(
            f"invalid digest {shown!r}: algorithm and hex must be strings", hint=_HINT_FORM
        )
    if not _GRAMMAR.match(f"{algorithm}:{encoded}"):
        raise InvalidDigestError(
            f"invalid digest {shown!r}: not of the form algorithm:encoded", hint=_HINT_FORM
        )
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise InvalidDigestError(
            f"invalid digest {shown!r}: unsupported algorithm {algorithm!r}",
            hint=f"anyarch can verify only {' and '.join(ALGORITHMS)} digests",
        )
    if len(encoded) != length or not _LOWER_HEX.match(encoded):
        raise InvalidDigestError(
            f"invalid digest {shown!r}: {algorithm} needs exactly {length} lower-case hex characters",
            hint=_HINT_FORM,
        )
