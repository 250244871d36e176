"""The planner's small rules: paths, ports, signals, env order, image configs read from JSON.

Each decides something visible in the built image (where a file lands, which
ports are exposed, the order of ``Env``), so each is pinned against the Go
behaviour it reproduces.
"""

from __future__ import annotations

import pytest

from anyarch.dockerfile.commands import HealthConfig
from anyarch.oci.platform import Platform
from anyarch.plan import ImageMeta, PlanOptions
from anyarch.plan.config import ImageConfig, with_env
from anyarch.plan.envlist import EnvList
from anyarch.plan.options import HistoryEntry
from anyarch.plan.paths import PathError, go_base, go_clean, normalize_path, normalize_workdir
from anyarch.plan.ports import PortError, parse_ports, parse_signal

CLEAN = [
    ("", "."),
    ("//a//b/", "/a/b"),
    ("a/../..", ".."),
    ("/../x", "/x"),
    ("./a/./b/.", "a/b"),
]


@pytest.mark.parametrize(("path", "cleaned"), CLEAN, ids=[c[0] or "empty" for c in CLEAN])
def test_go_path_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


WORKDIRS = [
    ("/", "app", "linux", "/app"),
    ("/a/b", "../c", "linux", "/a/c"),
    ("/a", "", "linux", "/a"),
    ("/a", "/abs/./x/", "linux", "/abs/./x/"),  # BuildKit leaves absolute Linux paths as written
    ("C:\\", "C:\\app", "windows", "\\app"),
    ("\\app", "sub\\dir", "windows", "\\app\\sub\\dir"),
    ("/", "c:/Users", "windows", "\\Users"),
    ("/", "C:\\app", "linux", "/C:\\app"),
]


@pytest.mark.parametrize(
    ("current", "new", "os", "expected"), WORKDIRS, ids=[f"{w[2]}:{w[1]}" for w in WORKDIRS]
)
def test_workdir_normalisation(current: str, new: str, os: str, expected: str) -> None:
    assert normalize_workdir(current, new, os) == expected


def test_windows_other_drives_are_refused() -> None:
    with pytest.raises(PathError, match="not on the system drive"):
        normalize_workdir("/", "D:\\data", "windows")


def test_copy_destinations_keep_trailing_slash() -> None:
    assert normalize_path("/app", "./", "linux", True) == "/app/"
    assert normalize_path("/app", "x/", "linux", True) == "/app/x/"
    assert normalize_path("/app", "x", "linux", True) == "/app/x"
    assert go_base("/run/secrets/") == "secrets"
    assert go_base("") == "."


PORTS = [
    (["80"], ["80/tcp"]),
    (["53/UDP"], ["53/udp"]),
    (["8000-8002/tcp"], ["8000/tcp", "8001/tcp", "8002/tcp"]),
    (["127.0.0.1:8080:80"], ["80/tcp"]),
    (["[::1]:80:80/sctp"], ["80/sctp"]),
]


@pytest.mark.parametrize(("words", "ports"), PORTS, ids=[p[0][0] for p in PORTS])
def test_expose_ports(words: list[str], ports: list[str]) -> None:
    assert parse_ports(words) == ports


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("80/tcpx", 'invalid port: "80/tcpx": invalid proto: tcpx'),
        ("/tcp", 'invalid port: "/tcp": no port specified'),
        ("70000", "invalid containerPort: 70000"),
        ("90-80", "invalid containerPort: 90-80"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ],
)
def test_expose_errors(word: str, message: str) -> None:
    with pytest.raises(PortError) as info:
        parse_ports([word])
    assert str(info.value) == message


@pytest.mark.parametrize("signal", ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1"])
def test_valid_stop_signals(signal: str) -> None:
    parse_signal(signal)


@pytest.mark.parametrize("signal", ["0", "SIGFOO", "RTMIN+16", ""])
def test_invalid_stop_signals(signal: str) -> None:
    with pytest.raises(PortError, match="invalid signal"):
        parse_signal(signal)


def test_env_list_last_definition_moves_to_the_end() -> None:
    env = EnvList.from_entries(["A=1", "B=2", "NOVALUE"])
    later = env.set("A", "3")
    assert env.entries() == ("A=1", "B=2", "NOVALUE=")
    assert later.entries() == ("B=2", "NOVALUE=", "A=3")
    assert later.get("A") == "3" and later.get("Z") is None
    assert later.delete("B").keys() == ("NOVALUE", "A")


def test_image_env_replaces_in_place() -> None:
    assert with_env(("PATH=/bin", "A=1"), "PATH", "/x") == ("PATH=/x", "A=1")
    assert with_env(("PATH=/bin",), "A", "1") == ("PATH=/bin", "A=1")


def test_image_meta_from_config_json() -> None:
    config = {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "author": "x",
        "config": {
            "Env": ["PATH=/usr/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/w",
            "User": "1000",
            "OnBuild": ["RUN true"],
            "Labels": {"b": "2", "a": "1"},
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/v": {}},
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2},
            "Shell": ["/bin/ash", "-c"],
        },
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created_by": "ADD x /", "empty_layer": True}],
    }
    meta = ImageMeta.from_config("sha256:" + "0" * 64, config)
    assert meta.platform == Platform("linux", "arm64", "v8")
    assert (meta.env, meta.cmd, meta.entrypoint, meta.working_dir, meta.user) == (
        ("PATH=/usr/bin",),
        ("sh",),
        None,
        "/w",
        "1000",
    )
    assert meta.labels == (("a", "1"), ("b", "2"))
    assert meta.healthcheck == HealthConfig(("CMD", "true"), 5, 0, 0, 0, 2)
    assert meta.history == (HistoryEntry("ADD x /", True, ""),)
    assert not meta.has_layers  # no diff_ids and only empty history: BuildKit treats it as scratch
    assert ImageConfig.from_meta(meta, "linux").to_json()["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 5,
        "Retries": 2,
    }


def test_plan_options_normalise_and_need_a_platform() -> None:
    opts = PlanOptions(platforms=(Platform("linux", "aarch64"), Platform("linux", "arm64")))
    assert opts.platforms == (Platform("linux", "arm64"),)
    assert opts.effective_build_platform == Platform("linux", "arm64")
    with pytest.raises(ValueError, match="at least one target platform"):
        PlanOptions(platforms=())
