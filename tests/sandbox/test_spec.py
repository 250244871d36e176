"""The generated config.json: valid OCI runtime-spec 1.0.2, with Docker's defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from anyarch.errors import BuildError
from anyarch.sandbox.spec import (
    DEFAULT_CAPABILITIES,
    MASKED_PATHS,
    READONLY_PATHS,
    Mount,
    RunSpec,
    hosts_file,
    oci_runtime_config,
    resolv_conf,
)
from anyarch.sandbox.users import ExecUser

SCHEMA_DIR = Path(__file__).parent / "oci-runtime-schema"
BASE = "file:///oci-runtime-schema/"
ROOT = ExecUser(0, 0, (), "/root", "root")
APP = ExecUser(1000, 1000, (50,), "/home/app", "app")


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    registry: Registry[Any] = Registry().with_resources(
        (BASE + p.name, Resource.from_contents(json.loads(p.read_text()), DRAFT4))
        for p in SCHEMA_DIR.glob("*.json")
    )
    schema = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    schema["id"] = BASE + "config-schema.json"
    return Draft4Validator(schema, registry=registry)


def full_spec(tmp_path: Path, **kw: Any) -> RunSpec:
    args: dict[str, Any] = {
        "rootfs": tmp_path / "rootfs",
        "args": ["/bin/sh", "-c", "make"],
        "env": ["A=1"],
        "cwd": "/src",
        "network": "none",
        "mounts": [
            Mount("bind", "/ctx", source=tmp_path, readonly=True),
            Mount("cache", "/root/.cache", source=tmp_path),
            Mount("secret", "/run/secrets/t", source=tmp_path / "t"),
            Mount("tmpfs", "/scratch", options=("size=64m",)),
        ],
        "extra_hosts": [("db", "10.0.0.2")],
    }
    args.update(kw)
    return RunSpec(**args)


def test_config_is_valid_oci_runtime_spec(validator: Draft4Validator, tmp_path: Path) -> None:
    for user in (ROOT, APP):
        config = oci_runtime_config(full_spec(tmp_path), user=user, support_dir=tmp_path)
        errors = [e.message for e in validator.iter_errors(config)]
        assert errors == []
        assert config["ociVersion"] == "1.0.2"
    json.dumps(config)  # plain JSON types only


def test_schema_check_is_not_vacuous(validator: Draft4Validator, tmp_path: Path) -> None:
    config = oci_runtime_config(full_spec(tmp_path), user=ROOT)
    config["process"]["user"]["uid"] = -1
    config["linux"]["namespaces"].append({"type": "bogus"})
    assert len(list(validator.iter_errors(config))) == 2


def test_process_section(tmp_path: Path) -> None:
    config = oci_runtime_config(full_spec(tmp_path), user=APP)
    proc = config["process"]
    assert proc["args"] == ["/bin/sh", "-c", "make"]
    assert proc["cwd"] == "/src"
    assert proc["terminal"] is False
    assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}
    assert proc["env"][0].startswith("PATH=/usr/local/sbin:")
    assert "A=1" in proc["env"] and "HOME=/home/app" in proc["env"]
    assert proc["noNewPrivileges"] is True
    assert proc["rlimits"][0]["type"] == "RLIMIT_NOFILE"
    assert proc["rlimits"][0]["soft"] == proc["rlimits"][0]["hard"] >= 1024


def test_capabilities_follow_docker(tmp_path: Path) -> None:
    root_caps = oci_runtime_config(full_spec(tmp_path), user=ROOT)["process"]["capabilities"]
    assert root_caps["bounding"] == list(DEFAULT_CAPABILITIES)
    assert root_caps["effective"] == root_caps["permitted"] == list(DEFAULT_CAPABILITIES)
    assert root_caps["inheritable"] == root_caps["ambient"] == []
    assert "CAP_SYS_ADMIN" not in root_caps["bounding"]
    user_caps = oci_runtime_config(full_spec(tmp_path), user=APP)["process"]["capabilities"]
    assert user_caps["bounding"] == list(DEFAULT_CAPABILITIES)
    assert user_caps["effective"] == user_caps["permitted"] == []


@pytest.mark.parametrize(
    ("network", "has_netns"), [("none", True), ("default", False), ("host", False)]
)
def test_namespaces(tmp_path: Path, network: str, has_netns: bool) -> None:
    config = oci_runtime_config(full_spec(tmp_path, network=network), user=ROOT)
    types = [n["type"] for n in config["linux"]["namespaces"]]
    assert set(types) >= {"pid", "ipc", "uts", "mount"}
    assert ("network" in types) == has_netns
    assert "user" not in types and "cgroup" not in types


def test_standard_and_user_mounts(tmp_path: Path) -> None:
    config = oci_runtime_config(full_spec(tmp_path), user=ROOT, support_dir=tmp_path / "b")
    by_dest = {m["destination"]: m for m in config["mounts"]}
    assert by_dest["/proc"]["type"] == "proc"
    assert by_dest["/dev"]["type"] == "tmpfs"
    assert by_dest["/dev/pts"]["type"] == "devpts"
    assert by_dest["/dev/shm"]["type"] == "tmpfs"
    assert by_dest["/dev/mqueue"]["type"] == "mqueue"
    assert by_dest["/sys"]["type"] == "sysfs" and "ro" in by_dest["/sys"]["options"]
    assert "/tmp" not in by_dest  # /tmp is the image's
    assert by_dest["/etc/hosts"]["source"] == str(tmp_path / "b" / "hosts")
    assert by_dest["/etc/resolv.conf"]["source"] == str(tmp_path / "b" / "resolv.conf")
    assert "ro" in by_dest["/etc/hosts"]["options"]
    assert "ro" in by_dest["/ctx"]["options"]
    assert "rw" in by_dest["/root/.cache"]["options"]
    assert "ro" in by_dest["/run/secrets/t"]["options"]  # secrets are never writable
    assert by_dest["/scratch"]["type"] == "tmpfs" and "size=64m" in by_dest["/scratch"]["options"]
    # The standard mounts come first, so a user mount under /dev or /proc wins.
    assert [m["destination"] for m in config["mounts"]][:2] == ["/proc", "/dev"]


def test_masked_and_readonly_paths_are_dockers(tmp_path: Path) -> None:
    linux = oci_runtime_config(full_spec(tmp_path), user=ROOT)["linux"]
    assert "/proc/kcore" in linux["maskedPaths"] and "/sys/firmware" in linux["maskedPaths"]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert "/proc/sys" in linux["readonlyPaths"]


def test_user_is_resolved_from_the_rootfs_by_default(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("app:x:1000:1000::/home/app:/bin/sh\n")
    config = oci_runtime_config(RunSpec(root, ["id"], user="app"))
    assert config["process"]["user"]["uid"] == 1000
    with pytest.raises(BuildError, match="unable to find user nobody"):
        oci_runtime_config(RunSpec(root, ["id"], user="nobody"))


def test_hosts_file_and_resolv_conf() -> None:
    spec = RunSpec(Path("/r"), ["x"], hostname="b1", extra_hosts=[("db", "10.0.0.2")])
    assert hosts_file(spec) == (
        "127.0.0.1\tlocalhost b1\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\n"
    )
    assert resolv_conf("nameserver 1.1.1.1") == "nameserver 1.1.1.1\n"
    assert resolv_conf("# nothing\n") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert resolv_conf(None) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


@pytest.mark.parametrize(
    "kw",
    [
        {"args": []},
        {"cwd": "relative"},
        {"network": "bridge"},
        {"env": ["NOEQUALS"]},
    ],
)
def test_invalid_run_spec_is_rejected(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"rootfs": Path("/r"), "args": ["x"], **kw}
    with pytest.raises(ValueError):
        RunSpec(**args)


def test_invalid_mounts_are_rejected() -> None:
    with pytest.raises(ValueError, match="absolute"):
        Mount("tmpfs", "relative")
    with pytest.raises(ValueError, match="needs a source"):
        Mount("bind", "/x")
    with pytest.raises(ValueError, match="unknown mount kind"):
        Mount("overlay", "/x", source=Path("/y"))  # type: ignore[arg-type]


def test_run_spec_is_frozen_and_stores_tuples() -> None:
    spec = RunSpec(Path("/r"), ["a", "b"], env=["X=1"])
    assert spec.args == ("a", "b") and spec.env == ("X=1",)
    with pytest.raises(AttributeError):
        spec.cwd = "/x"  # type: ignore[misc]
