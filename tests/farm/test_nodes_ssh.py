"""Contexts, builders and nodes over real SSH: listing, inspecting, bootstrapping, skipping."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from farmkit import Farm


def _setup_three(farm: Farm) -> None:
    """node1 (amd64), node2 (arm64) and node3 (arm/v7, no anyarch installed) as builder 'farm'."""
    n1 = farm.add_node("node1")
    n2 = farm.add_node("node2")
    n3 = farm.add_node("node3", with_anyarch=False)
    for name, node, desc in (
        ("node1", n1, "amd64 box"),
        ("node2", n2, "arm64 box"),
        ("node3", n3, ""),
    ):
        args = ["context", "create", name, "--docker", f"host={node.url}"]
        if desc:
            args += ["--description", desc]
        r = farm.run(*args)
        assert r.code == 0, r
    for i, (ctx, plat) in enumerate(
        (("node1", "linux/amd64"), ("node2", "linux/arm64"), ("node3", "linux/arm/v7"))
    ):
        r = farm.run(
            "builder",
            "create",
            *(["--append"] if i else ["--use"]),
            "--name",
            "farm",
            "--platform",
            plat,
            ctx,
        )
        assert r.code == 0 and r.out == "farm\n", r


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("   ") if c.strip()] for line in text.splitlines()]


def test_context_ls_use_inspect_rm(farm: Farm) -> None:
    n1 = farm.add_node("node1", start=False)
    assert (
        farm.run(
            "context", "create", "node1", "--docker", f"host={n1.url}", "--description", "amd64 box"
        ).code
        == 0
    )
    r = farm.run("context", "ls")
    assert r.code == 0, r
    assert _rows(r.out) == [
        ["NAME", "DESCRIPTION", "ENDPOINT"],
        ["default *", "The local machine", "local"],
        ["node1", "amd64 box", n1.url],
    ]
    assert farm.run("context", "use", "node1").code == 0
    assert _rows(farm.run("context", "ls").out)[1:] == [
        ["default", "The local machine", "local"],
        ["node1 *", "amd64 box", n1.url],
    ]
    doc = json.loads(farm.run("context", "inspect").out)
    assert doc[0]["Name"] == "node1"
    assert doc[0]["Metadata"] == {"Description": "amd64 box"}
    assert doc[0]["Endpoints"]["docker"] == {"Host": n1.url, "SkipTLSVerify": False}
    bad = farm.run("context", "create", "x", "--docker", "host=tcp://1.2.3.4:2375")
    assert (
        bad.code == 4
        and "no daemon" in bad.err
        and "Hint: reach other machines over SSH" in bad.err
    )
    assert farm.run("context", "rm", "node1").code == 0
    assert farm.run("context", "inspect", "node1").code == 3


def test_builder_ls_and_inspect_bootstrap(farm: Farm) -> None:
    _setup_three(farm)
    r = farm.run("builder", "ls")
    assert r.code == 0, r
    rows = _rows(r.out)
    assert rows[0] == ["NAME/NODE", "ENDPOINT", "STATUS", "PLATFORMS"]
    assert rows[1] == ["farm *"]
    by_node = {
        row[0].removeprefix("\\_ ").strip(): row[1:] for row in rows if row[0].startswith("\\_")
    }
    url = {n: farm.nodes[n].url for n in farm.nodes}
    # pinned first (*), then what the node detected: native ones, then emulated ones, marked
    ep, status, plats = by_node["farm0"]
    assert (ep, status) == (url["node1"], "ready")
    assert plats.startswith(
        "linux/amd64*, linux/386, linux/arm64 (emulated), linux/arm/v7 (emulated)"
    )
    ep, status, plats = by_node["farm1"]
    assert (ep, status) == (url["node2"], "ready")
    assert plats.startswith(
        "linux/arm64* (emulated), linux/amd64, linux/386, linux/arm/v7 (emulated)"
    )
    # node3 has no anyarch: ls does not ship it, it says so and shows only the pin
    assert by_node["farm2"] == [url["node3"], "needs bootstrap", "linux/arm/v7*"]
    assert by_node["default"][:2] == ["local", "ready"]

    r = farm.run("builder", "inspect", "--bootstrap", "farm")
    assert r.code == 0, r
    blocks = r.out.split("\n\n")
    assert blocks[0] == "Name:          farm\nNodes:         3"
    node3 = dict(line.split(":", 1) for line in blocks[3].splitlines())
    node3 = {k.strip(): v.strip() for k, v in node3.items()}
    assert node3["Name"] == "farm2"
    assert node3["Status"] == "ready"
    assert node3["Anyarch"].endswith("(shipped: anyarch is not installed there)")
    assert node3["Python"].startswith("3.11")  # the node's own /usr/bin/python3
    assert node3["Native"] == "linux/amd64"
    assert "linux/arm/v7 (qemu-arm)" in node3["Emulated"]
    assert node3["Free disk"].endswith("GB")
    shipped = list(
        (farm.nodes["node3"].cache / "anyarch" / "farm" / "zipapp").glob("anyarch-*.pyz")
    )
    assert len(shipped) == 1
    # once shipped, listing uses it
    rows = _rows(farm.run("builder", "ls").out)
    assert next(r for r in rows if r[0] == "\\_ farm2")[2] == "ready"


def test_one_ssh_connection_per_node_per_command(farm: Farm) -> None:
    n1 = farm.add_node("node1")
    assert farm.run("builder", "create", "--name", "solo", n1.url).code == 0
    before = n1.logins()
    r = farm.run("builder", "inspect", "solo")  # probe script, then farm-node info: two commands
    assert r.code == 0 and "Status:        ready" in r.out, r
    assert n1.logins() - before == 1


def test_unreachable_nodes_are_reported_quickly(farm: Farm, tmp_path: Path) -> None:
    n1 = farm.add_node("node1")
    down = farm.add_node("down", start=False)
    # a host that accepts TCP but never speaks SSH: only the timeout ends the wait
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(silent.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        assert (
            farm.run("builder", "create", "--name", "f", "--platform", "linux/amd64", n1.url).code
            == 0
        )
        assert (
            farm.run(
                "builder",
                "create",
                "--append",
                "--name",
                "f",
                "--platform",
                "linux/arm64",
                down.url,
            ).code
            == 0
        )
        assert (
            farm.run(
                "builder",
                "create",
                "--append",
                "--name",
                "f",
                "--node",
                "mute",
                f"ssh://root@127.0.0.1:{port}",
            ).code
            == 0
        )
        started = time.monotonic()
        r = farm.run("builder", "ls", env=farm.env(ANYARCH_NODE_TIMEOUT="1"))
        took = time.monotonic() - started
        assert r.code == 0, r
        status = {
            row[0].removeprefix("\\_ "): row[2]
            for row in _rows(r.out)
            if row[0].startswith("\\_") and len(row) > 2
        }
        assert status["f0"] == "ready"
        assert status["f1"] == "unreachable"
        assert status["mute"] == "unreachable"
        assert took < 12, f"ls took {took:.1f}s with a 1s node timeout"

        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM scratch\n")
        r = farm.run(
            "build",
            "--builder",
            "f",
            "--plan",
            "--platform",
            "linux/amd64,linux/arm64",
            str(ctx),
            env=farm.env(ANYARCH_NODE_TIMEOUT="1"),
        )
        assert r.code == 0, r
        assert (
            f"WARNING: node f1 skipped: node f1 ({down.url}) is unreachable: ssh: connect to host 127.0.0.1 port {down.port}: Connection refused"
            in r.err
        )
        assert "WARNING: node mute skipped" in r.err
        plan = {row[0]: row[1:] for row in _rows(r.out)[1:] if row and row[0].startswith("linux/")}
        assert plan["linux/amd64"][:2] == ["f0", "NATIVE"]
        assert plan["linux/arm64"][:2] == ["f0", "EMULATED"]
        assert "skipped node f1" in r.out

        # and the build itself: f1's platform is built elsewhere
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
        meta = tmp_path / "meta.json"
        r = farm.run(
            "build", "--builder", "f", "--platform", "linux/amd64,linux/arm64",
            "--metadata-file", str(meta), str(ctx), env=farm.env(ANYARCH_NODE_TIMEOUT="1"),
        )  # fmt: skip
        assert r.code == 0, r
        assert "WARNING: node f1 skipped" in r.err
        m = json.loads(meta.read_text())
        assert m["anyarch.farm.nodes"] == {"linux/amd64": "f0", "linux/arm64": "f0"}
        assert m["anyarch.farm"]["linux/arm64"]["mode"] == "emulated"
    finally:
        silent.close()
        for s in held:
            s.close()
