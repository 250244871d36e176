"""Image configs: every spec field, Docker extensions, nothing lost on a round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from anyarch.errors import InvalidDocumentError
from anyarch.oci import (
    ContainerConfig,
    Digest,
    HealthCheck,
    History,
    ImageConfig,
    Platform,
    RootFS,
    created_at,
    mediatype,
    validate,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "oci-schemas"
DIFF = Digest.of(b"layer.tar")

DOCKER_STYLE = {
    "architecture": "arm",
    "variant": "v7",
    "os": "linux",
    "os.version": "",
    "os.features": ["f1"],
    "author": "",
    "created": "2024-01-02T03:04:05.123456789Z",
    "config": {
        "Hostname": "",
        "User": "",
        "Env": ["PATH=/bin", "A=1=2"],
        "Cmd": None,
        "Entrypoint": ["/init"],
        "Volumes": None,
        "ExposedPorts": {"80/tcp": {}},
        "Labels": {},
        "OnBuild": [],
        "Shell": ["/bin/sh", "-c"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3, "x": 1},
        "StopSignal": "SIGTERM",
        "ArgsEscaped": True,
        "Memory": 0,
        "StopTimeout": 10,
    },
    "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]},
    "rootfs": {"type": "layers", "diff_ids": [str(DIFF)], "x-extra": True},
    "history": [
        {
            "created": "2024-01-02T03:04:05Z",
            "created_by": "ADD x /",
            "empty_layer": False,
            "x": [1],
        },
        {"created_by": "CMD", "empty_layer": True, "comment": "c", "author": "me"},
    ],
}
RAW = json.dumps(DOCKER_STYLE, indent=2).encode()


def test_every_field_is_read() -> None:
    c = ImageConfig.from_bytes(RAW)
    assert c.raw is RAW and c.digest == Digest.of(RAW) and c.size == len(RAW)
    assert (c.architecture, c.os, c.variant, c.os_version, c.os_features) == (
        "arm",
        "linux",
        "v7",
        "",
        ("f1",),
    )
    assert c.platform == Platform("linux", "arm", variant="v7", os_features=("f1",))
    assert c.created == "2024-01-02T03:04:05.123456789Z" and c.author == ""
    cc = c.config
    assert cc.user == "" and cc.env == ("PATH=/bin", "A=1=2") and cc.cmd is None
    assert cc.entrypoint == ("/init",) and cc.volumes == () and cc.exposed_ports == ("80/tcp",)
    assert cc.labels == {} and cc.on_build == () and cc.shell == ("/bin/sh", "-c")
    assert cc.healthcheck == HealthCheck(
        ("CMD", "true"), interval=30_000_000_000, retries=3, extra={"x": 1}
    )
    assert (cc.stop_signal, cc.args_escaped, cc.memory) == ("SIGTERM", True, 0)
    assert cc.extra == {"Hostname": "", "StopTimeout": 10}
    assert cc.env_map == {"PATH": "/bin", "A": "1=2"}
    assert (
        c.diff_ids == (DIFF,) and c.rootfs.type == "layers" and c.rootfs.extra == {"x-extra": True}
    )
    assert [h.created_by for h in c.history] == ["ADD x /", "CMD"]
    assert c.history[1] == History(created_by="CMD", empty_layer=True, comment="c", author="me")
    assert set(c.extra) == {"container_config"}


def test_round_trip_loses_nothing() -> None:
    c = ImageConfig.from_bytes(RAW)
    assert c.to_json() == DOCKER_STYLE
    # A change touches only the changed member; nulls, empty strings and unknown fields stay.
    c2 = c.evolve(config=dataclasses.replace(c.config, env=(*c.config.env, "NEW=1")))
    expected = json.loads(RAW)
    expected["config"]["Env"].append("NEW=1")
    assert json.loads(c2.raw) == expected
    assert c2.digest != c.digest


def test_evolve_with_dataclasses_replace_on_records() -> None:
    c = ImageConfig.from_bytes(RAW)
    layer2 = Digest.of(b"second")
    c2 = c.evolve(
        diff_ids=(*c.diff_ids, layer2),
        history=(*c.history, History(created="2024-01-02T03:04:06Z", created_by="RUN x")),
        config=dataclasses.replace(c.config, user="1000", labels={"a": "b"}),
        architecture="arm64",
        variant="v8",
    )
    j = json.loads(c2.raw)
    assert j["rootfs"] == {"type": "layers", "diff_ids": [str(DIFF), str(layer2)], "x-extra": True}
    assert j["history"][:2] == DOCKER_STYLE["history"]
    assert j["config"]["User"] == "1000" and j["config"]["Labels"] == {"a": "b"}
    assert j["config"]["Volumes"] is None and j["config"]["Hostname"] == ""
    assert j["container_config"] == DOCKER_STYLE["container_config"]
    assert c2.platform == Platform("linux", "arm64", variant="v8", os_features=("f1",))
    with pytest.raises(TypeError):
        c.evolve(nonsense=1)


def test_build_minimal_and_full() -> None:
    minimal = ImageConfig.build(architecture="amd64", os="linux")
    assert json.loads(minimal.raw) == {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    full = ImageConfig.build(
        architecture="arm",
        os="linux",
        variant="v7",
        diff_ids=[DIFF],
        created=created_at(1700000000),
        author="anyarch",
        config=ContainerConfig(
            user="app",
            env=("PATH=/usr/bin",),
            entrypoint=(),
            cmd=("run",),
            exposed_ports=("8080/tcp",),
            volumes=("/data",),
            labels={"org.opencontainers.image.source": "https://example.com"},
            working_dir="/app",
            healthcheck=HealthCheck(("NONE",)),
            shell=("/bin/bash", "-c"),
        ),
        history=[History(created=created_at(1700000000), created_by="COPY . /app")],
        extra={"docker_version": "anyarch"},
    )
    j = json.loads(full.raw)
    assert j["config"]["Entrypoint"] == []  # explicit empty list kept, None would be omitted
    assert j["config"]["ExposedPorts"] == {"8080/tcp": {}} and j["config"]["Volumes"] == {
        "/data": {}
    }
    assert j["created"] == "2023-11-14T22:13:20Z"
    assert j["docker_version"] == "anyarch"
    assert validate.problems(full.raw, mediatype.OCI_CONFIG) == []
    assert ImageConfig.from_bytes(full.raw).to_json() == j


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"config": ContainerConfig(env=("NOEQUALS",))}, "Env"),
        ({"config": ContainerConfig(env=("A=line1\nline2",))}, "Env"),
        ({"created": "yesterday"}, "date-time"),
        ({"created": "2024-01-02t03:04:05z"}, "date-time"),
        ({"history": [History(created="2016-12-31T23:59:60Z")]}, "date-time"),
        ({"extra": {"OS": 5}}, "os"),
        ({"extra": {"os": "linux"}}, "modelled"),
    ],
    ids=[
        "env-no-equals",
        "env-newline",
        "created-text",
        "created-lowercase",
        "leap-second",
        "fold-clash",
        "extra-clash",
    ],
)
def test_build_refuses_what_upstream_rejects(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as e:
        ImageConfig.build(architecture="amd64", os="linux", **kwargs)  # type: ignore[arg-type]
    assert fragment in e.value.message
    assert e.value.hint


def test_descriptor() -> None:
    c = ImageConfig.build(architecture="amd64", os="linux")
    d = c.descriptor()
    assert (d.media_type, d.digest, d.size) == (mediatype.OCI_CONFIG, c.digest, c.size)
    assert c.descriptor(mediatype.DOCKER_CONFIG).media_type == mediatype.DOCKER_CONFIG
    with pytest.raises(InvalidDocumentError):
        c.descriptor(mediatype.OCI_LAYER)


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}, "architecture is required"),
        ({"architecture": "amd64", "os": "linux"}, "rootfs is required"),
        (
            {"architecture": "amd64", "os": 1, "rootfs": {"type": "layers", "diff_ids": []}},
            "os must be a string",
        ),
        (
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": ["sha256:x"]},
            },
            "rootfs.diff_ids[0]",
        ),
        (
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": ["x"],
            },
            "history[0] must be an object",
        ),
        (
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Env": "A=1"},
            },
            "config.Env must be an array",
        ),
        (
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {"Volumes": {"/a": 1}},
            },
            "config.Volumes['/a'] must be an object",
        ),
    ],
)
def test_broken_configs_are_refused(doc: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as e:
        ImageConfig.from_bytes(json.dumps(doc).encode())
    assert fragment in e.value.message


@pytest.mark.parametrize(
    "name", ["config-08-valid.json", "config-09-valid.json", "compat-config-01-valid.json"]
)
def test_upstream_configs_round_trip(name: str) -> None:
    raw = (DATA / "cases" / name).read_bytes()
    c = ImageConfig.from_bytes(raw)
    assert c.to_json() == json.loads(raw)
    assert c.evolve().to_json() == json.loads(raw)


def test_records_are_hashable_values() -> None:
    a = ContainerConfig(env=["A=1"], labels={"x": "y"})  # type: ignore[arg-type]
    assert a.env == ("A=1",) and hash(a) == hash(ContainerConfig(env=("A=1",), labels={"x": "y"}))
    assert RootFS([DIFF]).diff_ids == (DIFF,)  # type: ignore[arg-type]


def test_created_at() -> None:
    assert created_at(0) == "1970-01-01T00:00:00Z"
    assert created_at(1.5) == "1970-01-01T00:00:01.500000Z"
