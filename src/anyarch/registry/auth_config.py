"""Docker's ``config.json`` credentials, shared with docker and podman.

Users log in once, with whichever tool, and every tool pulls.  The file's
``auths`` map holds base64 ``user:password`` (or an ``identitytoken``);
``credsStore`` names a ``docker-credential-<name>`` helper for every
registry and ``credHelpers`` one per registry.  Helpers speak JSON on stdin/
stdout (``get``/``store``/``erase``).  Writes are atomic with mode 0600 and
keep every key we do not understand.

Docker Hub's entry is keyed ``https://index.docker.io/v1/``; other entries may
be ``host``, ``host:port`` or a URL with scheme and path, so lookups compare
normalised hosts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anyarch.errors import AnyarchError, AuthenticationError, InvalidInputError
from anyarch.registry.credentials import Credential

if TYPE_CHECKING:
    import subprocess

#: The key Docker Hub's credentials live under in ``auths``.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_HELPER_TIMEOUT = 30.0
_TOKEN_USERNAME = "<token>"


class CredentialHelperError(AuthenticationError):
    """A ``docker-credential-*`` helper is missing or failed."""


def default_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def normalize_key(key: str) -> str:
    """``https://host:port/v1/`` → ``host:port``; Docker Hub aliases → ``docker.io``."""
    host = key.strip()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    host = host.split("/", 1)[0].lower()
    return "docker.io" if host in _HUB_ALIASES else host


def _store_key(registry: str) -> str:
    """The key docker itself writes for ``registry``."""
    return DOCKER_HUB_KEY if normalize_key(registry) == "docker.io" else normalize_key(registry)


