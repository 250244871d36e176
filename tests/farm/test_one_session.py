"""A farm build reaches each node in one SSH session and one anyarch start-up.

The probe script execs the node's ``anyarch farm-node serve``, which answers
the probe and then runs the build the coordinator sends it; the build's own
Python (``farm-node build-worker``) is started before the context arrives.
Each test puts a logging ``anyarch`` in front of the real one on the node's
PATH, so what the coordinator started there can be checked from the node's
side; a variant that refuses ``farm-node serve`` stands for an older anyarch.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from farmkit import Farm, SSHNode, cmdline

from anyarch.farm import protocol

DOCKERFILE = "FROM scratch\nCOPY hello.txt /hello.txt\n"

# Logs its arguments, then runs the real anyarch (REFUSE: like an anyarch
# that predates 'farm-node serve').
WRAPPER = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
case "$*" in
  "farm-node serve"*)
    if [ -n "{refuse}" ]; then
      echo "Error: No such command 'serve'." >&2
      exit 2
    fi;;
esac
exec {real} "$@"
"""


def _logged_node(farm: Farm, name: str, *, refuse_serve: bool = False) -> tuple[SSHNode, Path]:
    """A node whose PATH starts with a logging anyarch; returns it and its log."""
    bindir = farm.root / f"{name}-bin"
    bindir.mkdir(parents=True)
    log = farm.root / f"{name}-anyarch.log"
    log.write_text("")
    wrapper = bindir / "anyarch"
    wrapper.write_text(
        WRAPPER.format(log=log, real=farm.shim, refuse="yes" if refuse_serve else "")
    )
    wrapper.chmod(0o755)
    node = farm.add_node(name, start=False)
    node.path_env = f"{bindir}:{node.path_env}"
    node.start()
    with open(farm.known_hosts, "a") as fh:
        fh.write(node.known_hosts_line() + "\n")
    r = farm.run("builder", "create", "--name", "solo", "--platform", "linux/amd64", node.url)
    assert r.code == 0, r
    return node, log


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.txt").write_text("hello from one session\n")
    return ctx


def _started(log: Path) -> list[str]:
    """What the coordinator started as 'anyarch …' on the node: the first two words of each."""
    return [" ".join(line.split()[:2]) for line in log.read_text().splitlines()]


def _leftovers(node: SSHNode) -> list[str]:
    """Command lines still running under the node's sshd once its sessions should be over."""
    deadline = time.monotonic() + 10
    while True:
        left = [cmdline(p) for p in node.pids()[1:]]
        left = [c for c in left if "anyarch" in c or "farm-node" in c]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_a_farm_build_is_one_session_and_one_anyarch_on_the_node(
    farm: Farm, tmp_path: Path
) -> None:
    node, log = _logged_node(farm, "node1")
    before = node.logins()
    meta = tmp_path / "meta.json"
    r = farm.run(
        "build", "--builder", "solo", "--platform", "linux/amd64", "-t", "localhost/one:1",
        "--metadata-file", str(meta), str(_context(tmp_path)),
    )  # fmt: skip
    assert r.code == 0, r
    assert node.logins() - before == 1
    # today's path would have been: 'farm-node info', then 'farm-node build'
    assert _started(log) == ["farm-node serve"]
    m = json.loads(meta.read_text())
    assert m["anyarch.farm.nodes"] == {"linux/amd64": "solo0"}
    digest = m["anyarch.farm"]["linux/amd64"]["digest"].removeprefix("sha256:")
    assert (node.store / "blobs" / "sha256" / digest).is_file()  # built there
    assert (farm.store / "blobs" / "sha256" / digest).is_file()  # and brought back
    assert _leftovers(node) == []


def test_inspect_and_plan_ask_info_in_one_command(farm: Farm, tmp_path: Path) -> None:
    node, log = _logged_node(farm, "node1")
    r = farm.run("builder", "inspect", "solo")
    assert r.code == 0 and "Status:        ready" in r.out, r
    assert _started(log) == ["farm-node info"]
    r = farm.run(
        "build", "--builder", "solo", "--platform", "linux/amd64", "--plan",
        str(_context(tmp_path)),
    )  # fmt: skip
    assert r.code == 0 and "linux/amd64" in r.out, r
    assert _started(log) == ["farm-node info", "farm-node info"]
    assert _leftovers(node) == []


def test_an_anyarch_without_serve_is_probed_and_used_as_before(farm: Farm, tmp_path: Path) -> None:
    node, log = _logged_node(farm, "node1", refuse_serve=True)
    r = farm.run(
        "build", "--builder", "solo", "--platform", "linux/amd64", "-t", "localhost/old:1",
        str(_context(tmp_path)),
    )  # fmt: skip
    assert r.code == 0, r
    assert "WARNING" not in r.err, r
    assert _started(log) == ["farm-node serve", "farm-node info", "farm-node build"]
    assert _leftovers(node) == []


def _local(
    args: list[str], stdin: bytes, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "anyarch", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_serve_answers_the_probe_and_ends_on_eof(tmp_path: Path) -> None:
    env = dict(
        os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), ANYARCH_STORE=str(tmp_path / "s")
    )
    p = _local(["farm-node", "serve", "--platform", "linux/arm64"], b"", env)
    assert p.returncode == 0, p.stderr
    stream = io.BytesIO(p.stdout)
    frame = protocol.read_frame(stream)
    assert frame.kind == protocol.RESULT
    assert frame.obj["protocol"] == protocol.PROTOCOL
    assert "linux/arm64" in [x["platform"] for x in frame.obj["platforms"]]
    assert stream.read() == b""  # nothing after the info: no build was asked for

    p = _local(["farm-node", "serve"], b'{"build": "not a list"}\n', env)
    assert p.returncode != 0
    assert b"Error: farm-node serve: the coordinator sent" in p.stderr


def test_build_worker_runs_the_command_line_it_is_sent(tmp_path: Path) -> None:
    env = dict(os.environ, ANYARCH_STORE=str(tmp_path / "s"))
    p = _local(["farm-node", "build-worker"], b'["--version"]\n', env)
    assert p.returncode == 0, p.stderr
    version, last = p.stdout.decode().splitlines()
    assert version.startswith("anyarch version ")
    assert last == "@anyarch-build-exit@ 0"  # then farm-node build need not wait for its exit
    p = _local(["farm-node", "build-worker"], b'["no-such-command"]\n', env)
    assert p.returncode == 2  # the command's own exit status and message
    assert b"No such command 'no-such-command'" in p.stderr
    assert p.stdout.decode().splitlines() == ["@anyarch-build-exit@ 2"]
    p = _local(["farm-node", "build-worker"], b"", env)  # never given a command line
    assert (p.returncode, p.stdout) == (0, b"")
