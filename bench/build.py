"""``anyarch build`` on the reference workloads vs ``../shared/bench/peer-buildah.sh``, same run.

Promises under test (issues 5, 6 and 7, "Performance"):

* issue 5 -- single-platform (linux/amd64) builds of w1, w2, w3: cold build
  at most 0.8x buildah's, warm rebuild (nothing changed) at most 0.3x;
* issue 6 -- multi-platform builds (w1: amd64+arm64; w2 and w3:
  amd64+arm64+arm/v7): cold at most 0.5x, push at most 0.5x, warm rebuild at
  most 0.1x and under 1.5 s; beside them the machine's limits (sha256, gzip
  with zlib level 6 and isal, zstd, per core);
* issue 7 -- a 1-node farm over loopback SSH vs the local build (measured
  only when ``anyarch builder`` and ``build --builder`` exist).

How, on this machine, with the registry and base images of
``../shared/bench/setup-env.sh`` on 127.0.0.1:5000:

1. the workload contexts are written afresh by ``make-contexts.py`` into this
   run's own ``BENCH_CACHE`` (other sessions rewriting the shared contexts
   cannot touch a warm rebuild here); the peer script gets the same
   ``BENCH_CACHE``;
2. every round runs, per case, the peer script (buildah: cold build into a
   fresh storage root, which pulls the base image from the registry; push of
   the manifest list; warm rebuild) and the same three phases with anyarch
   (cold build into a fresh ``--store``, which pulls the base image from the
   registry too; ``anyarch push``; warm rebuild = the same build command
   again), alternating which tool goes first;
3. medians over the rounds, ratios anyarch / buildah, pass/miss per target.

anyarch's build writes ``--progress json``; its step events give the
per-step times shown in the tables of where the time goes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    VENV_BIN,
    facts_lines,
    loadavg,
    machine_facts,
    shell_quote,
    tool_version,
    write_section,
)

SHARED = Path(os.environ.get("ANYARCH_BENCH_SHARED", str(REPO.parent / "shared" / "bench")))
PEER = SHARED / "peer-buildah.sh"
MAKE_CONTEXTS = SHARED / "make-contexts.py"
REGISTRY = "127.0.0.1:5000"
BASES = (
    ("library/busybox", "1.35", 3),
    ("library/debian", "bookworm", 2),
)
AMD = "linux/amd64"
TWO = "linux/amd64,linux/arm64"
THREE = "linux/amd64,linux/arm64,linux/arm/v7"
MB = 1e6

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    issue: int
    workload: str
    platforms: str
    #: what buildah builds for the comparison (None: no buildah run at all)
    peer_platforms: str | None
    note: str = ""


CASES: tuple[Case, ...] = (
    Case("i5-w1", 5, "w1-debian-run", AMD, AMD),
    Case("i5-w2", 5, "w2-copy-heavy", AMD, AMD),
    Case("i5-w3", 5, "w3-cross-compile", AMD, AMD),
    Case("i6-w1", 6, "w1-debian-run", TWO, TWO),
    Case("i6-w2", 6, "w2-copy-heavy", THREE, THREE),
    Case(
        "i6-w3",
        6,
        "w3-cross-compile",
        THREE,
        TWO,
        note="buildah 1.28 cannot build w3 with linux/arm/v7; compared with buildah's amd64+arm64 build",
    ),
    Case("i6-w3-2p", 6, "w3-cross-compile", TWO, TWO),
)

#: (issue, phase) -> (target ratio, absolute ceiling in s or None)
TARGETS: dict[tuple[int, str], tuple[float, float | None]] = {
    (5, "cold"): (0.8, None),
    (5, "warm"): (0.3, None),
    (6, "cold"): (0.5, None),
    (6, "push"): (0.5, None),
    (6, "warm"): (0.1, 1.5),
}

PEER_LINE = re.compile(r"cold build ([0-9.]+)s, push ([0-9.]+)s, warm rebuild ([0-9.]+)s")


# --- running things ----------------------------------------------------------------------


def _anyarch() -> str:
    exe = VENV_BIN / "anyarch"
    return str(exe) if exe.exists() else shutil.which("anyarch") or "anyarch"


def run(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Run a command to the end; wall and CPU (user+sys of it and its children) seconds."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_epoch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "argv": list(argv),
        "rc": proc.returncode,
        "wall": wall,
        "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "start": start_epoch,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
    }


def _events(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def _summarise_build(res: dict[str, Any]) -> dict[str, Any]:
    """Keep what the report needs from a ``build --progress json`` run."""
    ev = _events(res["stderr"])
    steps = [
        {
            "platform": e.get("platform"),
            "targets": e.get("targets"),
            "step": e.get("step"),
            "kind": e.get("kind"),
            "cached": e.get("cached"),
            "seconds": e.get("seconds"),
            "t": e.get("time"),
        }
        for e in ev
        if e.get("event") == "step" and e.get("status") == "done"
    ]
    first_step = min((e["time"] for e in ev if e.get("event") == "step"), default=None)
    result = next((e for e in ev if e.get("event") == "result"), {})
    plats = [
        {k: e.get(k) for k in ("platform", "status", "how", "seconds", "digest")}
        for e in ev
        if e.get("event") == "platform"
    ]
    last_plat = max((e["time"] for e in ev if e.get("event") == "platform"), default=None)
    end = res["start"] + res["wall"]
    return {
        "wall": res["wall"],
        "cpu": res["cpu"],
        "rc": res["rc"],
        "steps": steps,
        "platforms": plats,
        "result_steps": result.get("steps"),
        "digest": result.get("digest"),
        # start of the process -> first step event: start-up, parse, plan, base image pull
        "before_steps": (first_step - res["start"]) if first_step else None,
        # last platform finished -> process exit: index, tags, exit
        "after_platforms": (end - last_plat) if last_plat else None,
        "notes": [e.get("message") for e in ev if e.get("event") == "note"],
        "error": None if res["rc"] == 0 else (res["stderr"][-3000:] + res["stdout"][-1000:]),
    }


def _registry_manifests(ref_repo: str, tag: str) -> tuple[str, int]:
    """(media type, number of child manifests; 1 for a plain manifest) of REGISTRY/ref_repo:tag."""
    req = urllib.request.Request(
        f"http://{REGISTRY}/v2/{ref_repo}/manifests/{tag}", headers={"Accept": ACCEPT}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        doc = json.loads(resp.read())
    mt = doc.get("mediaType", "")
    return mt, len(doc["manifests"]) if "manifests" in doc else 1


def _unmount_under(path: Path) -> None:
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for m in sorted((m for m in mounts if m.startswith(str(path))), reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def _rmtree(path: Path) -> None:
    _unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


# --- one case, one tool ------------------------------------------------------------------


def anyarch_case(case: Case, ctx: Path, work: Path, run_id: str, rnd: int) -> dict[str, Any]:
    store = work / f"store-{case.key}-r{rnd}"
    _rmtree(store)
    repo = f"anyarch-bench/{case.key}-{run_id}-r{rnd}"
    ref = f"{REGISTRY}/{repo}:latest"
    exe = _anyarch()
    build = [
        exe,
        "--store",
        str(store),
        "build",
        "-t",
        ref,
        "--platform",
        case.platforms,
        "--progress",
        "json",
        str(ctx),
    ]
    push = [exe, "--store", str(store), "push", "--progress", "quiet", ref]
    out: dict[str, Any] = {"load_before": loadavg()}
    cold = run(build)
    out["cold"] = _summarise_build(cold)
    if cold["rc"] == 0:
        p = run(push)
        out["push"] = {
            "wall": p["wall"],
            "cpu": p["cpu"],
            "rc": p["rc"],
            "error": None if p["rc"] == 0 else p["stderr"][-3000:],
        }
        if p["rc"] == 0:
            try:
                mt, n = _registry_manifests(repo, "latest")
                out["push"]["registry"] = {"mediaType": mt, "manifests": n}
            except (OSError, ValueError, KeyError) as e:
                out["push"]["error"] = f"pushed, but reading it back failed: {e}"
        warm = run(build)
        out["warm"] = _summarise_build(warm)
    out["load_after"] = loadavg()
    du = subprocess.run(["du", "-sb", str(store)], capture_output=True, text=True)
    out["store_bytes"] = int(du.stdout.split()[0]) if du.returncode == 0 and du.stdout else None
    _rmtree(store)
    return out


def buildah_case(workload: str, platforms: str, bench_cache: Path, work: Path) -> dict[str, Any]:
    tmp = work / "peer-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BENCH_CACHE=str(bench_cache), TMPDIR=str(tmp))
    out: dict[str, Any] = {"load_before": loadavg()}
    res = run(["bash", str(PEER), workload, platforms], env=env)
    out["load_after"] = loadavg()
    out["script_wall"] = res["wall"]
    out["script_cpu"] = res["cpu"]
    out["rc"] = res["rc"]
    m = PEER_LINE.search(res["stdout"])
    if res["rc"] == 0 and m:
        out["cold"], out["push"], out["warm"] = (float(x) for x in m.groups())
        out["line"] = res["stdout"].strip()
    else:
        out["error"] = (res["stderr"][-3000:] + res["stdout"][-1000:]).strip()
    # the peer script leaves its storage behind when it fails (set -e)
    for d in tmp.iterdir():
        _rmtree(d)
    return out


# --- physical limits ---------------------------------------------------------------------


def _sample(ctx: Path, size: int) -> bytes:
    """Up to ``size`` bytes of the w2 context's files (text sources and half-random blobs)."""
    buf = bytearray()
    files = sorted(p for p in (ctx / "lib").rglob("*") if p.is_file())
    blobs = sorted(p for p in (ctx / "docs").rglob("*") if p.is_file())
    # the context is ~35% text sources and ~65% blobs by bytes: interleave in that spirit
    for i, f in enumerate(files):
        buf += f.read_bytes()
        if i % 500 == 499 and blobs:
            buf += blobs.pop(0).read_bytes()
        if len(buf) >= size:
            break
    return bytes(buf[:size])


