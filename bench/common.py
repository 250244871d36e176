"""Shared pieces of the benchmarks: machine facts, timing, a real registry, the docs writer.

Every benchmark times anyarch against a real peer tool on this machine, in the
same run, alternating which tool goes first, and reports medians and ratios.
Nothing here holds a result: the docs section is rewritten from each run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "performance.md"
VENV_BIN = Path(sys.executable).parent


# --- machine facts ----------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        head = out.stdout.strip() or "unknown"
        return head + (" (src/ has uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine_facts() -> dict[str, str]:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count() or "?"),
        "cpu": cpu_model(),
        "memory": mem or "unknown",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "anyarch commit": git_head(),
    }


def facts_lines(facts: dict[str, str]) -> list[str]:
    return [f"- {k}: {v}" for k, v in facts.items()]


# --- timing -------------------------------------------------------------------------


@dataclass
class Series:
    """Wall times (seconds) of one tool on one case."""

    label: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user+sys of the process and its threads
    peer: bool = False  # a variant of the peer tool: ratios read anyarch / this

    def add(self, wall: float, cpu: float) -> None:
        self.times.append(wall)
        self.cpu.append(cpu)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def best(self) -> float:
        return min(self.times) if self.times else float("nan")

    def spread(self) -> str:
        if not self.times:
            return "-"
        return f"{min(self.times):.2f}–{max(self.times):.2f}"


class CommandFailed(RuntimeError):
    pass


def run_timed(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 900
) -> tuple[float, float, str]:
    """Run a command; return (wall s, CPU s of the child, stdout); raise on failure.

    CPU is user+sys of the command and its threads (``RUSAGE_CHILDREN``
    delta), which a busy machine disturbs much less than wall time.
    """
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout)
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-4000:]}{proc.stdout[-2000:]}"
        )
    return elapsed, cpu, proc.stdout


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def shell_quote(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


# --- a real registry ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if not path:
        raise SystemExit(f"bench: {name} is not installed (Debian: docker-registry, skopeo)")
    return path


class Registry:
    """``docker-registry serve`` (CNCF distribution) on a free 127.0.0.1 port, no auth."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        binary = find_tool("docker-registry")
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        last = ""
        for _ in range(5):
            self.port = free_port()
            cfg = {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(storage)},
                    "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}},
                },
                "http": {"addr": self.host, "secret": "anyarch-bench-secret"},
            }
            cfg_path = self.root / "config.yml"
            cfg_path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
            with open(self.root / "registry.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [binary, "serve", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last = f"exited with {self.proc.returncode}"
                    break
                try:
                    with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1):
                        return self
                except urllib.error.HTTPError:
                    return self
                except OSError:
                    time.sleep(0.05)
            else:
                last = "did not answer in 15 s"
            self.stop()
        raise RuntimeError(f"docker-registry did not start: {last}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def manifest_digest(self, repository: str, reference: str) -> str:
        """``Docker-Content-Digest`` of a manifest/index (OCI and Docker types accepted)."""
        req = urllib.request.Request(
            f"http://{self.host}/v2/{repository}/manifests/{reference}",
            method="HEAD",
            headers={
                "Accept": ", ".join(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    ]
                )
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.headers.get("Docker-Content-Digest", ""))


# --- docs/performance.md -------------------------------------------------------------

DOC_HEADER = """# Performance

How fast anyarch is, measured against real peer tools on the same machine in
the same run (see `bench/`). Each section below is written by one benchmark
from its last run; rerun the command it shows to reproduce it. Figures drift
between machines and runs: read the ratios, not the absolute times.
"""


def write_section(key: str, body: str, path: Path = DOCS) -> None:
    """Replace (or append) the section between this benchmark's markers."""
    start = f"<!-- bench:{key}:start -->"
    end = f"<!-- bench:{key}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else DOC_HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