class DockerConfig:
    """Read and write one ``config.json``; use :meth:`lookup` as a ``CredentialSource``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_config_path()

    def __repr__(self) -> str:
        return f"DockerConfig({str(self.path)!r})"

    def __call__(self, registry: str) -> Credential | None:
        return self.lookup(registry)

    # --- reading ----------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """The file's JSON object (empty if it does not exist)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise InvalidInputError(
                f"{self.path}: cannot read the credentials file ({exc.strerror})",
                hint="check the file's permissions, or set DOCKER_CONFIG",
            )
        if not raw.strip():
            return {}
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise InvalidInputError(
                f"{self.path}: the credentials file is not valid JSON (line {getattr(exc, 'lineno', '?')})",
                hint="fix or remove the file, then log in again",
            )
        if not isinstance(doc, dict):
            raise InvalidInputError(
                f"{self.path}: the credentials file is not a JSON object",
                hint="fix or remove the file, then log in again",
            )
        return doc

    def helper_for(self, registry: str, doc: dict[str, Any] | None = None) -> str | None:
        """The credential helper name in charge of ``registry``, if any."""
        doc = self.load() if doc is None else doc
        wanted = normalize_key(registry)
        helpers = doc.get("credHelpers")
        if isinstance(helpers, dict):
            for key, name in helpers.items():
                if normalize_key(key) == wanted and isinstance(name, str) and name:
                    return name
        store = doc.get("credsStore")
        return store if isinstance(store, str) and store else None

    def lookup(self, registry: str) -> Credential | None:
        """The stored credential for ``registry``, or ``None``."""
        doc = self.load()
        helper = self.helper_for(registry, doc)
        if helper:
            cred = helper_get(helper, _store_key(registry))
            if cred is not None:
                return cred
        wanted = normalize_key(registry)
        auths = doc.get("auths")
        if not isinstance(auths, dict):
            return None
        for key, entry in auths.items():
            if normalize_key(key) == wanted and isinstance(entry, dict):
                cred = self._decode(key, entry)
                if cred is not None:
                    return cred
        return None

    def _decode(self, key: str, entry: dict[str, Any]) -> Credential | None:
        token = entry.get("identitytoken")
        username = entry.get("username") if isinstance(entry.get("username"), str) else ""
        password = entry.get("password") if isinstance(entry.get("password"), str) else ""
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            # imported here (and in login, _write): a command that is never asked for
            # credentials does not read or write the config, and pays nothing for them
            import base64
            import binascii

            try:
                decoded = base64.b64decode(auth, validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidInputError(
                    f"{self.path}: the 'auth' entry for {key} is not base64 'user:password'",
                    hint=f"log in to {normalize_key(key)} again",
                )
            username, sep, password = decoded.partition(":")
            if not sep:
                raise InvalidInputError(
                    f"{self.path}: the 'auth' entry for {key} lacks a ':' separator",
                    hint=f"log in to {normalize_key(key)} again",
                )
        if isinstance(token, str) and token:
            return Credential(username=str(username or ""), identity_token=token)
        if username or password:
            return Credential(str(username), str(password))
        return None

    # --- writing ----------------------------------------------------------

    def _write(self, doc: dict[str, Any]) -> None:
        from anyarch._util.fs import atomic_write_bytes

        data = (json.dumps(doc, indent="\t") + "\n").encode()
        atomic_write_bytes(self.path, data, mode=0o600)

    def login(self, registry: str, credential: Credential) -> None:
        """Store ``credential`` for ``registry`` (in its helper if one is configured)."""
        import base64

        doc = self.load()
        key = _store_key(registry)
        auths = doc.get("auths")
        if not isinstance(auths, dict):
            auths = {}
        # Drop other spellings of the same registry so lookups are unambiguous.
        for old in [k for k in auths if normalize_key(k) == normalize_key(registry)]:
            del auths[old]
        helper = self.helper_for(registry, doc)
        if helper:
            helper_store(helper, key, credential)
            auths[key] = {}
        elif credential.identity_token:
            auths[key] = {"identitytoken": credential.identity_token}
            if credential.username:
                auths[key]["auth"] = base64.b64encode(f"{credential.username}:".encode()).decode(
                    "ascii"
                )
        else:
            raw = f"{credential.username}:{credential.password}".encode()
            auths[key] = {"auth": base64.b64encode(raw).decode("ascii")}
        doc["auths"] = auths
        self._write(doc)

    def logout(self, registry: str) -> bool:
        """Forget ``registry``'s credentials; ``True`` if there were any."""
        doc = self.load()
        removed = False
        helper = self.helper_for(registry, doc)
        if helper:
            removed = helper_erase(helper, _store_key(registry)) or removed
        auths = doc.get("auths")
        if isinstance(auths, dict):
            for old in [k for k in auths if normalize_key(k) == normalize_key(registry)]:
                del auths[old]
                removed = True
            if removed:
                self._write(doc)
        return removed


# --- docker-credential-* helpers ----------------------------------------------


def _helper_binary(name: str) -> str:
    import shutil  # as subprocess below: with bz2 and lzma ~3 ms, paid only by helper users

    program = f"docker-credential-{name}"
    found = shutil.which(program)
    if found is None:
        raise CredentialHelperError(
            f"credential helper {program} is not installed",
            hint="install it, or remove 'credsStore'/'credHelpers' from the docker config.json",
        )
    return found


def _run_helper(name: str, action: str, payload: bytes) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # only configs with credential helpers pay for it at start-up

    program = _helper_binary(name)
    try:
        return subprocess.run(
            [program, action],
            input=payload,
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialHelperError(
            f"credential helper docker-credential-{name} {action} timed out",
            hint="the helper may be waiting for a keychain prompt; unlock it and retry",
        )
    except OSError as exc:
        raise CredentialHelperError(
            f"credential helper docker-credential-{name} could not run ({exc.strerror})",
            hint="check that the helper is installed and executable",
        )


def _not_found(proc: subprocess.CompletedProcess[bytes]) -> bool:
    return b"credentials not found" in (proc.stdout + proc.stderr).lower()


def helper_get(name: str, server: str) -> Credential | None:
    """``docker-credential-NAME get``; ``None`` when the helper has nothing."""
    proc = _run_helper(name, "get", server.encode())
    if proc.returncode != 0:
        if _not_found(proc):
            return None
        # The helper's own output could echo a secret: do not repeat it.
        raise CredentialHelperError(
            f"credential helper docker-credential-{name} failed for {normalize_key(server)}"
            f" (exit {proc.returncode})",
            hint=f"run `docker-credential-{name} list` to check the helper",
        )
    try:
        doc: Any = json.loads(proc.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise CredentialHelperError(
            f"credential helper docker-credential-{name} answered something that is not JSON",
            hint="the helper is broken or not a docker credential helper",
        )
    username = str(doc.get("Username") or "")
    secret = str(doc.get("Secret") or "")
    if not secret and not username:
        return None
    if username == _TOKEN_USERNAME:
        return Credential(identity_token=secret)
    return Credential(username, secret)


def helper_store(name: str, server: str, credential: Credential) -> None:
    """``docker-credential-NAME store``."""
    if credential.identity_token:
        user, secret = _TOKEN_USERNAME, credential.identity_token
    else:
        user, secret = credential.username, credential.password
    payload = json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()
    proc = _run_helper(name, "store", payload)
    if proc.returncode != 0:
        raise CredentialHelperError(
            f"credential helper docker-credential-{name} could not store credentials"
            f" for {normalize_key(server)} (exit {proc.returncode})",
            hint=f"run `docker-credential-{name} list` to check the helper",
        )


def helper_erase(name: str, server: str) -> bool:
    """``docker-credential-NAME erase``; ``True`` if it removed something."""
    try:
        proc = _run_helper(name, "erase", server.encode())
    except AnyarchError:
        return False
    return proc.returncode == 0 and not _not_found(proc)