def _rate(fn: Any, data: bytes, repeat: int) -> tuple[float, float]:
    """(MB/s median, output bytes / input bytes) of fn over data, single thread."""
    times = []
    ratio = 1.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn(data)
        times.append(time.perf_counter() - t0)
        ratio = n / len(data) if n else 1.0
    return len(data) / statistics.median(times) / MB, ratio


def measure_limits(ctx: Path, size: int = 64 << 20, repeat: int = 3) -> dict[str, Any]:
    data = _sample(ctx, size)
    chunk = 1 << 20
    views = [memoryview(data)[i : i + chunk] for i in range(0, len(data), chunk)]

    def sha(_: bytes) -> int:
        h = hashlib.sha256()
        for v in views:
            h.update(v)
        h.hexdigest()
        return 0

    def gz(mod: Any, level: int) -> Any:
        def f(_: bytes) -> int:
            c = mod.compressobj(level, mod.DEFLATED, 31)
            n = 0
            for v in views:
                n += len(c.compress(v))
            return n + len(c.flush())

        return f

    rows: dict[str, Any] = {"sample_bytes": len(data), "sample": "w2-copy-heavy context files"}
    rows["sha256"] = _rate(sha, data, repeat)
    rows["gzip zlib level 6"] = _rate(gz(zlib, 6), data, repeat)
    try:
        from isal import isal_zlib

        rows["gzip isal level 2 (anyarch's default)"] = _rate(gz(isal_zlib, 2), data, repeat)
        rows["gzip isal level 1"] = _rate(gz(isal_zlib, 1), data, repeat)
    except ImportError:
        rows["gzip isal"] = None
    try:
        import zstandard

        def zs(_: bytes) -> int:
            c = zstandard.ZstdCompressor(level=3).compressobj()
            n = 0
            for v in views:
                n += len(c.compress(v))
            return n + len(c.flush())

        rows["zstd level 3"] = _rate(zs, data, repeat)
    except ImportError:
        rows["zstd level 3"] = None

    # stdlib tarfile writing the w2 lib/ tree (6,000 files) to a null sink
    import tarfile

    class Null:
        n = 0

        def write(self, b: bytes) -> int:
            self.n += len(b)
            return len(b)

    def tarit(_: bytes) -> int:
        sink = Null()
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            tf.add(str(ctx / "lib"), arcname="lib")
        return 0

    lib_bytes = sum(p.stat().st_size for p in (ctx / "lib").rglob("*") if p.is_file())
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        tarit(b"")
        times.append(time.perf_counter() - t0)
    rows["python tarfile, w2 lib/ tree (6,000 files) to a null sink"] = (
        lib_bytes / statistics.median(times) / MB,
        1.0,
    )
    rows["context_bytes"] = {
        w: sum(p.stat().st_size for p in (ctx.parent / w).rglob("*") if p.is_file())
        for w in ("w1-debian-run", "w2-copy-heavy", "w3-cross-compile")
    }
    return rows


# --- farm (issue 7) ------------------------------------------------------------------------

FARM_CASES: tuple[Case, ...] = (
    Case("i7-w2", 7, "w2-copy-heavy", THREE, None),
    Case("i7-w3", 7, "w3-cross-compile", THREE, None),
)
#: the local build each farm case is compared with (same round)
FARM_LOCAL = {"i7-w2": "i6-w2", "i7-w3": "i6-w3"}


