"""Farm builds over real SSH nodes: placement, push, spreading, failover, native-only, partial results.

Every node is an sshd on loopback with its own store (``ANYARCH_STORE`` set
by the server), so which node built a platform can be checked independently
of what the coordinator reports: the platform's manifest is in that node's
store and in no other's.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from pathlib import Path

from farmkit import CLI, Farm, SSHNode, cmdline

from helpers.registry import RegistryServer, skopeo, skopeo_args

RUN_DOCKERFILE = """\
FROM localhost/busybox:1.35
ARG TARGETPLATFORM
ARG TARGETARCH
RUN echo "$TARGETPLATFORM $(uname -m)" > /built.txt{extra}
COPY hello.txt /hello.txt
"""


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "hello.txt").write_text("hello from the farm\n")
    return ctx


def _builder(
    farm: Farm,
    name: str,
    nodes: list[tuple[str, str | None]],
    *,
    with_anyarch: dict[str, bool] | None = None,
) -> None:
    """A builder whose nodes are new sshd nodes: (node name, pinned platform or None)."""
    for i, (node_name, plat) in enumerate(nodes):
        node = farm.add_node(node_name, with_anyarch=(with_anyarch or {}).get(node_name, True))
        args = ["builder", "create", "--name", name]
        if i:
            args.append("--append")
        if plat:
            args += ["--platform", plat]
        r = farm.run(*args, node.url)
        assert r.code == 0, r


def _meta(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


def _has_blob(store: Path, digest: str) -> bool:
    return (store / "blobs" / "sha256" / digest.removeprefix("sha256:")).is_file()


def _summary(err: str) -> dict[str, list[str]]:
    """The PLATFORM/NODE/NATIVE-EMULATED/TIME/STATUS table at the end of stderr."""
    lines = err.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("PLATFORM"))
    assert lines[start].split() == ["PLATFORM", "NODE", "NATIVE/EMULATED", "TIME", "STATUS"]
    out = {}
    for line in lines[start + 1 :]:
        if not line.startswith("linux/"):
            break
        cells = [c.strip() for c in line.split("   ") if c.strip()]
        out[cells[0]] = cells[1:]
    return out


def test_three_nodes_three_platforms_pushed_as_one_index(
    farm_with_base: Farm, tmp_path: Path, registry: RegistryServer, repo: str
) -> None:
    farm = farm_with_base
    _builder(
        farm,
        "farm",
        [("node1", "linux/amd64"), ("node2", "linux/arm64"), ("node3", "linux/arm/v7")],
        with_anyarch={"node3": False},  # node3 has only python3: anyarch ships itself there
    )
    ctx = _context(tmp_path, RUN_DOCKERFILE.format(extra=""))
    ref = f"{registry.host}/{repo}:1"
    meta = tmp_path / "meta.json"
    r = farm.run(
        "build", "--builder", "farm", "--platform", "linux/amd64,linux/arm64,linux/arm/v7",
        "-t", ref, "--push", "--metadata-file", str(meta), str(ctx),
    )  # fmt: skip
    assert r.code == 0, r
    m = _meta(meta)
    expected = {"linux/amd64": "farm0", "linux/arm64": "farm1", "linux/arm/v7": "farm2"}
    assert m["anyarch.farm.nodes"] == expected
    stores = {
        "farm0": farm.nodes["node1"].store,
        "farm1": farm.nodes["node2"].store,
        "farm2": farm.nodes["node3"].store,
    }
    digests = {}
    for plat, node in expected.items():
        entry = m["anyarch.farm"][plat]
        assert (entry["node"], entry["status"], entry["pinned"]) == (node, "done", True)
        digests[plat] = entry["digest"]
        # built there, and only there
        assert _has_blob(stores[node], entry["digest"]), plat
        assert not any(_has_blob(s, entry["digest"]) for n, s in stores.items() if n != node), plat
    assert m["anyarch.farm"]["linux/amd64"]["mode"] == "native"
    for plat in ("linux/arm64", "linux/arm/v7"):
        assert m["anyarch.farm"][plat]["mode"] == "emulated"
        assert m["anyarch.farm"][plat]["metadata"]["anyarch.platforms"][plat]["how"] == "emulated"
    assert (farm.nodes["node3"].cache / "anyarch" / "farm" / "zipapp").is_dir()

    raw = json.loads(skopeo("inspect", "--raw", *skopeo_args(registry), f"docker://{ref}").stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert m["containerimage.digest"].startswith("sha256:")
    listed = {
        "/".join(
            filter(
                None,
                [e["platform"]["os"], e["platform"]["architecture"], e["platform"].get("variant")],
            )
        ): e["digest"]
        for e in raw["manifests"]
    }
    assert listed == digests
    arm = json.loads(
        skopeo(
            "inspect",
            "--override-arch",
            "arm",
            "--override-variant",
            "v7",
            *skopeo_args(registry),
            f"docker://{ref}",
        ).stdout
    )
    # skopeo resolves the index for an arm/v7 machine to the image node3 built
    by_digest = f"docker://{registry.host}/{repo}@{digests['linux/arm/v7']}"
    arm_manifest = json.loads(skopeo("inspect", "--raw", *skopeo_args(registry), by_digest).stdout)
    assert arm["Architecture"] == "arm"
    assert arm["Layers"] == [layer["digest"] for layer in arm_manifest["layers"]]
    table = _summary(r.err)
    assert table["linux/amd64"][0:2] == ["farm0", "NATIVE"] and table["linux/amd64"][-1] == "done"
    assert table["linux/arm64"][0:2] == ["farm1", "EMULATED"]
    assert table["linux/arm/v7"][0:2] == ["farm2", "EMULATED"]
    assert (
        "WARNING: emulated (QEMU, slower than native): linux/arm64 on farm1, linux/arm/v7 on farm2"
        in r.err
    )


def test_two_nodes_of_one_arch_share_a_two_platform_build(
    farm: Farm, shim: Path, tmp_path: Path
) -> None:
    from farmkit import build_available

    reason = build_available(shim)
    assert reason is None, reason
    _builder(farm, "pair", [("a", None), ("b", None)])
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n")
    meta, out = tmp_path / "meta.json", tmp_path / "out.tar"
    r = farm.run(
        "build", "--builder", "pair", "--platform", "linux/amd64,linux/386", "-t", "localhost/pair:1",
        "--metadata-file", str(meta), "--output", f"type=oci,dest={out}", str(ctx),
    )  # fmt: skip
    assert r.code == 0, r
    m = _meta(meta)
    assert sorted(m["anyarch.farm.nodes"].values()) == ["pair0", "pair1"]  # both nodes got work
    assert {e["mode"] for e in m["anyarch.farm"].values()} == {"native"}
    for plat, node in m["anyarch.farm.nodes"].items():
        store = farm.nodes["a" if node == "pair0" else "b"].store
        assert _has_blob(store, m["anyarch.farm"][plat]["digest"])
        assert "least busy" in m["anyarch.farm"][plat]["reason"] or plat == "linux/amd64"
    with tarfile.open(out) as tf:
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        top = index["manifests"][0]
        assert top["digest"] == m["containerimage.digest"]
        inner = json.load(tf.extractfile("blobs/sha256/" + top["digest"].removeprefix("sha256:")))  # type: ignore[arg-type]
    assert [e["platform"]["architecture"] for e in inner["manifests"]] == ["amd64", "386"]


def _wait_for(
    node: SSHNode, needle: str, proc: subprocess.Popen[bytes], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the build ended before {needle!r} ran on {node.name}: {proc.stderr.read() if proc.stderr else ''!r}"
            )
        if any(needle in cmdline(pid) for pid in node.pids()):
            return
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never ran on {node.name}")


def _start_build(farm: Farm, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(farm.shim), "build", *args],
        env=farm.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(farm.root),
    )


def _finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> CLI:
    out, err = proc.communicate(timeout=timeout)
    return CLI(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def test_node_killed_mid_build_is_replaced(farm_with_base: Farm, tmp_path: Path) -> None:
    farm = farm_with_base
    _builder(
        farm,
        "farm",
        [("node1", "linux/amd64"), ("node2", "linux/arm64"), ("node3", "linux/arm/v7")],
    )
    ctx = _context(
        tmp_path,
        RUN_DOCKERFILE.format(extra='\nRUN if [ "$TARGETARCH" = arm64 ]; then sleep 4.5; fi'),
    )
    meta = tmp_path / "meta.json"
    proc = _start_build(
        farm, "--builder", "farm", "--platform", "linux/amd64,linux/arm64,linux/arm/v7",
        "-t", "localhost/failover:1", "--metadata-file", str(meta), str(ctx),
    )  # fmt: skip
    _wait_for(farm.nodes["node2"], "sleep 4.5", proc)
    farm.nodes["node2"].kill()
    r = _finish(proc)
    assert r.code == 0, r
    m = _meta(meta)
    arm64 = m["anyarch.farm"]["linux/arm64"]
    assert arm64["node"] in ("farm0", "farm2")
    assert [(a["node"], a["status"]) for a in arm64["attempts"]] == [
        ("farm1", "lost"),
        (arm64["node"], "done"),
    ]
    rebuilt_on = farm.nodes["node1" if arm64["node"] == "farm0" else "node3"].store
    assert _has_blob(rebuilt_on, arm64["digest"])
    assert "WARNING: node farm1 lost" in r.err
    assert f"linux/arm64: rebuilding on {arm64['node']} (emulated) after losing farm1" in r.err
    assert _summary(r.err)["linux/arm64"][-1] == "done (rebuilt after losing farm1)"
    assert (
        m["anyarch.farm.nodes"]["linux/amd64"] == "farm0"
        and m["anyarch.farm.nodes"]["linux/arm/v7"] == "farm2"
    )


def test_losing_the_only_capable_node_names_the_platform(
    farm_with_base: Farm, tmp_path: Path
) -> None:
    farm = farm_with_base
    _builder(farm, "solo", [("only", "linux/arm64")])
    ctx = _context(tmp_path, RUN_DOCKERFILE.format(extra="\nRUN sleep 4.5"))
    proc = _start_build(
        farm, "--builder", "solo", "--platform", "linux/arm64", "-t", "localhost/solo:1", str(ctx)
    )
    _wait_for(farm.nodes["only"], "sleep 4.5", proc)
    farm.nodes["only"].kill()
    r = _finish(proc)
    assert r.code == 9, r
    assert "Error: linux/arm64: node solo0 was lost (connection lost during the build" in r.err
    assert "no other node can build it" in r.err
    assert "Hint: add or fix a node for it" in r.err


def test_require_native_fails_before_any_work(farm: Farm, tmp_path: Path) -> None:
    _builder(farm, "intel", [("node1", "linux/amd64")])
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello.txt /\n")
    r = farm.run(
        "build",
        "--builder",
        "intel",
        "--require-native",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        "localhost/n:1",
        str(ctx),
    )
    assert r.code == 9, r
    assert "Error: --require-native: no reachable node runs linux/arm64 natively" in r.err
    assert "Hint: intel0 could emulate it; drop --require-native to allow that" in r.err
    node = farm.nodes["node1"]
    assert not (node.cache / "anyarch" / "farm" / "contexts").exists()  # no context was even sent
    assert not (node.store / "blobs").exists()
    assert (
        not (farm.store / "index.json").exists()
        or "localhost/n" not in (farm.store / "index.json").read_text()
    )


def test_keep_going_publishes_what_succeeded(farm_with_base: Farm, tmp_path: Path) -> None:
    farm = farm_with_base
    _builder(farm, "farm", [("node1", "linux/amd64"), ("node2", "linux/arm64")])
    ctx = _context(tmp_path, RUN_DOCKERFILE.format(extra='\nRUN [ "$TARGETARCH" != arm64 ]'))
    args = ["build", "--builder", "farm", "--platform", "linux/amd64,linux/arm64", str(ctx)]
    r = farm.run(*args, "-t", "localhost/strict:1")
    assert r.code == 7, r
    assert "Error: linux/arm64 on node farm1:" in r.err
    assert "localhost/strict" not in farm.run("images").out

    meta = tmp_path / "meta.json"
    r = farm.run(*args, "-t", "localhost/partial:1", "--keep-going", "--metadata-file", str(meta))
    assert r.code == 7, r
    assert "Error: 1 of 2 platforms failed (linux/arm64)" in r.err
    table = _summary(r.err)
    assert table["linux/amd64"][-1] == "done" and table["linux/arm64"][-1] == "FAILED"
    m = _meta(meta)
    assert m["anyarch.farm.nodes"] == {"linux/amd64": "farm0"}
    # the first (failed) build already left the context on both nodes: nothing sent again
    assert {n: c["files_sent"] for n, c in m["anyarch.farm.context"].items()} == {
        "farm0": 0,
        "farm1": 0,
    }
    assert m["anyarch.farm"]["linux/arm64"]["status"] == "failed"
    index = json.loads(
        (farm.store / "blobs" / "sha256" / m["containerimage.digest"][7:]).read_text()
    )
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["amd64"]
    listed = farm.run("image", "inspect", "localhost/partial:1", "-f", "{{.Architecture}}")
    assert (listed.code, listed.out.strip()) == (0, "amd64"), listed


def test_node_push_pushes_from_the_nodes(
    farm: Farm, shim: Path, tmp_path: Path, registry: RegistryServer, repo: str
) -> None:
    from farmkit import build_available

    assert build_available(shim) is None
    _builder(farm, "pair", [("a", "linux/amd64"), ("b", "linux/386")])
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n")
    ref = f"{registry.host}/{repo}:np"
    meta = tmp_path / "meta.json"
    r = farm.run(
        "build", "--builder", "pair", "--platform", "linux/amd64,linux/386", "-t", ref,
        "--push", "--node-push", "--metadata-file", str(meta), str(ctx),
    )  # fmt: skip
    assert r.code == 0, r
    m = _meta(meta)
    raw = json.loads(skopeo("inspect", "--raw", *skopeo_args(registry), f"docker://{ref}").stdout)
    assert [e["digest"] for e in raw["manifests"]] == [
        m["anyarch.farm"]["linux/amd64"]["digest"],
        m["anyarch.farm"]["linux/386"]["digest"],
    ]
    for plat in ("linux/amd64", "linux/386"):
        d = m["anyarch.farm"][plat]["digest"]
        assert m["anyarch.farm"][plat]["pushed"] == [f"{registry.host}/{repo}@{d}"]
        assert not _has_blob(farm.store, d)  # relayed by nobody: the coordinator never held it


def test_the_local_machine_is_a_node_like_the_others(
    farm: Farm, shim: Path, tmp_path: Path
) -> None:
    from farmkit import build_available

    assert build_available(shim) is None
    remote = farm.add_node("remote")
    assert (
        farm.run(
            "builder", "create", "--name", "mixed", "--platform", "linux/amd64", "default"
        ).code
        == 0
    )
    r = farm.run(
        "builder", "create", "--append", "--name", "mixed", "--platform", "linux/386", remote.url
    )
    assert r.code == 0, r
    ctx = _context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n")
    meta = tmp_path / "meta.json"
    r = farm.run(
        "build", "--builder", "mixed", "--platform", "linux/amd64,linux/386", "-t", "localhost/mixed:1",
        "--progress", "json", "--metadata-file", str(meta), str(ctx),
    )  # fmt: skip
    assert r.code == 0, r
    m = _meta(meta)
    assert m["anyarch.farm.nodes"] == {"linux/amd64": "mixed0", "linux/386": "mixed1"}
    assert m["anyarch.farm"]["linux/amd64"]["endpoint"] == "local"
    assert _has_blob(farm.store, m["anyarch.farm"]["linux/amd64"]["digest"])
    assert not _has_blob(remote.store, m["anyarch.farm"]["linux/amd64"]["digest"])
    events = [json.loads(line) for line in r.err.splitlines() if line.strip()]  # JSON only
    steps = {(e["platform"], e["node"]) for e in events if e.get("event") == "step"}
    assert steps == {("linux/amd64", "mixed0"), ("linux/386", "mixed1")}
    final = events[-1]
    assert (final["event"], final["digest"], final["names"]) == (
        "result",
        m["containerimage.digest"],
        ["localhost/mixed:1"],
    )
