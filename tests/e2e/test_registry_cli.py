"""pull, push, copy, manifest create/annotate/push/inspect/rm, login — as a user types them."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from helpers.common import Runner, require_tool

PLATS = ["linux/amd64", "linux/arm64", "linux/arm/v7"]


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    skopeo = require_tool("skopeo")
    return subprocess.run([skopeo, *args], capture_output=True, text=True, check=True, timeout=120)


@pytest.fixture
def per_arch(anyarch: Runner, busybox_layout: Path, registry, repo) -> dict[str, str]:
    """Three single-platform images pushed under three tags of one repository."""
    refs = {}
    for p in PLATS:
        tag = "linux-" + p.split("/", 1)[1].replace("/", "-")
        ref = f"{registry.host}/{repo}:{tag}"
        anyarch("copy", "--platform", p, f"oci:{busybox_layout}:latest", ref, "--progress", "quiet", check=True)
        refs[p] = ref
    return refs


def test_seed_scenario_create_push_inspect(anyarch, per_arch, registry, repo, tmp_path):
    lst = f"{registry.host}/{repo}:1"
    r = anyarch("manifest", "create", lst, *per_arch.values(), check=True)
    assert f"Created manifest list {lst}" in r.out
    r = anyarch("manifest", "push", lst, "--progress", "plain", check=True)
    digest = r.out.strip().splitlines()[-1]
    assert digest.startswith("sha256:")
    r = anyarch("manifest", "inspect", lst, check=True)
    doc = json.loads(r.out)
    # what `jq '.manifests[] | {digest, arch: .platform.architecture, os: .platform.os}'` would read
    got = [(m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant", "")) for m in doc["manifests"]]
    assert got == [("linux", "amd64", ""), ("linux", "arm64", ""), ("linux", "arm", "v7")]
    assert r.out.startswith('{\n   "schemaVersion": 2,\n   "mediaType"')  # docker's 3-space list shape
    raw_ours = subprocess.run(
        [os.environ.get("PYTHON", "python3"), "-m", "anyarch", "manifest", "inspect", "--raw", lst],
        capture_output=True, env={**os.environ, "ANYARCH_STORE": str(anyarch.store), "PYTHONPATH": os.pathsep.join(__import__("sys").path)}, check=False,
    )
    raw_skopeo = subprocess.run([require_tool("skopeo"), "inspect", "--tls-verify=false", "--raw", f"docker://{lst}"], capture_output=True, check=True).stdout
    assert raw_ours.stdout == raw_skopeo
    import hashlib

    assert "sha256:" + hashlib.sha256(raw_skopeo).hexdigest() == digest
    out = tmp_path / "arm64"
    _skopeo("copy", "--src-tls-verify=false", "--override-arch", "arm64", f"docker://{lst}", f"oci:{out}:x")
    idx = json.loads((out / "index.json").read_text())
    m = json.loads((out / "blobs" / "sha256" / idx["manifests"][0]["digest"].split(":")[1]).read_text())
    cfg = json.loads((out / "blobs" / "sha256" / m["config"]["digest"].split(":")[1]).read_text())
    assert cfg["architecture"] == "arm64"


def test_manifest_table_and_verbose(anyarch, per_arch, registry, repo):
    lst = f"{registry.host}/{repo}:1"
    anyarch("manifest", "create", lst, *per_arch.values(), check=True)
    anyarch("manifest", "push", lst, "--progress", "quiet", check=True)
    r = anyarch("manifest", "inspect", "--format", "table", lst, check=True)
    lines = r.out.splitlines()
    assert lines[0].split() == ["PLATFORM", "DIGEST", "SIZE", "MEDIA", "TYPE"]
    assert [ln.split()[0] for ln in lines[1:]] == PLATS
    r = anyarch("manifest", "inspect", "--verbose", lst, check=True)
    recs = json.loads(r.out)
    assert [x["Descriptor"]["platform"]["architecture"] for x in recs] == ["amd64", "arm64", "arm"]
    assert all("OCIManifest" in x and x["Ref"].startswith(f"{registry.host}/{repo}@sha256:") for x in recs)
    # a single image: its manifest, tab-indented like docker
    r = anyarch("manifest", "inspect", per_arch["linux/arm64"], check=True)
    assert r.out.startswith('{\n\t"')
    assert json.loads(r.out)["mediaType"] == "application/vnd.oci.image.manifest.v1+json"


def test_annotate_amend_docker_format_and_rm(anyarch, per_arch, registry, repo):
    lst = f"{registry.host}/{repo}:list"
    anyarch("manifest", "create", lst, per_arch["linux/amd64"], check=True)
    r = anyarch("manifest", "create", lst, per_arch["linux/arm64"])
    assert r.code == 4 and "--amend" in r.err
    anyarch("manifest", "create", "--amend", lst, per_arch["linux/arm64"], check=True)
    anyarch("manifest", "annotate", lst, per_arch["linux/arm64"], "--variant", "v8", check=True)
    r = anyarch("manifest", "inspect", lst, check=True)
    plats = [m["platform"] for m in json.loads(r.out)["manifests"]]
    assert plats[1] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    anyarch("manifest", "push", "--format", "docker", "--purge", lst, "--progress", "quiet", check=True)
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{lst}").stdout)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    r = anyarch("manifest", "rm", lst)  # purged already
    assert r.code == 3


def test_windows_entries_are_kept_and_annotatable(anyarch, per_arch, registry, repo):
    lst = f"{registry.host}/{repo}:win"
    anyarch("manifest", "create", lst, per_arch["linux/amd64"], check=True)
    anyarch("manifest", "annotate", lst, per_arch["linux/amd64"], "--os", "windows", "--os-version", "10.0.17763.1234", "--os-features", "win32k", check=True)
    plat = json.loads(anyarch("manifest", "inspect", lst, check=True).out)["manifests"][0]["platform"]
    assert plat == {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1234", "os.features": ["win32k"]}


def test_list_across_registries_copies_blobs(anyarch, per_arch, basic_registry, repo, tmp_path):
    cfg = tmp_path / "auth.json"
    env = {"REGISTRY_AUTH_FILE": str(cfg)}
    r = anyarch("login", basic_registry.host, "-u", basic_registry.username, "--password-stdin", input=basic_registry.password.encode(), env=env)
    assert r.code == 0 and "Login Succeeded" in r.out, r
    lst = f"{basic_registry.host}/{repo}:multi"
    anyarch("manifest", "create", lst, *per_arch.values(), env=env, check=True)
    anyarch("manifest", "push", lst, "--progress", "quiet", env=env, check=True)
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", *basic_registry.skopeo_creds(), "--raw", f"docker://{lst}").stdout)
    assert len(raw["manifests"]) == 3
    # every entry really lives in the list's repository now
    for m in raw["manifests"]:
        _skopeo("inspect", "--tls-verify=false", *basic_registry.skopeo_creds(), "--raw", f"docker://{basic_registry.host}/{repo}@{m['digest']}")


def test_index_pushed_by_skopeo_is_inspected_pulled_copied(anyarch, busybox_layout, registry, repo):
    src = f"{registry.host}/{repo}:sk"
    _skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{busybox_layout}:latest", f"docker://{src}")
    digest = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{src}").stdout)["Digest"]
    r = anyarch("manifest", "inspect", "--format", "table", src, check=True)
    assert len(r.out.splitlines()) == 4
    r = anyarch("pull", "--all-platforms", src, "--progress", "quiet", check=True)
    assert f"Digest: {digest}" in r.out
    assert "linux/amd64,linux/arm64,linux/arm/v7" in anyarch("images", check=True).out
    dst = f"{registry.host}/{repo}-copy:sk"
    r = anyarch("copy", src, dst, "--progress", "quiet", check=True)
    assert f"Digest: {digest}" in r.out
    assert json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{dst}").stdout)["Digest"] == digest

def test_copy_registry_to_oci_layout_dir(anyarch, busybox_layout, registry, repo, tmp_path):
    src = f"{registry.host}/{repo}:lay"
    anyarch("copy", f"oci:{busybox_layout}:latest", src, "--progress", "quiet", check=True)
    out = tmp_path / "layout"
    r = anyarch("copy", src, f"oci:{out}:v1", "--progress", "quiet", check=True)
    assert r.out.startswith(f"Copied {src} -> oci:{out}:v1")
    # only what the image-layout spec names: no locks, no ingest directory
    assert sorted(p.name for p in out.iterdir()) == ["blobs", "index.json", "oci-layout"]
    info = json.loads(_skopeo("inspect", "--override-arch", "arm64", f"oci:{out}:v1").stdout)
    assert info["Architecture"] == "arm64"


def test_pull_default_is_host_platform_only(anyarch, per_arch, busybox_layout, registry, repo):
    src = f"{registry.host}/{repo}:all"
    anyarch("copy", f"oci:{busybox_layout}:latest", src, "--progress", "quiet", check=True)
    anyarch("pull", src, "--progress", "quiet", check=True)
    row = anyarch("images", check=True).out.splitlines()[1]
    assert row.split()[3] == "linux/amd64"
    r = anyarch("image", "inspect", "--platform", "linux/arm64", src)
    assert r.code == 3 and "anyarch pull --platform linux/arm64" in r.err
    r = anyarch("push", src, f"{registry.host}/{repo}:again")
    assert r.code == 3 and "--all-platforms" in r.err
    anyarch("pull", "--platform", "linux/arm64", src, "--progress", "quiet", check=True)
    r = anyarch("image", "inspect", "--platform", "linux/arm64", src, "-f", "{{.Architecture}}", check=True)
    assert r.out.strip() == "arm64"


def test_push_store_image_and_read_back_with_skopeo(anyarch, busybox_layout, token_registry, repo, tmp_path):
    cfg = tmp_path / "auth.json"
    env = {"REGISTRY_AUTH_FILE": str(cfg)}
    anyarch("login", token_registry.host, "-u", token_registry.username, "--password-stdin", input=token_registry.password.encode(), env=env, check=True)
    ref = f"{token_registry.host}/{repo}:1"
    anyarch("import", "--name", ref, str(busybox_layout), check=True)
    r = anyarch("--debug", "push", ref, "--progress", "plain", env=env, check=True)
    assert "digest: sha256:" in r.out
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", *token_registry.skopeo_creds(), "--raw", f"docker://{ref}").stdout)
    assert len(raw["manifests"]) == 3
    # --debug shows every request, and still no credential in any form
    assert f"debug: anyarch.registry: PUT http://{token_registry.host}/v2/{repo}/manifests/1 -> 201" in r.err
    basic = base64.b64encode(f"{token_registry.username}:{token_registry.password}".encode()).decode()
    for secret in (token_registry.password, basic, "Bearer ", "Authorization"):
        assert secret not in r.out + r.err


def test_login_failure_never_prints_the_password(anyarch, basic_registry, tmp_path):
    cfg = tmp_path / "auth.json"
    secret = "s3cr3t-NOT-to-print"
    r = anyarch("login", basic_registry.host, "-u", basic_registry.username, "--password-stdin", input=secret.encode(), env={"REGISTRY_AUTH_FILE": str(cfg)}, )
    assert r.code == 5
    assert secret not in r.out + r.err and "Traceback" not in r.err
    assert not cfg.exists()
    r = anyarch("login", basic_registry.host, "-u", basic_registry.username, "--password-stdin", input=basic_registry.password.encode(), env={"REGISTRY_AUTH_FILE": str(cfg)}, check=True)
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert basic_registry.host in json.loads(cfg.read_text())["auths"]
    r = anyarch("logout", basic_registry.host, env={"REGISTRY_AUTH_FILE": str(cfg)}, check=True)
    assert "Removing login credentials" in r.out
    assert basic_registry.host not in json.loads(cfg.read_text()).get("auths", {})


def test_bad_input_errors(anyarch, registry, repo):
    r = anyarch("manifest", "inspect", "Bad::Ref")
    assert r.code == 4 and r.err.startswith("Error:") and "Traceback" not in r.err
    r = anyarch("manifest", "inspect", f"{registry.host}/{repo}:missing")
    assert r.code == 3 and "Hint:" in r.err
    r = anyarch("pull", "127.0.0.1:1/nothing/here:1")
    assert r.code == 5 and "Hint:" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 2  # Error: ... / Hint: ...


def _layer_digests(layout: Path) -> set[str]:
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    out: set[str] = set()
    todo = [m["digest"] for m in index["manifests"]]
    while todo:
        doc = json.loads((blobs / todo.pop().split(":")[1]).read_text())
        todo += [m["digest"] for m in doc.get("manifests", [])]
        out |= {layer["digest"] for layer in doc.get("layers", [])}
    return out


def test_push_mounts_layers_from_the_repository_a_stored_image_came_from(anyarch, busybox_layout, token_registry, repo, tmp_path):
    """A base known as REG/base in the store: pushing an image built on it to REG/app mounts its layers."""
    cfg = tmp_path / "auth.json"
    env = {"REGISTRY_AUTH_FILE": str(cfg)}
    anyarch("login", token_registry.host, "-u", token_registry.username, "--password-stdin", input=token_registry.password.encode(), env=env, check=True)
    base_layers = _layer_digests(busybox_layout)
    base = f"{token_registry.host}/{repo}-base:1"
    anyarch("import", "--name", base, str(busybox_layout), check=True)
    first = anyarch("push", base, "--progress", "plain", env=env, check=True)
    assert "mounted" not in first.err  # nothing to mount from yet: every blob uploaded

    def build_on(base_ref: str, name: str) -> None:
        ctx = tmp_path / name.rsplit("/", 1)[1].replace(":", "-")
        ctx.mkdir()
        (ctx / "hello.txt").write_text(f"built on {base_ref}\n")
        (ctx / "Dockerfile").write_text(f"FROM {base_ref}\nCOPY hello.txt /hello.txt\n")
        anyarch("build", "--platform", ",".join(PLATS), "-t", name, "--progress", "quiet", str(ctx), env=env, check=True)

    app = f"{token_registry.host}/{repo}-app:1"
    build_on(base, app)
    r = anyarch("push", app, "--progress", "plain", env=env, check=True)
    mounted = {ln.split()[2] for ln in r.err.splitlines() if ln.endswith(" mounted")}
    assert mounted == {d.split(":")[1][:12] for d in base_layers}, r.err
    assert " done\n" in r.err  # the new COPY layer and the configs are uploaded
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", *token_registry.skopeo_creds(), "--raw", f"docker://{app}").stdout)
    assert len(raw["manifests"]) == 3
    out = tmp_path / "arm"
    _skopeo("copy", "--src-tls-verify=false", *[a.replace("--creds", "--src-creds") for a in token_registry.skopeo_creds()], "--override-arch", "arm", "--override-variant", "v7", f"docker://{app}", f"oci:{out}:x")
    assert (out / "index.json").is_file()

    # a base name the registry never saw: the mounts are refused and the blobs uploaded
    ghost = f"{token_registry.host}/{repo}-ghost:1"
    anyarch("rmi", base, app, check=True)
    anyarch("import", "--name", ghost, str(busybox_layout), check=True)
    other = f"{token_registry.host}/{repo}-other:1"
    build_on(ghost, other)
    r = anyarch("push", other, "--progress", "plain", env=env, check=True)
    assert " mounted\n" not in r.err, r.err
    assert r.err.count(" done\n") >= len(base_layers) + 4, r.err
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", *token_registry.skopeo_creds(), "--raw", f"docker://{other}").stdout)
    assert len(raw["manifests"]) == 3


def test_copy_between_repositories_of_a_token_registry_mounts_every_blob(anyarch, busybox_layout, token_registry, repo, tmp_path):
    """One client serves both ends: the token it fetched to read A is widened to push B and mount from A."""
    cfg = tmp_path / "auth.json"
    env = {"REGISTRY_AUTH_FILE": str(cfg)}
    anyarch("login", token_registry.host, "-u", token_registry.username, "--password-stdin", input=token_registry.password.encode(), env=env, check=True)
    src = f"{token_registry.host}/{repo}-a:1"
    anyarch("copy", f"oci:{busybox_layout}:latest", src, "--progress", "quiet", env=env, check=True)
    blobs = len(_layer_digests(busybox_layout)) + 3  # the layers and one config per platform
    dst = f"{token_registry.host}/{repo}-b:1"
    r = anyarch("copy", src, dst, env=env, check=True)
    assert f"Blobs: 0 copied (0 bytes), {blobs} mounted, 0 already there" in r.out, r.out
    src_raw = _skopeo("inspect", "--tls-verify=false", *token_registry.skopeo_creds(), "--raw", f"docker://{src}").stdout
    dst_raw = _skopeo("inspect", "--tls-verify=false", *token_registry.skopeo_creds(), "--raw", f"docker://{dst}").stdout
    assert dst_raw == src_raw and token_registry.password not in r.out + r.err
