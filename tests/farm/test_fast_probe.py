"""The one-session probe (``sh -c`` that execs ``anyarch farm-node info|serve``), without SSH.

A transport that runs commands here but says it is remote stands in for an
SSH node; the node's PATH holds a real or a misbehaving ``anyarch``.  The
SSH tests (test_one_session.py) check the same path end to end; these check
its edges: a kept process, a lost connection, a timeout, no anyarch at all.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from anyarch.errors import NodeError
from anyarch.farm.config import NodeConfig, parse_endpoint
from anyarch.farm.nodes import NodeSession
from anyarch.farm.ssh import SSHTransport
from anyarch.farm.transport import LocalTransport


class _HereAsRemote(LocalTransport):
    """Runs a node's commands on this machine, as if over SSH (the remote probe path)."""

    remote = True


def _session(tmp_path: Path, anyarch_script: str | None) -> NodeSession:
    """A session whose node PATH has ``anyarch`` = ``anyarch_script`` (None: no anyarch)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if anyarch_script is not None:
        exe = bindir / "anyarch"
        exe.write_text(anyarch_script)
        exe.chmod(0o755)
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "ANYARCH_STORE": str(tmp_path / "store"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    node = NodeConfig("n1", "ssh://nowhere", ("linux/amd64",))
    return NodeSession(node, _HereAsRemote("n1", "ssh://nowhere", env=env))


REAL = f'#!/bin/sh\nexec {sys.executable} -m anyarch "$@"\n'


def test_serve_probe_keeps_the_answering_process_for_the_build(tmp_path: Path) -> None:
    s = _session(tmp_path, REAL)
    info = s.probe(["linux/arm64"], serve=True)
    assert info.reachable, info
    assert "linux/amd64" in info.native or "linux/amd64" in info.emulated
    assert s.prefix == [str(tmp_path / "bin" / "anyarch")]
    served = s.take_served()
    assert served is not None and served.proc.poll() is None  # waiting for its build
    assert s.take_served() is None  # handed out once
    s._served = served  # give it back: close() must end it
    s.close()
    assert served.proc.poll() is not None


def test_info_probe_is_one_command_and_leaves_nothing(tmp_path: Path) -> None:
    s = _session(tmp_path, REAL)
    info = s.probe()
    assert info.reachable, info
    assert s.take_served() is None


def test_connection_lost_during_the_probe_is_reported(tmp_path: Path) -> None:
    s = _session(tmp_path, "#!/bin/sh\necho 'Connection closed by 10.0.0.9' >&2\nexit 255\n")
    info = s.probe(serve=True)
    assert not info.reachable
    assert info.error == (
        "node n1 (ssh://nowhere) 'anyarch farm-node info' failed: "
        "connection lost (Connection closed by 10.0.0.9)"
    )


def test_a_node_that_does_not_answer_in_time_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NodeSession, "fast_probe_timeout", 1.0)
    s = _session(tmp_path, "#!/bin/sh\nexec sleep 30\n")
    info = s.probe(serve=True)
    assert not info.reachable
    assert info.error == "node n1 (ssh://nowhere) 'anyarch farm-node info' failed: timed out"


def test_without_anyarch_the_full_probe_says_so(tmp_path: Path) -> None:
    s = _session(tmp_path, None)
    info = s.probe(serve=True, bootstrap_ok=False)
    assert not info.reachable and info.missing_anyarch
    assert info.error == (
        "node n1 (ssh://nowhere) cannot be used yet: anyarch is not installed there"
    )
    assert s.take_served() is None


def test_an_anyarch_that_fails_falls_back_to_the_full_probe(tmp_path: Path) -> None:
    # answers 'farm-node info' (the full probe's question) but not 'serve'
    script = (
        "#!/bin/sh\n"
        'if [ "$2" = serve ]; then echo "Error: No such command." >&2; exit 2; fi\n'
        f'exec {sys.executable} -m anyarch "$@"\n'
    )
    s = _session(tmp_path, script)
    info = s.probe(serve=True)
    assert info.reachable and not info.bootstrapped, info
    assert s.take_served() is None  # the build starts its own 'farm-node build'


def test_an_early_handshake_runs_once_and_its_error_comes_from_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = SSHTransport(
        "n1",
        parse_endpoint(f"ssh://root@127.0.0.1:{port}"),
        connect_timeout=2,
        config_file=os.devnull,
    )
    calls: list[int] = []
    handshake = t._connect

    def counted() -> None:
        calls.append(1)
        handshake()

    monkeypatch.setattr(t, "_connect", counted)
    t.connect_soon()
    t.connect_soon()  # already under way: no second one
    with pytest.raises(NodeError, match=r"node n1 \(ssh://root@127.0.0.1:\d+\) is unreachable"):
        t.connect()
    assert calls == [1]
    with pytest.raises(NodeError):  # a later connect tries again, as before
        t.connect()
    assert calls == [1, 1]


def test_a_node_that_gets_the_zipapp_serves_its_build_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "coordinator-cache"))  # zipapp built here
    s = _session(tmp_path, None)  # no anyarch on the node: python3 only
    info = s.probe(serve=True)
    assert info.reachable and info.bootstrapped, info
    assert info.bootstrap_reason == "anyarch is not installed there"
    served = s.take_served()
    assert served is not None and served.proc.poll() is None
    assert s.prefix[-1].endswith(".pyz")
    s._served = served
    s.close()
    assert served.proc.poll() is not None
