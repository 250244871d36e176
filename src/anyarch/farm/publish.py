"""Publishing a farm build's index when the nodes pushed their images themselves.

With ``--push --node-push`` every node pushes its platform's manifest and
blobs by digest (``REPO@sha256:…``, no tag), so the coordinator never holds
them; it then only checks that each manifest is in the repository and puts
the index under the requested tags.  (Without ``--node-push`` the index and
everything it references are in the coordinator's store and are pushed from
there like any stored image.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from anyarch.errors import FarmError
from anyarch.name import Reference
from anyarch.oci import Descriptor, Index
from anyarch.registry import RegistryClient


def publish_index(
    connect: Callable[[str], RegistryClient],
    refs: Sequence[Reference],
    index: Descriptor,
    raw: bytes,
) -> list[str]:
    """Put ``raw`` (an index whose entries nodes already pushed) under every ``refs`` tag."""
    doc = Index.from_bytes(raw, index.media_type)
    pushed: list[str] = []
    clients: dict[str, RegistryClient] = {}
    for ref in refs:
        client = clients.get(ref.registry)
        if client is None:
            client = clients[ref.registry] = connect(ref.registry)
        for entry in doc.manifests:
            if client.head_manifest(ref.repository, entry.digest) is None:
                raise FarmError(
                    f"{ref.registry}/{ref.repository} lacks {entry.digest} "
                    f"({entry.platform or 'image'}), which its node should have pushed",
                    hint="every tag of a --node-push build must be in a repository the nodes pushed to",
                )
        client.put_manifest(ref.repository, ref.tag or "latest", raw, index.media_type)
        pushed.append(str(ref))
    return pushed


__all__ = ["publish_index"]
