"""One exception tree for everything anyarch reports to a user.

Every error carries a one-line ``message`` (what went wrong, naming the file,
reference, platform or node it concerns) and an optional ``hint`` (what to do
about it).  The CLI maps each class to a documented exit code through
``exit_code`` and never prints a traceback for an :class:`AnyarchError`
(``--debug`` shows it).  Internal bugs are anything *not* in this tree.

Exit codes (also in ``docs/commands.md``):

====  =====================================================================
0     success
1     generic failure, or ``anyarch check`` found errors
2     command-line usage error (unknown flag, missing argument)
3     something named does not exist (image, tag, blob, stage, context)
4     invalid input (reference, platform, Dockerfile, manifest, template)
5     registry or network failure (unreachable, refused, auth, protocol)
6     integrity failure (digest mismatch, corrupt store)
7     build failure (a RUN step failed, a COPY source is missing)
8     host cannot do it (emulation or OCI runtime missing, no overlayfs)
9     build farm failure (no capable node, node lost)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

from typing import NamedTuple


class AnyarchError(Exception):
    """Root of every error anyarch reports to its user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AnyarchError):
    """The command line is wrong in a way the option parser cannot see."""

    exit_code = 2


# --- 3: not found -----------------------------------------------------------


class NotFoundError(AnyarchError):
    """Something the user named does not exist."""

    exit_code = 3


class ImageNotFoundError(NotFoundError):
    """No image by that reference in the store or registry."""


class BlobNotFoundError(NotFoundError):
    """A blob a manifest points to is missing."""


class PlatformNotFoundError(NotFoundError):
    """An index has no entry for the requested platform."""


# --- 4: invalid input -------------------------------------------------------


class InvalidInputError(AnyarchError):
    """The user (or a document they gave us) supplied something malformed."""

    exit_code = 4


class InvalidReferenceError(InvalidInputError):
    """An image reference that does not parse."""


class InvalidPlatformError(InvalidInputError):
    """A platform specifier that does not parse."""


class InvalidDigestError(InvalidInputError):
    """A digest string that is not ``algorithm:hex`` of the right length."""


class InvalidDocumentError(InvalidInputError):
    """A manifest, index, config or layout file that breaks the OCI spec."""


class UnsupportedMediaTypeError(InvalidDocumentError):
    """A media type anyarch does not know how to handle."""


class TemplateError(InvalidInputError):
    """A ``--format``/``-f`` Go template that anyarch cannot run."""


class SourceLocation(NamedTuple):
    """Where in a file an error is: 1-based line and column.

    A NamedTuple rather than a frozen dataclass: as immutable and comparable,
    but ~0.2 ms to define instead of ~1.5 ms, and every command imports this module.
    """

    file: str
    line: int
    column: int = 1
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class DockerfileError(InvalidInputError):
    """A Dockerfile that does not parse or plan; names file:line:column."""

    def __init__(
        self, message: str, *, location: SourceLocation | None = None, hint: str | None = None
    ) -> None:
        self.location = location
        full = f"{location}: {message}" if location else message
        super().__init__(full, hint=hint)
        self.reason = message


# --- 5: registry ------------------------------------------------------------


class RegistryError(AnyarchError):
    """A registry refused, failed, or could not be reached."""

    exit_code = 5


class RegistryUnreachableError(RegistryError):
    """Connection refused, DNS failure, TLS failure, timeout after retries."""


class AuthenticationError(RegistryError):
    """The registry rejected our credentials or we had none."""


class RegistryProtocolError(RegistryError):
    """The registry answered something the distribution spec does not allow."""


# --- 6: integrity -----------------------------------------------------------


class IntegrityError(AnyarchError):
    """Bytes do not match their digest, or the store is inconsistent."""

    exit_code = 6


class DigestMismatchError(IntegrityError):
    """Content whose digest differs from the one it was requested by."""


class StoreCorruptError(IntegrityError):
    """The local store's layout is damaged."""


# --- 7: build ---------------------------------------------------------------


class BuildError(AnyarchError):
    """A build step failed."""

    exit_code = 7


# --- 8: host ----------------------------------------------------------------


class HostCapabilityError(AnyarchError):
    """This machine lacks something needed: emulation, a runtime, a mount."""

    exit_code = 8


class EmulationUnavailableError(HostCapabilityError):
    """No binfmt_misc handler can run binaries of the requested platform."""


class RuntimeMissingError(HostCapabilityError):
    """Neither crun nor runc is installed."""


# --- 9: farm ----------------------------------------------------------------


class FarmError(AnyarchError):
    """The build farm could not place or finish the work."""

    exit_code = 9


class NodeError(FarmError):
    """A farm node is unreachable or failed."""
