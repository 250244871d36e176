"""Turn registry answers into anyarch's one-line errors with hints.

The distribution spec puts machine-readable codes in the body
(``{"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}``); we keep the code and the
short message, drop ``detail`` (it can be huge), and never echo request
headers, so nothing secret can end up in a message.
"""

from __future__ import annotations

import json
from typing import Any

from anyarch.errors import (
    AuthenticationError,
    BlobNotFoundError,
    ImageNotFoundError,
    RegistryError,
    RegistryProtocolError,
)
from anyarch.registry._http import Response, TransportError

#: Cap on how much of an error body we read: enough for any JSON error.
_ERROR_BODY_LIMIT = 64 * 1024


def read_limited(response: Response, limit: int = _ERROR_BODY_LIMIT) -> bytes:
    """Up to ``limit`` bytes of a (possibly streamed) body; the rest is discarded."""
    if not response.is_stream_consumed:
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes(min(limit, 1 << 16)):
                chunks.append(chunk)
                total += len(chunk)
                if total >= limit:
                    break
        except TransportError:
            pass
        finally:
            response.close()
        return b"".join(chunks)[:limit]
    try:
        return response.content[:limit]
    except RuntimeError:  # closed before anything was read
        return b""


def error_codes(body: bytes) -> list[tuple[str, str]]:
    """``(code, message)`` pairs from a distribution-spec error body."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        return []
    out: list[tuple[str, str]] = []
    for err in doc["errors"]:
        if isinstance(err, dict):
            out.append((str(err.get("code", "")), str(err.get("message", ""))))
    return out


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(response: Response, body: bytes) -> str:
    """``"manifest unknown (MANIFEST_UNKNOWN)"`` or ``"HTTP 502 Bad Gateway"``."""
    codes = error_codes(body)
    if codes:
        parts = [f"{msg or code.lower()} ({code})" if code else msg for code, msg in codes]
        return _one_line("; ".join(p for p in parts if p))
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def error_for(
    response: Response, what: str, *, kind: str = "manifest", registry: str = ""
) -> RegistryError | ImageNotFoundError | BlobNotFoundError:
    """The exception for a failed answer about ``what`` (a reference or repository).

    ``kind`` says what was asked for (``manifest``, ``blob``, ``repository``,
    ``upload``) so a 404 becomes the right not-found error.
    """
    body = read_limited(response)
    reason = describe(response, body)
    status = response.status_code
    codes = {code for code, _ in error_codes(body)}
    host = registry or what.split("/", 1)[0]
    if status == 401:
        return AuthenticationError(
            f"{what}: authentication required or credentials rejected ({reason})",
            hint=f"log in with `anyarch login {host}`, or check the user's access to this repository",
        )
    if status == 403 or "DENIED" in codes:
        return AuthenticationError(
            f"{what}: access denied by the registry ({reason})",
            hint="the account is logged in but lacks permission for this repository or action",
        )
    if status == 404:
        if kind == "blob" or "BLOB_UNKNOWN" in codes:
            return BlobNotFoundError(
                f"{what}: blob not found ({reason})",
                hint="the image references a layer the registry does not have; re-push the image",
            )
        if "NAME_UNKNOWN" in codes or kind == "repository":
            return ImageNotFoundError(
                f"{what}: repository not found ({reason})",
                hint="check the repository name (and that you are logged in if it is private)",
            )
        return ImageNotFoundError(
            f"{what}: {kind} not found ({reason})",
            hint="check the tag or digest; the image may not have been pushed",
        )
    if status == 405:
        return RegistryProtocolError(
            f"{what}: the registry does not allow this operation ({reason})",
            hint="the registry may be read-only or have deletion disabled",
        )
    if status == 413:
        return RegistryProtocolError(
            f"{what}: the registry refused the {kind} as too large ({reason})",
            hint="check the registry's size limits",
        )
    if status >= 500 or status in (408, 429):
        return RegistryError(
            f"{what}: the registry kept failing ({reason})",
            hint="the registry is overloaded or broken; try again later",
        )
    return RegistryProtocolError(
        f"{what}: unexpected answer from the registry ({reason})",
        hint="the registry may not implement the OCI distribution spec fully; run with --debug",
    )


def check(
    response: Response,
    what: str,
    *,
    ok: tuple[int, ...] = (200,),
    kind: str = "manifest",
    registry: str = "",
) -> Response:
    """Return ``response`` if its status is in ``ok``, else raise the matching error."""
    if response.status_code in ok:
        return response
    raise error_for(response, what, kind=kind, registry=registry)
