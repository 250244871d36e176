"""The build cache: what each step produced, by its final cache key.

A step's final key (:meth:`anyarch.plan.Step.resolve_key`) names exactly what
it does and everything it reads, so once a step has run, its result can stand
in for running it again: the layer it wrote (digest, size, media type, diff
ID), or the fact that it changed nothing, and the time it ran (so a rebuild
that runs nothing stamps the same history and gives the same image digest).

Records live in SQLite (stdlib ``sqlite3``, WAL mode, so concurrent builds
share them) at ``STORE/cache/build.db``; the layer blobs are ordinary store
blobs.  A record is only used when its blob is still in the store (``anyarch
gc`` may have removed it): otherwise the step runs again.

Layer bytes depend on how a layer is written as well as on the step, so the
record key is the step key plus a *variant*: the compression and, when
``SOURCE_DATE_EPOCH`` clamps timestamps, the epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from anyarch._util import canonjson
from anyarch.build.steps_fs import LayerRef
from anyarch.errors import AnyarchError, BuildError
from anyarch.oci import Descriptor, Digest
from anyarch.store import Store

__all__ = [
    "CACHE_ARTIFACT_TYPE",
    "CACHE_CONFIG_MEDIA_TYPE",
    "BuildCache",
    "CacheRecord",
    "cache_dir",
    "export_records",
    "import_records",
]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS steps ("
    " key TEXT PRIMARY KEY,"
    " digest TEXT,"  # NULL: the step changed nothing
    " size INTEGER,"
    " media_type TEXT,"
    " diff_id TEXT,"
    " chain_id TEXT,"
    " created TEXT NOT NULL,"
    " used REAL NOT NULL"
    ") WITHOUT ROWID"
)


def cache_dir(store: Store) -> Path:
    """``STORE/cache``: the build cache database, the stat cache and cache mounts."""
    return store.root / "cache"


@dataclasses.dataclass(frozen=True, slots=True)
class CacheRecord:
    """What a step produced: its layer (None if it changed nothing) and when it ran."""

    layer: LayerRef | None
    created: str
    chain_id: str | None = None


class BuildCache:
    """Step key -> :class:`CacheRecord`, persisted in the store root."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = cache_dir(store) / "build.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise BuildError(
                f"build cache {self.path} cannot be opened: {exc}",
                hint="delete the file: it is only a cache, the next build refills it",
            ) from None

    @staticmethod
    def record_key(step_key: str, variant: str) -> str:
        """The row key of a step written with a layer ``variant`` (compression, epoch)."""
        return f"{step_key}|{variant}"

    def get(self, step_key: str, variant: str) -> CacheRecord | None:
        """The record of ``step_key`` if it exists and its blob is still in the store."""
        key = self.record_key(step_key, variant)
        with self._lock:
            row = self._db.execute(
                "SELECT digest, size, media_type, diff_id, chain_id, created FROM steps WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        digest, size, media_type, diff_id, chain_id, created = row
        layer = None
        if digest is not None:
            d = Digest.parse(digest)
            if not self.store.blobs.has(d):
                return None  # collected since: the step must run again
            layer = LayerRef(Descriptor(media_type, d, int(size)), Digest.parse(diff_id))
        with self._lock, contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("UPDATE steps SET used=? WHERE key=?", (time.time(), key))
        return CacheRecord(layer, str(created), chain_id)

    def put(self, step_key: str, variant: str, record: CacheRecord) -> None:
        """Remember what ``step_key`` produced."""
        layer = record.layer
        values = (
            self.record_key(step_key, variant),
            str(layer.descriptor.digest) if layer else None,
            layer.descriptor.size if layer else None,
            layer.descriptor.media_type if layer else None,
            str(layer.diff_id) if layer else None,
            record.chain_id,
            record.created,
            time.time(),
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?)", values)

    def chain_ids(self) -> Iterator[str]:
        """Chain IDs of every recorded layer stack (for gc: snapshots worth keeping)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT chain_id FROM steps WHERE chain_id IS NOT NULL"
            ).fetchall()
        for (chain,) in rows:
            yield str(chain)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> BuildCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- export / import (--cache-to / --cache-from) --------------------------------------

CACHE_CONFIG_MEDIA_TYPE = "application/vnd.anyarch.buildcache.config.v1+json"
"""Media type of the config blob of a cache manifest: the records of one platform."""

CACHE_ARTIFACT_TYPE = "application/vnd.anyarch.buildcache.v1"


def export_records(records: list[tuple[str, CacheRecord]]) -> bytes:
    """The config document of a cache manifest: ``records`` (row key -> record), canonical JSON."""
    rows = []
    for key, record in sorted(records, key=lambda r: r[0]):
        layer = record.layer
        rows.append(
            {
                "key": key,
                "created": record.created,
                "layer": None
                if layer is None
                else {
                    "mediaType": layer.descriptor.media_type,
                    "digest": str(layer.descriptor.digest),
                    "size": layer.descriptor.size,
                    "diffID": str(layer.diff_id),
                },
            }
        )
    return canonjson.dumps({"version": 1, "records": rows})


def import_records(raw: bytes) -> dict[str, CacheRecord]:
    """Parse :func:`export_records` output; malformed rows are skipped (it is only a cache)."""
    out: dict[str, CacheRecord] = {}
    try:
        doc = json.loads(raw)
        rows = doc.get("records") or []
    except (ValueError, AttributeError):
        return out
    for row in rows:
        try:
            layer_doc = row.get("layer")
            layer = None
            if layer_doc is not None:
                layer = LayerRef(
                    Descriptor(
                        str(layer_doc["mediaType"]),
                        Digest.parse(layer_doc["digest"]),
                        int(layer_doc["size"]),
                    ),
                    Digest.parse(layer_doc["diffID"]),
                )
            out[str(row["key"])] = CacheRecord(layer, str(row.get("created") or ""))
        except (KeyError, TypeError, ValueError, AnyarchError):
            continue
    return out
