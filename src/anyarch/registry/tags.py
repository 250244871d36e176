"""Tag listing with ``Link``-header pagination.

Registries may cap a tags page (``?n=``) and point to the next page with
``Link: </v2/R/tags/list?last=X&n=N>; rel="next"``; some ignore ``n`` and send
everything.  Both shapes end up as one list in the registry's order.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from anyarch.errors import RegistryProtocolError
from anyarch.registry.responses import check
from anyarch.registry.scopes import pull_scope
from anyarch.registry.transport import Transport

#: compiled (and cached by ``re``) on first use: only tag listings read Link headers
_LINK = r"<([^>]*)>\s*((?:;\s*[^;,]+)*)"
#: A guard against a registry whose "next" links go round in circles.
MAX_PAGES = 100_000


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, if any."""
    if not header:
        return None
    for m in re.finditer(_LINK, header):
        params = m.group(2)
        if re.search(r';\s*rel\s*=\s*"?next"?', params):
            return m.group(1)
    return None


def list_tags(t: Transport, repository: str, *, page_size: int | None = None) -> list[str]:
    """Every tag of ``repository``, following pagination."""
    what = f"{t.registry}/{repository}"
    url: str | None = f"/v2/{repository}/tags/list"
    params: dict[str, str] | None = {"n": str(page_size)} if page_size else None
    tags: list[str] = []
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        if url is None:
            return tags
        full = t.url(url)
        if full in seen:
            raise RegistryProtocolError(
                f"{what}: the registry's tag pages loop",
                hint="report this to the registry operator",
            )
        seen.add(full)
        resp = t.request("GET", full, what=what, scopes=(pull_scope(repository),), params=params)
        check(resp, what, ok=(200,), kind="repository", registry=t.registry)
        try:
            doc: Any = json.loads(resp.content)
        except ValueError:
            doc = None
        page = doc.get("tags") if isinstance(doc, dict) else None
        if page is None and isinstance(doc, dict):
            page = []
        if not isinstance(page, list) or not all(isinstance(x, str) for x in page):
            raise RegistryProtocolError(
                f"{what}: the registry's tag list is malformed",
                hint="the registry does not follow the distribution spec for tags/list",
            )
        tags.extend(page)
        link = next_link(resp.headers.get("link"))
        url = urljoin(resp.url, link) if link else None
        params = None
    raise RegistryProtocolError(
        f"{what}: more than {MAX_PAGES} tag pages", hint="report this to the registry operator"
    )