def farm_available() -> tuple[bool, str]:
    exe = _anyarch()
    r = subprocess.run([exe, "builder", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"`anyarch builder --help` exits {r.returncode}"
    r = subprocess.run([exe, "build", "--help"], capture_output=True, text=True)
    if "--builder" not in r.stdout:
        return False, "`anyarch build --help` has no --builder option"
    if not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists():
        return False, "sshd is not installed (Debian: openssh-server)"
    return True, "available"


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class LoopbackNode:
    """An ``sshd -D`` on a free 127.0.0.1 port; its sessions get their own HOME, cache and store."""

    def __init__(self, root: Path, client_pub: Path) -> None:
        self.root = root
        self.client_pub = client_pub
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LoopbackNode:
        import socket

        for d in ("home", "cache", "store"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        hk = self.root / "host_key"
        if not hk.exists():
            _keygen(hk)
        shutil.copy(self.client_pub, self.root / "authorized_keys")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        env = {
            "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.root / "home"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "ANYARCH_STORE": str(self.root / "store"),
        }
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            cfg = self.root / "sshd_config"
            cfg.write_text(
                "\n".join(
                    [
                        f"Port {self.port}",
                        "ListenAddress 127.0.0.1",
                        f"HostKey {hk}",
                        f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                        "UsePAM no",
                        "StrictModes no",
                        "PermitRootLogin prohibit-password",
                        "PasswordAuthentication no",
                        "KbdInteractiveAuthentication no",
                        "PidFile none",
                        "MaxStartups 100",
                        "MaxSessions 100",
                        "SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()),
                        "",
                    ]
                )
            )
            with open(self.root / "sshd.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", str(cfg)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                        if c.recv(4).startswith(b"SSH"):
                            return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"sshd did not start: {(self.root / 'sshd.log').read_text()[-1000:]}")

    def known_hosts_line(self) -> str:
        pub = " ".join((self.root / "host_key.pub").read_text().split()[:2])
        return f"[127.0.0.1]:{self.port} {pub}"

    def stop(self) -> None:
        if self.proc is None:
            return
        # the listener and the sessions it started (they share its process group)
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.proc = None


def farm_case(case: Case, ctx: Path, work: Path, rnd: int) -> dict[str, Any]:
    """Cold and warm ``build --builder`` on a 1-node farm (an sshd on loopback)."""
    root = work / f"farm-{case.key}-r{rnd}"
    _rmtree(root)
    root.mkdir(parents=True)
    key = root / "client_key"
    _keygen(key)
    node = LoopbackNode(root / "node", key.with_suffix(".pub")).start()
    rt = Path(tempfile.mkdtemp(prefix="aa-rt-", dir="/tmp"))
    os.chmod(rt, 0o700)
    try:
        (root / "known_hosts").write_text(node.known_hosts_line() + "\n")
        (root / "ssh_config").write_text(
            "Host *\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {root / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            "  GlobalKnownHostsFile /dev/null\n"
        )
        env = dict(os.environ)
        env.update(
            {
                "XDG_CONFIG_HOME": str(root / "config"),
                "XDG_CACHE_HOME": str(root / "cache"),
                "XDG_RUNTIME_DIR": str(rt),
                "ANYARCH_SSH_CONFIG": str(root / "ssh_config"),
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            }
        )
        exe = _anyarch()
        user = os.environ.get("USER", "root")
        for argv in (
            [
                exe,
                "context",
                "create",
                "node1",
                "--docker",
                f"host=ssh://{user}@127.0.0.1:{node.port}",
            ],
            [exe, "builder", "create", "--name", "farm", "node1"],
        ):
            r = run(argv, env=env)
            if r["rc"] != 0:
                return {"error": f"{shell_quote(argv)}: {r['stderr'][-2000:]}"}
        store = root / "store"
        out: dict[str, Any] = {"load_before": loadavg()}
        for phase in ("cold", "warm"):
            meta = root / f"meta-{phase}.json"
            argv = [
                exe,
                "--store",
                str(store),
                "build",
                "--builder",
                "farm",
                "-t",
                f"farm-{case.key}:r{rnd}",
                "--platform",
                case.platforms,
                "--progress",
                "json",
                "--metadata-file",
                str(meta),
                str(ctx),
            ]
            r = run(argv, env=env)
            res = _summarise_build(r)
            # the coordinator's farm status events (sending context, building, receiving),
            # seconds from the start of the command: where the farm's own time goes
            res["timeline"] = [
                (round(e["time"] - r["start"], 2), f"{e.get('platform')} {e.get('status')}")
                for e in _events(r["stderr"])
                if e.get("event") == "farm" and isinstance(e.get("time"), (int, float))
            ]
            try:
                md = json.loads(meta.read_text())
                res["context"] = md.get("anyarch.farm.context")
                res["farm"] = {
                    p: {
                        k: v.get(k)
                        for k in ("node", "mode", "seconds", "status")
                        if isinstance(v, dict)
                    }
                    for p, v in (md.get("anyarch.farm") or {}).items()
                }
            except (OSError, ValueError):
                res["context"] = None
            out[phase] = res
            if r["rc"] != 0:
                break
        out["load_after"] = loadavg()
        return out
    finally:
        node.stop()
        _rmtree(rt)
        _rmtree(root)


def farm_only(runs: int, workloads: Sequence[str] = ()) -> int:
    """``--only farm``: the issue-7 farm cases and, just before each, the local cold build it
    is compared with (same platforms, fresh store), printed; no buildah, no docs.  A quick
    before/after check for changes to the farm."""
    work = Path(tempfile.mkdtemp(prefix="anyarch-bench-farm-"))
    try:
        env = dict(os.environ, BENCH_CACHE=str(work / "cache"))
        subprocess.run(
            [sys.executable, str(MAKE_CONTEXTS)], env=env, check=True, capture_output=True
        )
        ctxs = work / "cache" / "contexts"
        exe = _anyarch()
        for rnd in range(runs):
            for case in FARM_CASES:
                if workloads and not any(w in case.workload for w in workloads):
                    continue
                ctx = ctxs / case.workload
                store = work / f"local-{case.key}-r{rnd}"
                local = run(
                    [exe, "--store", str(store), "build", "-t", f"local-{case.key}:r{rnd}",
                     "--platform", case.platforms, "--progress", "json", str(ctx)]
                )  # fmt: skip
                _rmtree(store)
                r = farm_case(case, ctx, work, rnd)
                c, w = r.get("cold", {}), r.get("warm", {})
                ratio = c.get("wall", 0) / local["wall"] if local["wall"] else 0
                print(
                    f"r{rnd} {case.workload}: local cold {local['wall']:.2f}s (rc {local['rc']}); "
                    f"farm cold {c.get('wall', 0):.2f}s (rc {c.get('rc')}) = {ratio:.2f}x local, "
                    f"first step after {c.get('before_steps') or 0:.2f}s, "
                    f"after last platform {c.get('after_platforms') or 0:.2f}s, "
                    f"context {c.get('context')}; "
                    f"warm {w.get('wall', 0):.2f}s (rc {w.get('rc')}) context {w.get('context')} "
                    f"{r.get('error') or c.get('error') or w.get('error') or ''}",
                    flush=True,
                )
                for phase in ("cold", "warm"):
                    steps = (r.get(phase) or {}).get("timeline") or []
                    print(f"  {phase}: " + "; ".join(f"{t:.2f} {what}" for t, what in steps))
    finally:
        _rmtree(work)
    return 0


# --- start-up: where a warm rebuild's time goes ----------------------------------------------

_STARTUP_PROBE = r"""
import sys, time, resource, importlib, dataclasses
first, then, argv = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3:]
acc = [0.0, 0]
orig = dataclasses._process_class
def timed(*a, **k):
    t = time.process_time(); r = orig(*a, **k); acc[0] += time.process_time() - t; acc[1] += 1; return r
dataclasses._process_class = timed
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
c0 = cpu()
for m in filter(None, first): importlib.import_module(m)
c1 = cpu()
for m in filter(None, then): importlib.import_module(m)
c2 = cpu()
work = 0.0
if argv:
    from anyarch.cli.main import main
    sys.argv = ["anyarch", *argv]
    try:
        main()
    except SystemExit:
        pass
    work = cpu() - c2
print(f"{c1 - c0} {c2 - c1} {acc[0]} {acc[1]} {work} {cpu()}")
"""


def startup_costs(ctx: Path, work: Path, repeat: int = 5) -> dict[str, Any]:
    """CPU seconds (medians over fresh interpreters) of what a warm ``anyarch build`` imports and does."""
    store = work / "store-startup"
    _rmtree(store)
    exe = _anyarch()
    argv = [
        "--store",
        str(store),
        "build",
        "-t",
        "startup:probe",
        "--platform",
        AMD,
        "--progress",
        "quiet",
        str(ctx),
    ]
    subprocess.run([exe, *argv], check=True, capture_output=True)

    def probe(
        first: Sequence[str], then: Sequence[str], run_argv: Sequence[str] = ()
    ) -> list[list[float]]:
        rows = []
        for _ in range(repeat):
            r = subprocess.run(
                [sys.executable, "-c", _STARTUP_PROBE, ",".join(first), ",".join(then), *run_argv],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append([float(x) for x in r.stdout.split()[-6:]])
        return rows

    def med(rows: list[list[float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    base = [
        "click",
        "anyarch.errors",
        "anyarch.oci",
        "anyarch.name",
        "anyarch.store",
        "anyarch.archive.diff",
        "anyarch.dockerfile",
        "anyarch.plan",
        "anyarch.build",
        "anyarch.sandbox",
    ]
    out: dict[str, Any] = {}
    rows = probe([], [])
    out["python, nothing imported"] = med(rows, 5)
    rows = probe([], [], argv)
    out["whole warm rebuild of w3 (amd64) in one interpreter (the fast path: a replay)"] = med(rows, 5)
    rows = probe(["anyarch.cli.main", "anyarch.cli.build", "anyarch.api.fastpath"], [])
    out["  of which: imports of the fast path (cli.main with click, cli.build, api.fastpath)"] = med(
        rows, 0
    )
    rows = probe(["anyarch.cli.main", "anyarch.cli.build", "anyarch.api.fastpath"], [], argv)
    out["  of which: the replay itself (context stat walk, record, index.json, blob checks)"] = med(
        rows, 4
    )
    rows = probe(["anyarch.cli.main", "anyarch.cli.build", "anyarch.api.build"], [])
    out["imports of a full build (cli.main, cli.build, api.build): what a miss adds"] = med(rows, 0)
    out["  of which: creating dataclasses"] = med(rows, 2)
    out["  dataclasses created"] = med(rows, 3)
    rows = probe(base, ["anyarch.registry"])
    out["  marginal: anyarch.registry (own HTTP/1.1 on stdlib sockets), only when pulling or pushing"] = (
        med(rows, 1)
    )
    os.environ["ANYARCH_BUILD_FASTPATH"] = "0"
    try:
        rows = probe([], [], argv)
    finally:
        del os.environ["ANYARCH_BUILD_FASTPATH"]
    out["whole warm rebuild of w3 (amd64) with ANYARCH_BUILD_FASTPATH=0 (every step a cache hit)"] = (
        med(rows, 5)
    )
    _rmtree(store)
    return out


# --- experiments: sizing the bottlenecks ------------------------------------------------------

_EXTRACT = r"""
import sys, time, resource
from anyarch.archive.extract import extract_layer
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
with open(sys.argv[1], "rb") as fh:
    extract_layer(fh, sys.argv[2], compression="gzip")
print(time.perf_counter() - t, cpu() - c)
"""

_MATERIALIZE = r"""
import hashlib, os, sys, tarfile, time, resource
from isal import isal_zlib
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
if mode == "materialize":  # what COPY does today before the layer is written: one new file each
    made = set()
    for p in files:
        rel = os.path.relpath(p, src)
        d = os.path.join(dst, os.path.dirname(rel))
        if d not in made:
            os.makedirs(d, exist_ok=True); made.add(d)
        with open(p, "rb") as s:
            data = s.read()
        st = os.stat(p)
        fd = os.open(os.path.join(dst, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data); os.fchown(fd, 0, 0); os.fchmod(fd, 0o644)
        os.utime(fd, ns=(st.st_mtime_ns, st.st_mtime_ns)); os.close(fd)
else:  # the layer straight from the sources: tar headers + bytes, sha256, isal level 2, sha256
    diff, dig = hashlib.sha256(), hashlib.sha256()
    z = isal_zlib.compressobj(2, isal_zlib.DEFLATED, 31)
    for p in files:
        st = os.stat(p)
        ti = tarfile.TarInfo(os.path.relpath(p, src)); ti.size = st.st_size; ti.mtime = int(st.st_mtime); ti.mode = 0o644
        with open(p, "rb") as s:
            data = s.read()
        blk = ti.tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % 512)
        diff.update(blk); dig.update(z.compress(blk))
    dig.update(z.flush())
print(time.perf_counter() - t, cpu() - c)
"""

_HASH = r"""
import hashlib, os, sys, time, resource
from concurrent.futures import ThreadPoolExecutor
root, mode = sys.argv[1], sys.argv[2]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
def big_buffer(p):  # SourceTree._hash: a fresh 1 MiB bytearray per file
    h = hashlib.sha256(); buf = bytearray(1 << 20); v = memoryview(buf)
    with open(p, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(v[:n])
    return h.hexdigest()
def sized(p):
    with open(p, "rb", buffering=0) as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
if mode == "pool":  # what SourceTree.digests does on a cold stat cache (2 workers on 2 cores)
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as ex:
        list(ex.map(big_buffer, files))
elif mode == "sequential":
    [big_buffer(p) for p in files]
else:
    [sized(p) for p in files]
print(time.perf_counter() - t, cpu() - c)
"""


def _pyrun(code: str, *args: str) -> tuple[float, float]:
    r = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    wall, cpu = (float(x) for x in r.stdout.split()[-2:])
    return wall, cpu


def _largest_blob(store: Path) -> Path:
    blobs = sorted((store / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    return blobs[-1]


def experiments(ctxs: Path, work: Path, repeat: int = 3) -> dict[str, Any]:
    """Size the bottlenecks the build tables show, each against the floor it can approach."""
    exe = _anyarch()
    out: dict[str, Any] = {"repeat": repeat}
    # 1. unpacking the Debian base layer: anyarch's extractor vs GNU tar
    store = work / "store-exp"
    _rmtree(store)
    for plat in ("linux/amd64", "linux/arm64"):
        subprocess.run(
            [exe, "--store", str(store), "pull", "--platform", plat, "--progress", "quiet",
             f"{REGISTRY}/library/debian:bookworm"],
            check=True, capture_output=True,
        )  # fmt: skip
        if plat == "linux/amd64":
            layer = _largest_blob(store)
            n = subprocess.run(
                ["tar", "-tzf", str(layer)], capture_output=True, text=True, check=True
            ).stdout.count("\n")
            out["debian layer"] = {"bytes": layer.stat().st_size, "entries": n}
            rows: dict[str, list[tuple[float, float]]] = {
                "anyarch extract_layer": [],
                "GNU tar -xzpf": [],
            }
            for i in range(repeat):
                for tool in (
                    ("anyarch extract_layer", "GNU tar -xzpf")
                    if i % 2 == 0
                    else ("GNU tar -xzpf", "anyarch extract_layer")
                ):
                    d = work / "x"
                    _rmtree(d)
                    d.mkdir()
                    if tool.startswith("anyarch"):
                        rows[tool].append(_pyrun(_EXTRACT, str(layer), str(d)))
                    else:
                        r = run(["tar", "--numeric-owner", "-xzpf", str(layer), "-C", str(d)])
                        rows[tool].append((r["wall"], r["cpu"]))
                    _rmtree(d)
            out["extract"] = rows
            amd_layer = layer
            kept_layer = work / "debian-amd64-layer.tar.gz"  # experiment 6 runs after the store is gone
            shutil.copyfile(layer, kept_layer)
    arm_layer = next(
        p
        for p in sorted((store / "blobs" / "sha256").iterdir(), key=lambda p: -p.stat().st_size)
        if p != amd_layer
    )
    # 2. COPY of w2's lib/ (6,000 files): materialise them vs write the layer from the sources
    lib = ctxs / "w2-copy-heavy" / "lib"
    rows = {
        "materialise 6,000 files (create, write, chown, chmod, utime)": [],
        "layer straight from the sources (tar + sha256 + isal + sha256)": [],
    }
    for i in range(repeat):
        for mode in ("materialize", "direct") if i % 2 == 0 else ("direct", "materialize"):
            d = work / "mat"
            _rmtree(d)
            d.mkdir()
            key = next(
                k for k in rows if k.startswith("materialise" if mode == "materialize" else "layer")
            )
            rows[key].append(_pyrun(_MATERIALIZE, str(lib), str(d), mode))
            _rmtree(d)
    out["copy"] = rows
    out["lib bytes"] = sum(p.stat().st_size for p in lib.rglob("*") if p.is_file())
    # 3. hashing the w2 context on a cold stat cache
    rows = {
        "2-thread pool, fresh 1 MiB buffer per file (SourceTree.digests until a3c76eb)": [],
        "one thread, fresh 1 MiB buffer per file": [],
        "one thread, hashlib.file_digest (SourceTree.digests now, for files under 4 MiB)": [],
    }
    modes = ("pool", "sequential", "file_digest")
    for i in range(repeat):
        pairs = list(zip(rows, modes, strict=True))
        for k, m in pairs if i % 2 == 0 else reversed(pairs):
            rows[k].append(_pyrun(_HASH, str(ctxs / "w2-copy-heavy"), m))
    out["hash"] = rows
    # 4. w1's first RUN under QEMU, without anyarch: chroot into a GNU-tar-unpacked arm64 rootfs
    root = work / "rootfs-arm64"
    _rmtree(root)
    root.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-xzpf", str(arm_layer), "-C", str(root)], check=True)
    (root / "proc").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    loop = (
        "set -eu; APP_HOME=/srv/app; rm -rf $APP_HOME; mkdir -p $APP_HOME/data; "
        'for i in $(seq 1 300); do echo "row $i $(uname -m)" >> $APP_HOME/data/rows.txt; done'
    )
    rows = {"300 x `$(uname -m)` loop (w1's RUN)": [], "sha256sum /usr/bin/* (w1's RUN)": []}
    try:
        for _ in range(repeat):
            r = run(["chroot", str(root), "/bin/sh", "-c", loop])
            rows["300 x `$(uname -m)` loop (w1's RUN)"].append((r["wall"], r["cpu"]))
            r = run(["chroot", str(root), "/bin/sh", "-c", "sha256sum /usr/bin/* > /tmp/sums"])
            rows["sha256sum /usr/bin/* (w1's RUN)"].append((r["wall"], r["cpu"]))
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], capture_output=True)
        _rmtree(root)
    out["emulated"] = rows
    # 5. what a push of w1 (amd64+arm64) uploads: blobs copied vs mounted
    _rmtree(store)
    ref = f"{REGISTRY}/anyarch-bench/exp-w1-{time.strftime('%H%M%S')}"
    subprocess.run(
        [exe, "--store", str(store), "build", "-t", f"{ref}:src", "--platform", TWO,
         "--progress", "quiet", str(ctxs / "w1-debian-run")],
        check=True, capture_output=True,
    )  # fmt: skip
    pushes = []
    for i in range(repeat):
        r = run(
            [exe, "--store", str(store), "push", "--progress", "json", f"{ref}:src", f"{ref}-{i}:v"]
        )
        how: dict[str, list[int]] = {}
        for e in _events(r["stderr"]):
            if e.get("event") == "done" and "how" in e:
                how.setdefault(e["how"], []).append(int(e.get("size") or 0))
        pushes.append(
            {
                "wall": r["wall"],
                "cpu": r["cpu"],
                "how": {k: [len(v), sum(v)] for k, v in how.items()},
            }
        )
    out["push w1"] = pushes
    _rmtree(store)
    # 6. unpacking right after a large delete, into a plain directory vs a directory whose
    #    parent carries ext4's top-directory hint (what the store's scratch parents carry)
    out["after delete"] = _unpack_after_delete(kept_layer, work, repeat)
    kept_layer.unlink()
    return out


_TOPDIR = r"""
import sys
from anyarch._util.fs import mark_top_directory
print(mark_top_directory(sys.argv[1]))
"""


def _unpack_after_delete(layer: Path, work: Path, repeat: int) -> dict[str, Any]:
    """GNU tar of the Debian layer right after deleting two unpacked copies of it (13,000 inodes).

    Every cold build on a no-journal ext4 starts like this: the previous store (or
    prune) freed thousands of inodes moments ago.  Alternating order, a fresh
    delete before each unpack.
    """
    base = work / "after-delete"
    _rmtree(base)
    plain, hinted = base / "plain", base / "hinted"
    plain.mkdir(parents=True)
    hinted.mkdir()
    marked = subprocess.run(
        [sys.executable, "-c", _TOPDIR, str(hinted)], capture_output=True, text=True, check=True
    ).stdout.strip() == "True"
    rows: dict[str, list[tuple[float, float]]] = {
        "into a new directory (no hint)": [],
        "into a new directory under a `chattr +T` parent (the store's scratch parents)": [],
    }
    for i in range(repeat):
        order = (plain, hinted) if i % 2 == 0 else (hinted, plain)
        for parent in order:
            junk = base / "junk"
            for n in range(2):
                (junk / str(n)).mkdir(parents=True)
                subprocess.run(
                    ["tar", "--numeric-owner", "-xzpf", str(layer), "-C", str(junk / str(n))],
                    check=True, capture_output=True,
                )  # fmt: skip
            subprocess.run(["sync"], check=True)
            _rmtree(junk)
            dest = parent / f"r{i}"
            dest.mkdir()
            r = run(["tar", "--numeric-owner", "-xzpf", str(layer), "-C", str(dest)])
            key = next(iter(rows)) if parent == plain else list(rows)[1]
            rows[key].append((r["wall"], r["cpu"]))
            _rmtree(dest)
    _rmtree(base)
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(work)], capture_output=True, text=True)
    return {"rows": rows, "hint set": marked, "fs": fs.stdout.strip()}


def render_experiments(ex: dict[str, Any], argv_text: str, facts: dict[str, str]) -> str:
    out: list[str] = []
    add = out.append

    def row(name: str, xs: list[list[float]]) -> str:
        w = [x[0] for x in xs]
        c = [x[1] for x in xs]
        return f"| {name} | {statistics.median(w):.2f} ({min(w):.2f}–{max(w):.2f}) | {statistics.median(c):.2f} |"

    def table(first: str, rows: dict[str, list[list[float]]]) -> None:
        """One experiment's table: a row per variant, median wall (min–max) and CPU."""
        add(f"| {first} | wall s | CPU s |")
        add("| --- | ---: | ---: |")
        for k, v in rows.items():
            add(row(k, v))
        add("")

    add("## Builds: where the time goes (experiments)\n")
    add(
        "Each experiment isolates one cost that the build tables above show, and sets it against "
        f"the floor it could approach. Medians of {ex['repeat']} (alternating order), wall s "
        "(min–max) and CPU s (user+sys of the process).\n"
    )
    add("Reproduce (rewrites this section):\n")
    add("    .venv/bin/python -m bench build --experiments\n")
    if argv_text.strip() != "--experiments":
        add(
            f"These figures: `.venv/bin/python -m bench build {argv_text}`, then this section "
            "written from its results file with `--render-experiments RESULTS.json`.\n"
        )
    add("Machine:\n")
    out.extend(facts_lines(facts))
    add(f"- load average before / after: {ex.get('load_before')} / {ex.get('load_after')}\n")
    dl = ex["debian layer"]
    add(
        f"**1. Unpacking the Debian base layer** (linux/amd64, {dl['bytes'] / MB:.1f} MB gzip, "
        f"{dl['entries']} entries), into a fresh directory on the same file system as the store. "
        "This is the bulk of the first step on a Debian base in every cold build (`WORKDIR /src` in "
        "w3, the first `RUN` in w1):\n"
    )
    table("how", ex["extract"])
    add(
        f"**2. COPY of w2's `lib/`** ({ex['lib bytes'] / MB:.1f} MB in 6,000 files): what the step "
        "does today before the layer is written (each file created in the step's overlay upper "
        "directory), against writing the layer straight from the sources:\n"
    )
    table("how", ex["copy"])
    add(
        "**3. Hashing the w2 context** (6,013 files, 187 MB; a cold stat cache, as in every cold build):\n"
    )
    table("how", ex["hash"])
    add(
        "**4. w1's first RUN under QEMU** (linux/arm64), without anyarch: `chroot` into the arm64 "
        "Debian layer unpacked by GNU tar (binfmt `F` flag, qemu-aarch64-static), the RUN's two "
        "costly commands:\n"
    )
    table("command", ex["emulated"])
    add(
        "**5. Pushing w1 (amd64+arm64) to a new repository of the registry its base came from** "
        "(`anyarch push --progress json`; blobs by how they got there):\n"
    )
    add(
        "| push | wall s | CPU s | blobs copied (count, MB) | blobs mounted (count, MB) | already there |"
    )
    add("| --- | ---: | ---: | --- | --- | --- |")
    for i, p in enumerate(ex["push w1"]):
        h = p["how"]

        def cell(k: str, h: dict[str, list[int]] = h) -> str:
            v = h.get(k)
            return f"{v[0]}, {v[1] / MB:.1f}" if v else "0"

        others = {k: v for k, v in h.items() if k not in ("copied", "mounted")}
        add(
            f"| {i + 1} | {p['wall']:.2f} | {p['cpu']:.2f} | {cell('copied')} | {cell('mounted')} | "
            + (", ".join(f"{k}: {v[0]}" for k, v in others.items()) or "0")
            + " |"
        )
    add("")
    ad = ex.get("after delete")
    if ad:
        add(
            "**6. Unpacking right after a large delete** (GNU tar, the Debian layer of 1., after "
            "unpacking two copies of it and deleting them: every cold build after a store was "
            f"removed starts like this; file system `{ad['fs']}`, hint set: {ad['hint set']}). "
            "On ext4 without a journal the inode allocator skips every inode freed in the last "
            "minute or so, checking each one; under a parent marked as the top of unrelated "
            "trees the allocator starts the new tree in another block group:\n"
        )
        table("where", ad["rows"])
    return "\n".join(out)


# --- the run --------------------------------------------------------------------------------


def preflight() -> list[str]:
    problems = []
    for tool in ("buildah", "bash", "bc"):
        if not shutil.which(tool):
            problems.append(f"{tool} is not installed (run {SHARED}/setup-env.sh)")
    if not PEER.exists():
        problems.append(f"{PEER} not found (set ANYARCH_BENCH_SHARED)")
    for repo, tag, n in BASES:
        try:
            _, got = _registry_manifests(repo, tag)
            if got < n:
                problems.append(f"{REGISTRY}/{repo}:{tag} has {got} platforms, expected {n}")
        except (OSError, ValueError, KeyError) as e:
            problems.append(f"{REGISTRY}/{repo}:{tag} unreadable ({e}); run {SHARED}/setup-env.sh")
    return problems


def _use_bytecode_cache(work: Path) -> None:
    """Let every anyarch process of the run keep its bytecode, as after ``pip install``.

    This environment sets ``PYTHONDONTWRITEBYTECODE=1`` and the editable ``src/`` may
    hold stale ``.pyc`` files: every process would then compile every module again,
    a cost no installed anyarch pays.  A cache directory in the work dir fixes that.
    """
    if os.environ.get("PYTHONDONTWRITEBYTECODE") or not os.environ.get("PYTHONPYCACHEPREFIX"):
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")


def main_run(args: argparse.Namespace) -> dict[str, Any]:
    cases = [c for c in (*CASES, *FARM_CASES) if not args.cases or c.key in args.cases]
    farm_ok, farm_why = farm_available()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="anyarch-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    _use_bytecode_cache(work)
    bench_cache = work / "cache"
    env = dict(os.environ, BENCH_CACHE=str(bench_cache))
    subprocess.run([sys.executable, str(MAKE_CONTEXTS)], env=env, check=True, capture_output=True)
    ctxs = bench_cache / "contexts"
    run_id = time.strftime("%H%M%S")
    results: dict[str, Any] = {
        "facts": machine_facts(),
        "versions": {
            "buildah": tool_version(["buildah", "--version"]),
            "anyarch": tool_version([_anyarch(), "--version"]),
            "crun": tool_version(["crun", "--version"]),
            "qemu": tool_version(["qemu-aarch64-static", "--version"]),
        },
        "load_start": loadavg(),
        "command": "python -m bench build " + " ".join(args.argv),
        "rounds": [],
    }
    print(f"bench build: work dir {work}; load {loadavg()}", flush=True)

    # once: the startup cost, and buildah's failure on w3 with arm/v7
    st = [run([_anyarch(), "--version"])["wall"] for _ in range(5)]
    results["anyarch_version_wall"] = statistics.median(st)
    if any(c.key == "i6-w3" for c in cases) and not args.skip_peer_failure:
        print("buildah w3 with linux/arm/v7 (expected to fail) ...", flush=True)
        results["peer_w3_armv7"] = buildah_case("w3-cross-compile", THREE, bench_cache, work)

    for rnd in range(args.runs):
        rec: dict[str, Any] = {"load_before": loadavg(), "anyarch": {}, "buildah": {}, "farm": {}}
        done_peer: set[tuple[str, str]] = set()
        for i, case in enumerate(cases):
            ctx = ctxs / case.workload
            if case.issue == 7:
                if farm_ok:
                    r = farm_case(case, ctx, work, rnd)
                    rec["farm"][case.key] = r
                    c, w = r.get("cold", {}), r.get("warm", {})
                    print(
                        f"r{rnd} {case.key} farm: cold {c.get('wall', 0):.1f}s warm {w.get('wall', 0):.2f}s "
                        f"(rc {c.get('rc')}/{w.get('rc')}) context {c.get('context')} / {w.get('context')} "
                        f"{r.get('error') or c.get('error') or ''}",
                        flush=True,
                    )
                continue
            peer_key = (case.workload, case.peer_platforms or "")
            need_peer = case.peer_platforms is not None and peer_key not in done_peer
            order = ("anyarch", "buildah") if (rnd + i) % 2 == 0 else ("buildah", "anyarch")
            for tool in order:
                if tool == "anyarch":
                    r = anyarch_case(case, ctx, work, run_id, rnd)
                    rec["anyarch"][case.key] = r
                    c, w = r.get("cold", {}), r.get("warm", {})
                    print(
                        f"r{rnd} {case.key} anyarch: cold {c.get('wall', 0):.1f}s "
                        f"push {r.get('push', {}).get('wall', 0):.1f}s warm {w.get('wall', 0):.2f}s "
                        f"(rc {c.get('rc')}/{r.get('push', {}).get('rc')}/{w.get('rc')}) load {r['load_after']}",
                        flush=True,
                    )
                elif need_peer:
                    assert case.peer_platforms is not None
                    r = buildah_case(case.workload, case.peer_platforms, bench_cache, work)
                    rec["buildah"]["|".join(peer_key)] = r
                    done_peer.add(peer_key)
                    print(
                        f"r{rnd} {case.key} buildah: {r.get('line') or r.get('error', '')[-300:]}",
                        flush=True,
                    )
        rec["load_after"] = loadavg()
        results["rounds"].append(rec)
        if args.results:
            Path(args.results).write_text(json.dumps(results, indent=1))

    if not args.no_limits:
        print("machine limits ...", flush=True)
        results["limits"] = measure_limits(ctxs / "w2-copy-heavy")
    results["farm"] = {"available": farm_ok, "why": farm_why}
    if not args.no_startup:
        print("start-up costs ...", flush=True)
        results["startup"] = startup_costs(ctxs / "w3-cross-compile", work)
    results["load_end"] = loadavg()
    if not args.keep:
        _rmtree(work)
    return results


# --- the report -----------------------------------------------------------------------------


def _med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _fmt(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _range(xs: list[float], nd: int = 1) -> str:
    xs = [x for x in xs if x is not None]
    return f"{min(xs):.{nd}f}–{max(xs):.{nd}f}" if xs else "-"


def collect(
    results: dict[str, Any], case: Case, phase: str
) -> tuple[list[float], list[float], list[float]]:
    """(anyarch walls, anyarch CPUs, buildah walls) of one case and phase over the rounds."""
    aw, ac, bw = [], [], []
    pk = f"{case.workload}|{case.peer_platforms}"
    for rec in results["rounds"]:
        a = rec["anyarch"].get(case.key, {}).get(phase)
        if a and a.get("rc") == 0:
            aw.append(a["wall"])
            ac.append(a["cpu"])
        b = rec["buildah"].get(pk)
        if b and phase in b:
            bw.append(b[phase])
    return aw, ac, bw


def verdict(issue: int, phase: str, ratio: float | None, a_med: float | None) -> str:
    t = TARGETS.get((issue, phase))
    if t is None or ratio is None:
        return "(no target)" if t is None else "n/a"
    ok = ratio <= t[0] and (t[1] is None or (a_med is not None and a_med < t[1]))
    lim = f"≤ {t[0]}×" + (f" and < {t[1]} s" if t[1] else "")
    return f"**{'met' if ok else 'MISSED'}** ({lim})"


def render_issue_table(results: dict[str, Any], issue: int) -> list[str]:
    lines = [
        "| workload | platforms (anyarch / buildah) | phase | buildah median s (min–max) | anyarch median s (min–max) | anyarch CPU s | ratio | target |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in CASES:
        if case.issue != issue:
            continue
        phases = ("cold", "warm") if issue == 5 else ("cold", "push", "warm")
        if issue == 5:
            phases = ("cold", "push", "warm")
        for phase in phases:
            aw, ac, bw = collect(results, case, phase)
            if not aw:
                continue
            am, bm = _med(aw), _med(bw)
            ratio = am / bm if am is not None and bm else None
            plats = case.platforms.replace("linux/", "")
            peer = (case.peer_platforms or "-").replace("linux/", "")
            pl = plats if plats == peer else f"{plats} / {peer}"
            tgt = verdict(issue, phase, ratio, am)
            if case.key == "i6-w3-2p":
                tgt = tgt.replace("**", "").replace("MISSED", "missed") + " (extra row)"
            lines.append(
                f"| {case.workload} | {pl} | {phase} | {_fmt(bm)} ({_range(bw)}) | "
                f"{_fmt(am, 2 if phase == 'warm' else 1)} ({_range(aw, 2 if phase == 'warm' else 1)}) | {_fmt(_med(ac))} | "
                f"{_fmt(ratio, 2)} | {tgt} |"
            )
    return lines


def render_steps(results: dict[str, Any], issue: int) -> list[str]:
    """Where anyarch's cold build time goes: median seconds per step (not cached) over rounds."""
    lines = [
        "| workload | platforms | start-up + plan + base pull (s) | steps that ran: median s (platform) | index/exit (s) | steps run/cached (cold; warm) |",
        "| --- | --- | ---: | --- | ---: | --- |",
    ]
    for case in CASES:
        if case.issue != issue:
            continue
        before, after, per = [], [], {}
        rs_cold = rs_warm = None
        for rec in results["rounds"]:
            a = rec["anyarch"].get(case.key, {})
            c = a.get("cold")
            if not c or c.get("rc") != 0:
                continue
            before.append(c["before_steps"])
            after.append(c["after_platforms"])
            rs_cold = c.get("result_steps")
            rs_warm = (a.get("warm") or {}).get("result_steps")
            for s in c["steps"]:
                if s["cached"] or not s["seconds"]:
                    continue
                plat = (s["platform"] or "").replace("linux/", "")
                key = (s["step"], plat)
                per.setdefault(key, []).append(s["seconds"])
        if not before:
            continue
        top = sorted(per.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
        desc = "; ".join(
            f"`{k[0][:38]}` {statistics.median(v):.1f} ({k[1]})"
            for k, v in top
            if statistics.median(v) >= 0.1
        )
        lines.append(
            f"| {case.workload} | {case.platforms.replace('linux/', '')} | {_fmt(_med(before))} | "
            f"{desc or '-'} | {_fmt(_med(after), 2)} | {rs_cold}; {rs_warm} |"
        )
    return lines


def _farm_series(results: dict[str, Any], key: str, phase: str, field: str) -> list[float]:
    xs = []
    for rec in results["rounds"]:
        r = (rec.get("farm") or {}).get(key, {}).get(phase)
        if not r or r.get("rc") != 0:
            continue
        if field == "wall":
            xs.append(r["wall"])
        else:
            ctx = next(iter((r.get("context") or {}).values()), None)
            if ctx is not None:
                xs.append(ctx[field])
    return xs


def render_farm(results: dict[str, Any]) -> list[str]:
    lines = [
        "The node is an `sshd -D` on a free 127.0.0.1 port started by the bench (key auth, its own "
        "HOME, cache and store; `anyarch` of this venv on its PATH, so no bootstrap). "
        "`anyarch context create node1 --docker host=ssh://root@127.0.0.1:PORT`, "
        "`anyarch builder create --name farm node1`, then `anyarch --store STORE build --builder farm "
        "-t farm-CASE:rN --platform P --progress json --metadata-file M CTX` into a fresh STORE and a "
        "fresh node (cold), and the same command again (warm). The local build it is compared with "
        "is the issue-6 anyarch cold/warm build of the same workload and platforms in the same round "
        "(run a few minutes earlier, not interleaved).\n",
        "| workload | platforms | phase | local median s (min–max) | 1-node farm median s (min–max) | ratio | target |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    by_key = {c.key: c for c in (*CASES, *FARM_CASES)}
    for fc in FARM_CASES:
        local = by_key[FARM_LOCAL[fc.key]]
        for phase in ("cold", "warm"):
            fw = _farm_series(results, fc.key, phase, "wall")
            lw, _, _ = collect(results, local, phase)
            if not fw:
                continue
            fm, lm = _med(fw), _med(lw)
            ratio = fm / lm if fm is not None and lm else None
            tgt = "(no target)"
            if phase == "cold" and ratio is not None:
                tgt = f"**{'met' if ratio <= 1.2 else 'MISSED'}** (≤ 1.2×)"
            lines.append(
                f"| {fc.workload} | {fc.platforms.replace('linux/', '')} | {phase} | {_fmt(lm, 2)} ({_range(lw, 2)}) | "
                f"{_fmt(fm, 2)} ({_range(fw, 2)}) | {_fmt(ratio, 2)} | {tgt} |"
            )
    lines += [
        "",
        "Context transfer (from the build's `--metadata-file`, `anyarch.farm.context`: the time of "
        "the coordinator's `sync_context` — the node's `context-need` answer and, when needed, "
        "`context-put` — and the bytes sent):\n",
        "| workload | first: s (min–max) | first: MB sent | second, unchanged: s (min–max) | second: MB sent | second/first time | second/first bytes | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for fc in FARM_CASES:
        s1 = _farm_series(results, fc.key, "cold", "seconds")
        s2 = _farm_series(results, fc.key, "warm", "seconds")
        b1 = _farm_series(results, fc.key, "cold", "bytes_sent")
        b2 = _farm_series(results, fc.key, "warm", "bytes_sent")
        if not s1 or not s2:
            continue
        m1, m2 = _med(s1), _med(s2)
        r = m2 / m1 if m1 else None
        br = (_med(b2) or 0) / _med(b1) if _med(b1) else None
        tgt = ""
        if fc.workload.startswith("w2") and r is not None:
            tgt = f"**{'met' if r <= 0.05 else 'MISSED'}** (≤ 5 %, by time)"
        lines.append(
            f"| {fc.workload} | {_fmt(m1, 2)} ({_range(s1, 2)}) | {_fmt((_med(b1) or 0) / MB, 1)} | "
            f"{_fmt(m2, 3)} ({_range(s2, 3)}) | {_fmt((_med(b2) or 0) / MB, 1)} | "
            f"{'n/a' if r is None else f'{r * 100:.0f} %'} | {'n/a' if br is None else f'{br * 100:.0f} %'} | {tgt} |"
        )
    lines += [
        "",
        "Where the farm's time goes (cold and warm, medians; from the JSON progress events):\n",
        "| workload | phase | start → first step event s | per-platform time on the node s (metadata) | last platform → exit s |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for fc in FARM_CASES:
        for phase in ("cold", "warm"):
            before, after, plat = [], [], {}
            for rec in results["rounds"]:
                r = (rec.get("farm") or {}).get(fc.key, {}).get(phase)
                if not r or r.get("rc") != 0:
                    continue
                before.append(r["before_steps"])
                after.append(r["after_platforms"])
                for p, v in (r.get("farm") or {}).items():
                    plat.setdefault(f"{p.replace('linux/', '')} {v.get('mode')}", []).append(
                        v.get("seconds") or 0
                    )
            if not before:
                continue
            desc = ", ".join(f"{k}: {statistics.median(v):.1f}" for k, v in plat.items())
            lines.append(
                f"| {fc.workload} | {phase} | {_fmt(_med(before), 2)} | {desc} | {_fmt(_med(after), 2)} |"
            )
    # paper estimate: N nodes on N machines, each building one platform natively
    lines += [
        "",
        "Paper estimate, N nodes on N machines (one platform each, natively, machines like this one):\n",
    ]
    for fc in FARM_CASES:
        single = by_key[f"i5-{fc.workload[:2]}"]
        one, _, _ = collect(results, single, "cold")
        fw = _farm_series(results, fc.key, "cold", "wall")
        lw, _, _ = collect(results, by_key[FARM_LOCAL[fc.key]], "cold")
        if not (one and fw and lw):
            continue
        over = max(0.0, (_med(fw) or 0) - (_med(lw) or 0))
        n = len(fc.platforms.split(","))
        est = (_med(one) or 0) + over
        lines.append(
            f"- {fc.workload}, {n} platforms: one native amd64 build alone takes {_med(one):.1f} s "
            f"(issue-5 row); the farm added {over:.1f} s over the local {n}-platform build here "
            f"(SSH, context, results back). With {n} machines each building its own platform natively: "
            f"≈ {_med(one):.1f} + {over:.1f} ≈ {est:.1f} s, against {_med(lw):.1f} s for all {n} on this one "
            f"machine (arm ones emulated) — if the per-platform native build on an arm machine is as fast "
            f"as amd64 here, and the results of {n} nodes come back in parallel."
        )
    w1 = by_key["i6-w1"]
    per: dict[str, list[float]] = {}
    for rec in results["rounds"]:
        c = rec["anyarch"].get(w1.key, {}).get("cold")
        if not c or c.get("rc") != 0:
            continue
        for st in c["steps"]:
            if st["kind"] == "run" and st["step"].startswith("RUN set -eux"):
                per.setdefault(st["platform"], []).append(st["seconds"])
    one, _, _ = collect(results, by_key["i5-w1"], "cold")
    lw, _, _ = collect(results, w1, "cold")
    f3 = _farm_series(results, "i7-w3", "cold", "wall")
    l3, _, _ = collect(results, by_key["i6-w3"], "cold")
    if per.get("linux/arm64") and per.get("linux/amd64") and one and lw and f3 and l3:
        over = max(0.0, (_med(f3) or 0) - (_med(l3) or 0))
        lines.append(
            f"- w1-debian-run, amd64+arm64 (not built on the farm here; its context is small like "
            f"w3's): the emulated arm64 `RUN set -eux ...` step takes {_med(per['linux/arm64']):.1f} s "
            f"against {_med(per['linux/amd64']):.1f} s native amd64 (issue-6 table). With a native "
            f"arm64 machine as a second node: ≈ the single-platform amd64 build {_med(one):.1f} s + "
            f"the farm overhead measured on w3 {over:.1f} s ≈ {_med(one) + over:.1f} s, against "
            f"{_med(lw):.1f} s locally — the case where a farm pays."
        )
    lines.append(
        "- w2 and w3 run no emulated step (w2 has no RUN; w3's RUN stage is "
        "`--platform=$BUILDPLATFORM`, built once natively), so on N machines they cannot beat "
        "the local build: the farm's overhead is all there is to gain or lose."
    )
    lines.append("")
    return lines


def render_summary(results: dict[str, Any]) -> list[str]:
    lines = [
        "| issue | workload (platforms) | phase | anyarch / buildah (medians) | target | verdict |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    for case in CASES:
        if case.key == "i6-w3-2p":
            continue
        for phase in ("cold", "push", "warm"):
            t = TARGETS.get((case.issue, phase))
            if t is None:
                continue
            aw, _, bw = collect(results, case, phase)
            if not aw or not bw:
                continue
            am, bm = _med(aw), _med(bw)
            ratio = am / bm if am is not None and bm else None
            v = verdict(case.issue, phase, ratio, am)
            plats = case.platforms.replace("linux/", "")
            lim = f"≤ {t[0]}×" + (f", < {t[1]} s" if t[1] else "")
            note = " (buildah: amd64,arm64)" if case.peer_platforms != case.platforms else ""
            lines.append(
                f"| {case.issue} | {case.workload} ({plats}){note} | {phase} | "
                f"{_fmt(am, 2)} / {_fmt(bm, 2)} s = **{_fmt(ratio, 2)}** | {lim} | "
                f"{v.split(' (')[0]} |"
            )
    for fc in FARM_CASES:
        fw = _farm_series(results, fc.key, "cold", "wall")
        lw, _, _ = collect(results, next(c for c in CASES if c.key == FARM_LOCAL[fc.key]), "cold")
        if fw and lw:
            r = (_med(fw) or 0) / (_med(lw) or 1)
            lines.append(
                f"| 7 | {fc.workload} ({fc.platforms.replace('linux/', '')}) | 1-node farm / local, cold | "
                f"{_fmt(_med(fw), 2)} / {_fmt(_med(lw), 2)} s = **{r:.2f}** | ≤ 1.2× | "
                f"**{'met' if r <= 1.2 else 'MISSED'}** |"
            )
    s1 = _farm_series(results, "i7-w2", "cold", "seconds")
    s2 = _farm_series(results, "i7-w2", "warm", "seconds")
    if s1 and s2:
        r = (_med(s2) or 0) / (_med(s1) or 1)
        lines.append(
            f"| 7 | w2-copy-heavy | context transfer, 2nd / 1st | {_fmt(_med(s2), 3)} / {_fmt(_med(s1), 2)} s "
            f"= **{r * 100:.0f} %** | ≤ 5 % | **{'met' if r <= 0.05 else 'MISSED'}** |"
        )
    if not results.get("farm", {}).get("available"):
        lines.append("| 7 | w2, w3 | farm | not measured | | |")
    return lines


def render(results: dict[str, Any], argv_text: str) -> str:
    f = results["facts"]
    v = results["versions"]
    out: list[str] = []
    add = out.append
    loads = (
        [results["load_start"]]
        + [r["load_before"] for r in results["rounds"]]
        + [results.get("load_end", "")]
    )
    add("## Builds: anyarch build vs buildah on the reference workloads (issues 5, 6, 7)\n")
    add(
        "Workloads and peer script: `../shared/bench/` (w1-debian-run, w2-copy-heavy, "
        "w3-cross-compile; `peer-buildah.sh WORKLOAD PLATFORMS`). Both tools run in the same "
        "rounds, alternating which goes first; medians over "
        f"{len(results['rounds'])} rounds.\n"
    )
    add("Reproduce (rewrites this section; needs `../shared/bench/setup-env.sh` done first):\n")
    add(f"    .venv/bin/python -m bench build --runs {len(results['rounds'])}\n")
    add(
        f"These figures: `.venv/bin/python -m bench build {argv_text}`, then this section written "
        "from its results file with `.venv/bin/python -m bench build --render RESULTS.json`.\n"
    )
    add("Machine and versions:\n")
    out.extend(facts_lines(f))
    add(f"- buildah: {v['buildah']}")
    add(f"- anyarch: {v['anyarch']}; crun: {v['crun']}")
    add(f"- qemu: {v['qemu']}")
    add(
        "- load average (1, 5, 15 min) at start / before each round / at end: "
        + " / ".join(x for x in loads if x)
    )
    add(
        f"- `anyarch --version` alone: {results['anyarch_version_wall']:.2f} s wall (median of 5)\n"
    )
    add("What is timed:\n")
    add(
        "- **buildah**: the three figures `peer-buildah.sh` prints: `buildah bud --layers "
        "--platform P --manifest m CTX` into a fresh overlay storage root (cold: includes pulling "
        "the base image from 127.0.0.1:5000), `buildah manifest push --all` to "
        "`127.0.0.1:5000/peer/W:buildah` (the same repository every round), and the same `bud` again (warm)."
    )
    add(
        "- **anyarch**: `anyarch --store STORE build -t 127.0.0.1:5000/anyarch-bench/CASE-RUN-rN:latest "
        "--platform P --progress json CTX` into a fresh empty STORE (cold: includes pulling the base "
        "image(s) from 127.0.0.1:5000, like buildah's), then `anyarch --store STORE push --progress quiet REF` "
        "(a new repository every round, so nothing is already there except what can be mounted), then "
        "the same build command again (warm). Whole processes, Python start-up included, bytecode "
        "cached as after `pip install` (`PYTHONPYCACHEPREFIX` in the work dir). CPU = user+sys "
        "of the process and its children (RUN containers, QEMU)."
    )
    add(
        "- The contexts are written by `make-contexts.py` into the run's own `BENCH_CACHE`, used by "
        "both tools."
    )
    add(
        "- Differences to keep in mind: buildah's push goes to the same repository every round "
        "(blobs of earlier rounds may already be there), anyarch's to a new one; for one platform "
        "buildah's `--manifest` makes a one-entry manifest list, anyarch a plain manifest; buildah "
        "builds the platforms of one `bud` one after the other, anyarch concurrently (`--jobs` "
        "defaults to the CPU count, 2 here). Other sessions shared this 2-core machine "
        "(load averages above): wall times drift, CPU times less.\n"
    )

    add("### Summary: the targets\n")
    out.extend(render_summary(results))
    add("")
    add("### Issue 5: single-platform (linux/amd64) builds\n")
    out.extend(render_issue_table(results, 5))
    add("")
    add("Where anyarch's cold build time goes (from its `--progress json` step events, medians):\n")
    out.extend(render_steps(results, 5))
    add("")

    su = results.get("startup")
    if su:
        add(
            "A warm rebuild runs no step: `anyarch build` first checks a fingerprint of the request, "
            "the context's file stats and the base images' digests against the record of the last "
            "full build (`src/anyarch/api/fastpath.py`) and, when nothing changed, replays its result "
            "without importing the frontend, planner, solver, OCI or store code. What it costs is the "
            "interpreter start, a few imports and a stat walk of the context. CPU "
            "seconds (user+sys, median of 5 fresh interpreters, measured by `startup_costs` in "
            "`bench/build.py` after the rounds; `marginal` = the extra cost of importing that module "
            "last, after what else the command needs):\n"
        )
        add("| what | CPU s |")
        add("| --- | ---: |")
        for k, v in su.items():
            cell = f"{v:.0f}" if "created" in k else f"{v:.3f}"
            add(f"| {k} | {cell} |")
        add("")

    add("### Issue 6: multi-platform builds\n")
    pf = results.get("peer_w3_armv7")
    if pf is not None:
        if pf.get("rc", 1) != 0:
            err = (pf.get("error") or "").strip().splitlines()
            msg = next((ln for ln in reversed(err) if "rror" in ln), err[-1] if err else "")
            add(
                "buildah cannot build w3 for amd64+arm64+arm/v7: `peer-buildah.sh w3-cross-compile "
                f"{THREE}` exited {pf.get('rc')} in this run: `{msg.strip()[:300]}`. The w3 3-platform "
                "row is therefore compared with buildah's amd64+arm64 build of w3 (it does more work "
                "than buildah there), and the 2-platform row compares like with like.\n"
            )
        else:
            add(f"buildah built w3 with arm/v7 in this run ({pf.get('line')}).\n")
    out.extend(render_issue_table(results, 6))
    add("")
    add("Where anyarch's cold build time goes (medians):\n")
    out.extend(render_steps(results, 6))
    add("")
    lim = results.get("limits")
    if lim:
        add("### The machine's limits (one core, in-process, median of 3)\n")
        add(
            f"Input: {lim['sample_bytes'] / MB:.0f} MB of the {lim['sample']} "
            "(text sources with half-random blobs interleaved), fed in 1 MiB chunks; "
            "MB = 10^6 bytes; measured by `measure_limits` in `bench/build.py` right after the rounds.\n"
        )
        add("| operation | MB/s per core | output / input |")
        add("| --- | ---: | ---: |")
        for k, val in lim.items():
            if k in ("sample_bytes", "sample", "context_bytes") or val is None:
                continue
            add(f"| {k} | {val[0]:.0f} | {val[1]:.2f} |")
        cb = lim.get("context_bytes", {})
        if cb:
            add("")
            add("Context sizes: " + ", ".join(f"{k} {b / MB:.1f} MB" for k, b in cb.items()) + ".")
            w2 = cb.get("w2-copy-heavy", 0)
            sha = lim["sha256"][0]
            isal = (lim.get("gzip isal level 2 (anyarch's default)") or (None,))[0]
            if isal:
                floor = w2 / MB / sha * 2 + w2 / MB / isal
                add(
                    f"A floor for one w2 layer set on one core (hash the tar, compress it with isal, "
                    f"hash the result, ignoring tar and I/O): {w2 / MB:.0f} / {sha:.0f} × 2 + "
                    f"{w2 / MB:.0f} / {isal:.0f} ≈ {floor:.2f} s."
                )
        add("")

    add("### Issue 7: a 1-node farm over loopback SSH\n")
    farm = results.get("farm", {})
    if not farm.get("available"):
        add(
            f"**Not measured**: the farm is not usable from the CLI in this tree ({farm.get('why')}).\n"
        )
    elif not any(rec.get("farm") for rec in results["rounds"]):
        add("Not measured in this run (no i7-* case selected).\n")
    else:
        out.extend(render_farm(results))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m bench build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--cases", nargs="*", help=f"subset of: {' '.join(c.key for c in CASES)}")
    ap.add_argument("--workdir", help="work directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--results", help="also write raw results (JSON) here, after every round")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only render docs from saved results")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    ap.add_argument("--no-limits", action="store_true", help="skip the hash/compression limits")
    ap.add_argument("--limits-only", action="store_true", help="print the machine limits and stop")
    ap.add_argument(
        "--no-startup", action="store_true", help="skip the start-up (import) cost probe"
    )
    ap.add_argument(
        "--experiments",
        action="store_true",
        help="run the bottleneck experiments only and write their docs section",
    )
    ap.add_argument(
        "--render-experiments",
        metavar="RESULTS_JSON",
        help="only write the experiments section from saved results",
    )
    ap.add_argument(
        "--startup-only", action="store_true", help="print the start-up (import) costs and stop"
    )
    ap.add_argument(
        "--skip-peer-failure",
        action="store_true",
        help="do not re-check buildah's w3 arm/v7 failure",
    )
    ap.add_argument(
        "--only",
        choices=["farm"],
        help="farm: only the issue-7 farm cases, each after its local cold build; prints, no docs",
    )
    ap.add_argument(
        "--workloads",
        nargs="*",
        default=[],
        help="with --only farm: a subset of w2 w3",
    )
    args = ap.parse_args(argv)
    args.argv = argv
    if args.only == "farm":
        return farm_only(args.runs, args.workloads)

    if args.limits_only:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, BENCH_CACHE=d)
            subprocess.run(
                [sys.executable, str(MAKE_CONTEXTS)], env=env, check=True, capture_output=True
            )
            print(json.dumps(measure_limits(Path(d) / "contexts" / "w2-copy-heavy"), indent=1))
        return 0
    if args.experiments:
        problems = preflight()
        if problems:
            for p in problems:
                print("bench build:", p, file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="anyarch-bench-exp-"))
        try:
            env = dict(os.environ, BENCH_CACHE=str(work / "cache"))
            subprocess.run(
                [sys.executable, str(MAKE_CONTEXTS)], env=env, check=True, capture_output=True
            )
            lb = loadavg()
            ex = experiments(work / "cache" / "contexts", work)
            ex["load_before"], ex["load_after"] = lb, loadavg()
        finally:
            _rmtree(work)
        ex["command"] = " ".join(argv)
        ex["facts"] = machine_facts()
        if args.results:
            Path(args.results).write_text(json.dumps(ex, indent=1))
        text = render_experiments(ex, ex["command"], ex["facts"])
        print(text)
        if not args.no_docs:
            write_section("build-experiments", text)
        return 0
    if args.render_experiments:
        ex = json.loads(Path(args.render_experiments).read_text())
        text = render_experiments(ex, ex.get("command", "--experiments"), ex.get("facts", {}))
        print(text)
        if not args.no_docs:
            write_section("build-experiments", text)
        return 0
    if args.startup_only:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, BENCH_CACHE=d)
            subprocess.run(
                [sys.executable, str(MAKE_CONTEXTS)], env=env, check=True, capture_output=True
            )
            for k, v in startup_costs(Path(d) / "contexts" / "w3-cross-compile", Path(d)).items():
                print(f"{v:8.3f}  {k}")
        return 0
    if args.render:
        results = json.loads(Path(args.render).read_text())
    else:
        problems = preflight()
        if problems:
            for p in problems:
                print("bench build:", p, file=sys.stderr)
            return 2
        results = main_run(args)
        if args.results:
            Path(args.results).write_text(json.dumps(results, indent=1))
    argv_text = results.get("command", "").removeprefix("python -m bench build ").strip()
    text = render(results, argv_text)
    print(text)
    if not args.no_docs:
        write_section("build", text)
    # exit 1 when any target is missed
    missed = "MISSED" in text
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
