"""Where anyarch's copy time goes: in-process experiments behind ``registry-copy``.

``python -m bench copy-experiments [--rounds 8]`` measures, on the same image
and registries as ``registry-copy``:

1. process start-up: CPU time of the imports ``anyarch copy`` does today
   against leaner import sets (fresh interpreter each, bytecode cached);
2. the copy itself *in one process* (start-up excluded), as anyarch does it
   today and with candidate changes simulated by monkeypatching (src/ is not
   edited): hash each downloaded blob once instead of twice, read HTTP bodies
   in 1 MiB instead of httpcore's 64 KiB pieces (only while anyarch's registry
   client ran on httpx; its stdlib HTTP layer reads 1 MiB), mount without a
   prior HEAD;
   plus a stdlib prototype (``http.client`` + ``readinto`` + one sha256 +
   fsync) as a floor for the download path.

Variants alternate order every round; medians are reported.  The patches
reach into private names of anyarch and httpcore: when one is gone, that
variant is reported as unavailable instead of timed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import importlib.util
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    Registry,
    facts_lines,
    find_tool,
    loadavg,
    machine_facts,
    run_timed,
    write_section,
)
from bench.registry_copy import check_layout_dir, make_layout

IMPORT_SETS: dict[str, str] = {
    "python -c pass": "pass",
    "what `anyarch copy` imports today (cli.main registers every command)": "import anyarch.cli.main, anyarch.api.remote",
    "commands imported lazily (only cli.registry)": "import click, anyarch.cli.registry, anyarch.api.remote",
    "lazy commands, rich not imported (quiet progress)": "import click, anyarch.api.remote",
    "the registry client alone (stdlib HTTP)": "import anyarch.registry",
}
# The registry client used httpx until it got its own stdlib HTTP layer; what
# that cost is still measured when httpx is installed (the ``bench`` extra).
if importlib.util.find_spec("httpx") is not None:
    IMPORT_SETS["httpx + httpcore alone (former registry HTTP stack)"] = "import httpx, httpcore"
    IMPORT_SETS["httpx + httpcore alone, without httpx's CLI module"] = (
        "import sys, types; sys.modules['httpx._main'] = types.ModuleType('httpx._main');"
        " import httpx, httpcore"
    )


def import_costs(rounds: int, env: dict[str, str]) -> dict[str, list[float]]:
    py = sys.executable
    for stmt in IMPORT_SETS.values():  # fill the bytecode cache
        subprocess.run([py, "-c", stmt], env=env, check=True)
    res: dict[str, list[float]] = {k: [] for k in IMPORT_SETS}
    for _ in range(rounds):
        for label, stmt in IMPORT_SETS.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([py, "-c", stmt], env=env, check=True)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            res[label].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return res


# --- patches simulating candidate changes -------------------------------------------------


class Patches:
    """Switchable monkeypatches; each ``use_*`` flag says whether it could be installed."""

    def __init__(self) -> None:
        from anyarch import transfer
        from anyarch.store import blobs as store_blobs

        self.transfer = transfer
        self.store_blobs = store_blobs
        self.orig_write_blob = transfer.LayoutEndpoint.write_blob
        self.orig_has_blob = transfer.RegistryEndpoint.has_blob
        self.h11: Any = None
        self.read_default = 0
        # Only meaningful while anyarch's registry client runs on httpcore (it
        # now reads 1 MiB pieces through its own stdlib HTTP layer).
        if "httpcore" in sys.modules:
            try:
                import httpcore._sync.http11 as h11mod

                self.h11 = h11mod.HTTP11Connection
                self.read_default = int(self.h11.READ_NUM_BYTES)
            except (ImportError, AttributeError):
                self.h11 = None
        self.ok_hash_once = all(
            hasattr(store_blobs.BlobStore, a) for a in ("has", "path")
        ) and hasattr(store_blobs, "fsync_dir")
        self.ok_read = self.h11 is not None
        self.ok_nohead = hasattr(transfer, "_is_document")

    def set(
        self, *, hash_once: bool = False, read_1m: bool = False, mount_first: bool = False
    ) -> None:
        t = self.transfer
        t.LayoutEndpoint.write_blob = (
            self._write_blob_hash_once if hash_once else self.orig_write_blob
        )
        t.RegistryEndpoint.has_blob = (
            self._has_blob_mount_first if mount_first else self.orig_has_blob
        )
        if self.h11 is not None:
            self.h11.READ_NUM_BYTES = (1 << 20) if read_1m else self.read_default

    def reset(self) -> None:
        self.set()

    @property
    def _has_blob_mount_first(self) -> Callable[[Any, Any], bool]:
        transfer, orig = self.transfer, self.orig_has_blob

        def has_blob(ep: Any, desc: Any) -> bool:
            # the destination is fresh: skipping the HEAD is what "mount first,
            # HEAD only if the mount is refused" does there
            if transfer._is_document(desc):
                return bool(orig(ep, desc))
            return False

        return has_blob

    @property
    def _write_blob_hash_once(self) -> Callable[..., None]:
        store_blobs = self.store_blobs

        def write_blob(ep: Any, desc: Any, opener: Any, *, verified: bool = False) -> None:
            """The source (BlobReader) verifies while streaming and raises at a bad
            end, so the store writes without hashing again and commits after EOF."""
            bs = ep.layout.blobs
            if bs.has(desc.digest):
                return
            bs.ingest.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="blob-", dir=bs.ingest)
            try:
                with opener() as src, os.fdopen(fd, "wb") as fh:
                    while chunk := src.read(1 << 20):
                        fh.write(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
                dest = bs.path(desc.digest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
                store_blobs.fsync_dir(dest.parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            with ep._lock:
                ep.added.append(desc.digest)

        return write_blob


def stdlib_floor(host: str, repo: str, dest: Path, jobs: int = 4) -> None:
    """Prototype of a lean download path: http.client, 1 MiB readinto, one sha256, fsync."""
    accept = {
        "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
    }

    def get(path: str) -> Any:
        req = urllib.request.Request(f"http://{host}{path}", headers=accept)
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        (dest / "blobs" / "sha256" / hashlib.sha256(raw).hexdigest()).write_bytes(raw)
        return json.loads(raw)

    (dest / "blobs" / "sha256").mkdir(parents=True)
    index = get(f"/v2/{repo}/manifests/v1")
    blobs: list[dict[str, Any]] = []
    for m in index["manifests"]:
        man = get(f"/v2/{repo}/manifests/{m['digest']}")
        blobs += [man["config"], *man["layers"]]
    blobs.sort(key=lambda b: -int(b["size"]))
    h, _, p = host.partition(":")

    def one(b: dict[str, Any]) -> None:
        conn = http.client.HTTPConnection(h, int(p), timeout=60)
        conn.request("GET", f"/v2/{repo}/blobs/{b['digest']}")
        resp = conn.getresponse()
        digest = hashlib.sha256()
        buf = memoryview(bytearray(1 << 20))
        tmp = dest / f"ingest-{b['digest'][7:]}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            while n := resp.readinto(buf):
                digest.update(buf[:n])
                os.write(fd, buf[:n])
            os.fsync(fd)
        finally:
            os.close(fd)
            conn.close()
        if "sha256:" + digest.hexdigest() != b["digest"]:
            raise RuntimeError(f"{b['digest']}: digest mismatch")
        os.replace(tmp, dest / "blobs" / "sha256" / b["digest"][7:])

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, blobs))


@contextlib.contextmanager
def fresh_dir(root: Path) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(dir=root))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def timed_variants(
    rounds: int, variants: dict[str, Callable[[int], None]]
) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            variants[name](r)
            res[name].append(time.perf_counter() - t0)
    return res


def table(res: dict[str, list[float]], base: str, unit: str = "s", scale: float = 1.0) -> list[str]:
    rows = [
        f"| variant | median {unit} | min {unit} | vs. first row |",
        "| --- | ---: | ---: | ---: |",
    ]
    b = statistics.median(res[base])
    for k, v in res.items():
        med = statistics.median(v)
        digits = 0 if unit == "ms" else 2
        rows.append(
            f"| {k} | {med * scale:.{digits}f} | {min(v) * scale:.{digits}f} | {med / b:.2f}× |"
        )
    return rows


def run(rounds: int, write_docs: bool, argv_text: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="anyarch-bench-exp-"))
    os.environ["ANYARCH_STORE"] = str(work / "unused-store")
    env_pyc = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env_pyc.pop("PYTHONDONTWRITEBYTECODE", None)
    regs: list[Registry] = []
    load_before = loadavg()
    try:
        img = make_layout(work / "layout")
        src = Registry(work / "registry-src").start()
        regs.append(src)
        other = Registry(work / "registry-dst").start()
        regs.append(other)
        skopeo = find_tool("skopeo")
        run_timed([skopeo, "copy", "--all", "--dest-tls-verify=false",
                   f"oci:{img.layout}:bench", f"docker://{src.host}/bench/src:v1"])  # fmt: skip
        ref = f"{src.host}/bench/src:v1"

        print("1. start-up imports (CPU, fresh interpreter, bytecode cached)")
        imports = import_costs(rounds, env_pyc)
        for k, v in imports.items():
            print(f"   {statistics.median(v) * 1e3:6.0f} ms  {k}")

        from anyarch.api import remote
        from anyarch.store.store import Store

        patches = Patches()
        opts = remote.RegistryOptions()
        unused = Store(work / "unused-store")
        counter = itertools.count()

        def copy_to(dst: str, **kw: bool) -> Callable[[int], None]:
            def go(_r: int) -> None:
                patches.set(**kw)
                try:
                    remote.copy(ref, dst.replace("{n}", str(next(counter))), unused, opts)
                finally:
                    patches.reset()

            return go

        def to_store(**kw: bool) -> Callable[[int], None]:
            def go(_r: int) -> None:
                patches.set(**kw)
                try:
                    with fresh_dir(work) as d:
                        remote.copy(ref, "store:bench/img:v1", Store(d), opts)
                        check_layout_dir(d, img, "to-store experiment")
                finally:
                    patches.reset()

            return go

        def skopeo_oci(_r: int) -> None:
            with fresh_dir(work) as d:
                run_timed([skopeo, "copy", "--all", "--src-tls-verify=false",
                           f"docker://{ref}", f"oci:{d}/o:v1"])  # fmt: skip

        def floor(_r: int) -> None:
            with fresh_dir(work) as d:
                stdlib_floor(src.host, "bench/src", d)

        copy_to(f"{src.host}/bench/warm:v1")(0)  # warm-up: imports, connections, page cache

        same_v: dict[str, Callable[[int], None]] = {
            "anyarch today": copy_to(f"{src.host}/bench/e{{n}}:v1")
        }
        if patches.ok_nohead:
            same_v["mount without a prior HEAD"] = copy_to(
                f"{src.host}/bench/e{{n}}:v1", mount_first=True
            )
        print("2. same registry (mounts), in-process")
        same = timed_variants(rounds, same_v)

        store_v: dict[str, Callable[[int], None]] = {
            "anyarch today": to_store(),
        }
        if patches.ok_hash_once:
            store_v["hash once (reader verifies, store writer does not re-hash)"] = to_store(
                hash_once=True
            )
        if patches.ok_read:
            store_v["1 MiB HTTP reads (httpcore READ_NUM_BYTES)"] = to_store(read_1m=True)
        if patches.ok_hash_once and patches.ok_read:
            store_v["hash once + 1 MiB reads"] = to_store(hash_once=True, read_1m=True)
        store_v["stdlib floor: http.client readinto 1 MiB, one sha256, fsync"] = floor
        store_v["skopeo copy --all → oci: (whole process, for scale)"] = skopeo_oci
        print("3. registry → store, in-process")
        store = timed_variants(rounds, store_v)

        cross_v: dict[str, Callable[[int], None]] = {
            "anyarch today": copy_to(f"{other.host}/bench/x{{n}}:v1")
        }
        if patches.ok_read:
            cross_v["1 MiB HTTP reads"] = copy_to(f"{other.host}/bench/x{{n}}:v1", read_1m=True)
        print("4. registry → other registry, in-process")
        cross = timed_variants(rounds, cross_v)
        load_after = loadavg()

        out = [
            "## Registry copy: where the time goes (experiments)",
            "",
            "In-process experiments on the same image as the section above (own fresh registries).",
            "Candidate changes are *simulated* by monkeypatching anyarch and httpcore",
            "internals from the bench (src/ untouched), to size them before anyone",
            "implements them. Copy times here exclude process start-up (one warm process;",
            "the destination is fresh each time). Variants alternate order each round;",
            f"{rounds} rounds, medians.",
            "",
            "Reproduce (rewrites this section):",
            "",
            f"    {argv_text}",
            "",
            "Machine:",
            "",
            *facts_lines(
                {**machine_facts(), "load average before / after": f"{load_before} / {load_after}"}
            ),
            "",
            "Start-up: CPU time (user+sys) of a fresh interpreter importing what a copy",
            "needs, bytecode cached; median of the rounds:",
            "",
            "| imports | median ms | min ms |",
            "| --- | ---: | ---: |",
            *[
                f"| {k} | {statistics.median(v) * 1e3:.0f} | {min(v) * 1e3:.0f} |"
                for k, v in imports.items()
            ],
            "",
            "Same registry (12 mounts, 4 manifests, 1 tag), wall time in one process:",
            "",
            *table(same, "anyarch today", "ms", 1e3),
            "",
            "Registry → store (201 MB), wall time in one process:",
            "",
            *table(store, "anyarch today"),
            "",
            "Registry → another registry (201 MB down and up), wall time in one process:",
            "",
            *table(cross, "anyarch today"),
        ]
        text = "\n".join(out)
        print(text)
        if write_docs:
            write_section("copy-experiments", text)
            print("\nwrote the 'where the time goes' section of docs/performance.md")
        return 0
    finally:
        for r in regs:
            r.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench copy-experiments", description=(__doc__ or "").split("\n\n")[0]
    )
    ap.add_argument("--rounds", type=int, default=8, help="rounds per variant (median)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = ap.parse_args(argv)
    text = ".venv/bin/python -m bench copy-experiments" + (
        f" --rounds {args.rounds}" if args.rounds != 8 else ""
    )
    return run(args.rounds, not args.no_docs, text)
