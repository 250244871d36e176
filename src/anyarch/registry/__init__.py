"""OCI distribution client: the only part of anyarch that speaks HTTP.

Use :class:`RegistryClient`; credentials come from a :data:`CredentialSource`
such as :class:`DockerConfig` (docker's ``config.json``) or
:func:`static_credentials`.

The names below are imported on first use (PEP 562): a copy needs the client
and the docker config, not the referrers or tag-listing code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyarch._util.lazy import lazy_attributes

if TYPE_CHECKING:
    from anyarch.registry.auth_config import DockerConfig, default_config_path
    from anyarch.registry.blobs import BlobReader
    from anyarch.registry.client import PingResult, RegistryClient
    from anyarch.registry.credentials import (
        Credential,
        CredentialSource,
        anonymous,
        static_credentials,
    )
    from anyarch.registry.manifests import (
        MANIFEST_MEDIA_TYPES,
        MAX_MANIFEST_SIZE,
        FetchedManifest,
        ManifestInfo,
    )
    from anyarch.registry.referrers import fallback_tag
    from anyarch.registry.retry import RetryPolicy
    from anyarch.registry.uploads import BlobSource

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "MAX_MANIFEST_SIZE",
    "BlobReader",
    "BlobSource",
    "Credential",
    "CredentialSource",
    "DockerConfig",
    "FetchedManifest",
    "ManifestInfo",
    "PingResult",
    "RegistryClient",
    "RetryPolicy",
    "anonymous",
    "default_config_path",
    "fallback_tag",
    "static_credentials",
]

_WHERE = {
    "MANIFEST_MEDIA_TYPES": "manifests",
    "MAX_MANIFEST_SIZE": "manifests",
    "BlobReader": "blobs",
    "BlobSource": "uploads",
    "Credential": "credentials",
    "CredentialSource": "credentials",
    "DockerConfig": "auth_config",
    "FetchedManifest": "manifests",
    "ManifestInfo": "manifests",
    "PingResult": "client",
    "RegistryClient": "client",
    "RetryPolicy": "retry",
    "anonymous": "credentials",
    "default_config_path": "auth_config",
    "fallback_tag": "referrers",
    "static_credentials": "credentials",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
