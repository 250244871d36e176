"""Credentials as values that cannot leak by accident.

A :class:`Credential` never shows its secret in ``repr``/``str``, so it can
sit in dataclasses, log records and tracebacks safely.  A
:data:`CredentialSource` is any callable from a registry host to a
credential; the client asks it lazily, only when a registry demands auth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credential:
    """A username/password pair, or an identity (refresh) token.

    ``identity_token`` is what ``docker login`` stores for registries that
    hand out OAuth2 refresh tokens; when set, ``password`` is unused.
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        kind = "identity-token" if self.identity_token else "password"
        return f"Credential(username={self.username!r}, {kind}=<redacted>)"

    __str__ = __repr__

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to authenticate with."""
        return not (self.username or self.password or self.identity_token)


#: Registry host (``host[:port]``, as in a reference) → credential or ``None``.
CredentialSource = Callable[[str], Credential | None]


def anonymous(registry: str) -> Credential | None:
    """A credential source that never has anything: pull public images only."""
    del registry
    return None


def static_credentials(
    username: str = "", password: str = "", *, identity_token: str = ""
) -> CredentialSource:
    """A source that answers the same credential for every registry.

    Meant for a client bound to one registry (the CLI's ``-u``/``--password-stdin``).
    """
    cred = Credential(username, password, identity_token)

    def source(registry: str) -> Credential | None:
        del registry
        return cred

    return source
