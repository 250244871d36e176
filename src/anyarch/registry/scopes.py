"""Token scopes (``repository:NAME:pull,push``) and whether one set covers another.

A push touches one repository many times (HEAD, POST, PATCH, PUT) and a
cross-repository mount also needs ``pull`` on the source.  Asking the token
service once for the widest scope and reusing that token for narrower
requests halves the round trips and avoids a token per request.
"""

from __future__ import annotations

from collections.abc import Iterable


def repository_scope(repository: str, *actions: str) -> str:
    """``repository:NAME:a,b`` with actions in a stable order."""
    acts = ",".join(sorted(set(actions or ("pull",))))
    return f"repository:{repository}:{acts}"


def pull_scope(repository: str) -> str:
    return repository_scope(repository, "pull")


def push_scope(repository: str) -> str:
    return repository_scope(repository, "pull", "push")


def delete_scope(repository: str) -> str:
    return repository_scope(repository, "pull", "push", "delete")


def repository_of(scope: str) -> str | None:
    """``NAME`` of a ``repository:NAME:actions`` scope, else ``None``."""
    parts = _split(scope)
    if parts is None or not parts[0].startswith("repository:"):
        return None
    return parts[0].split(":", 1)[1]


def _split(scope: str) -> tuple[str, frozenset[str]] | None:
    """``(type:name, actions)``; names may not hold ':' but types like ``repository(plugin)`` may."""
    head, sep, actions = scope.rpartition(":")
    if not sep or ":" not in head:
        return None
    return head, frozenset(a for a in actions.split(",") if a)


def normalize(scopes: Iterable[str]) -> tuple[str, ...]:
    """Merge actions per resource and sort, so equal scope sets compare equal."""
    merged: dict[str, set[str]] = {}
    opaque: set[str] = set()
    for scope in scopes:
        parts = _split(scope)
        if parts is None:
            if scope:
                opaque.add(scope)
            continue
        merged.setdefault(parts[0], set()).update(parts[1])
    out = {f"{res}:{','.join(sorted(acts))}" for res, acts in merged.items()}
    return tuple(sorted(out | opaque))


def covers(granted: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether a token for ``granted`` scopes may be used for ``wanted`` ones."""
    have: dict[str, frozenset[str]] = {}
    opaque: set[str] = set()
    for scope in granted:
        parts = _split(scope)
        if parts is None:
            opaque.add(scope)
        else:
            have[parts[0]] = have.get(parts[0], frozenset()) | parts[1]
    for scope in wanted:
        parts = _split(scope)
        if parts is None:
            if scope not in opaque:
                return False
        elif not parts[1] <= have.get(parts[0], frozenset()):
            return False
    return True
