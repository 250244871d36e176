"""Contexts and builders: parsing, persistence, the rules users run into."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from anyarch.errors import FarmError, InvalidInputError, NotFoundError, UsageError
from anyarch.farm.config import (
    DEFAULT,
    FarmConfig,
    NodeConfig,
    config_dir,
    parse_docker_flag,
    parse_endpoint,
)


@pytest.fixture
def cfg(tmp_path: Path) -> FarmConfig:
    return FarmConfig(tmp_path / "cfg")


# --- endpoints ----------------------------------------------------------------------------


def test_ssh_endpoints_parse_and_print_back() -> None:
    e = parse_endpoint("ssh://alice@build-arm.example:2222")
    assert (e.kind, e.user, e.host, e.port, e.url) == (
        "ssh",
        "alice",
        "build-arm.example",
        2222,
        "ssh://alice@build-arm.example:2222",
    )
    assert parse_endpoint("ssh://host").url == "ssh://host"
    v6 = parse_endpoint("ssh://root@[::1]:22")
    assert (v6.host, v6.port, v6.url) == ("::1", 22, "ssh://root@[::1]:22")


def test_unix_and_local_endpoints_are_this_machine() -> None:
    assert parse_endpoint("unix:///var/run/docker.sock").is_local
    assert parse_endpoint("local").is_local


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("tcp://1.2.3.4:2375", "no daemon"),
        ("ssh://user:pw@host", "passwords"),
        ("ssh://host/path", "no path"),
        ("ssh://-oProxyCommand=x", "no valid host"),
        ("ssh://", "no valid host"),
        ("unix://relative", "absolute"),
        ("host:22", "invalid endpoint"),
    ],
)
def test_bad_endpoints_are_refused_with_a_reason(url: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as e:
        parse_endpoint(url)
    assert fragment in e.value.message
    assert e.value.hint


def test_docker_flag_takes_host_only() -> None:
    assert parse_docker_flag("host=ssh://u@h:2").url == "ssh://u@h:2"
    with pytest.raises(InvalidInputError, match="unsupported key"):
        parse_docker_flag("host=ssh://u@h,ca=/x.pem")
    with pytest.raises(InvalidInputError) as e:
        parse_docker_flag("ssh://u@h")
    assert e.value.hint == "write --docker host=ssh://user@host"


# --- contexts ------------------------------------------------------------------------------


def test_context_lifecycle_persists_across_instances(cfg: FarmConfig) -> None:
    cfg.create_context("node2", parse_endpoint("ssh://u@h2"), "arm box")
    again = FarmConfig(cfg.root)
    names = [c.name for c in again.contexts()]
    assert names == [DEFAULT, "node2"]
    assert again.context("node2").description == "arm box"
    assert again.current_context() == DEFAULT
    again.use_context("node2")
    assert FarmConfig(cfg.root).current_context() == "node2"
    again.remove_context("node2")
    assert FarmConfig(cfg.root).current_context() == DEFAULT
    with pytest.raises(NotFoundError):
        FarmConfig(cfg.root).context("node2")


def test_context_file_is_private_and_complete_json(cfg: FarmConfig) -> None:
    cfg.create_context("n", parse_endpoint("ssh://h"))
    mode = stat.S_IMODE(os.stat(cfg.contexts_path).st_mode)
    assert mode == 0o600
    doc = json.loads(cfg.contexts_path.read_text())
    assert doc["contexts"]["n"] == {"description": "", "endpoint": "ssh://h"}
    assert not [p for p in cfg.root.iterdir() if p.name.startswith(".tmp-")]


def test_default_context_is_reserved(cfg: FarmConfig) -> None:
    with pytest.raises(InvalidInputError):
        cfg.create_context("default", parse_endpoint("ssh://h"))
    with pytest.raises(InvalidInputError):
        cfg.remove_context("default")


def test_duplicate_and_badly_named_contexts_are_refused(cfg: FarmConfig) -> None:
    cfg.create_context("n", parse_endpoint("ssh://h"))
    with pytest.raises(InvalidInputError, match="already exists"):
        cfg.create_context("n", parse_endpoint("ssh://h2"))
    with pytest.raises(InvalidInputError, match="invalid context name"):
        cfg.create_context("a/b", parse_endpoint("ssh://h"))


def test_context_in_use_by_a_builder_needs_force(cfg: FarmConfig) -> None:
    cfg.create_context("n", parse_endpoint("ssh://h"))
    cfg.add_node("farm", "n")
    with pytest.raises(InvalidInputError, match="farm/farm0"):
        cfg.remove_context("n")
    cfg.remove_context("n", force=True)
    with pytest.raises(FarmError, match="no longer exists"):
        cfg.endpoint_of(cfg.builder("farm").nodes[0])


def test_concurrent_writers_lose_nothing(cfg: FarmConfig) -> None:
    def make(i: int) -> None:
        FarmConfig(cfg.root).create_context(f"c{i}", parse_endpoint(f"ssh://h{i}"))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cfg.contexts()) == 13


def test_corrupt_file_is_reported_with_its_path(cfg: FarmConfig) -> None:
    cfg.root.mkdir(parents=True)
    cfg.contexts_path.write_text("{not json")
    with pytest.raises(FarmError) as e:
        cfg.contexts()
    assert str(cfg.contexts_path) in e.value.message


def test_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "x"))
    assert config_dir() == tmp_path / "x" / "anyarch"


# --- builders ------------------------------------------------------------------------------


def test_builder_create_append_leave(cfg: FarmConfig) -> None:
    cfg.create_context("n1", parse_endpoint("ssh://h1"))
    cfg.create_context("n2", parse_endpoint("ssh://h2"))
    b, node = cfg.add_node("farm", "n1", platforms=["linux/amd64"], use=True)
    assert (b.name, node.name, node.platforms) == ("farm", "farm0", ("linux/amd64",))
    b, node = cfg.add_node("farm", "n2", platforms=["linux/arm64,linux/arm"], append=True)
    assert node == NodeConfig("farm1", "n2", ("linux/arm64", "linux/arm/v7"))
    again = FarmConfig(cfg.root)
    assert again.current_builder() == "farm"
    assert [n.name for n in again.builder("farm").nodes] == ["farm0", "farm1"]
    left = again.remove_node("farm", "farm0")
    assert left is not None and [n.name for n in left.nodes] == ["farm1"]
    assert again.remove_node("farm", "farm1") is None
    with pytest.raises(NotFoundError):
        again.builder("farm")
    assert again.current_builder() == DEFAULT


def test_append_with_an_existing_node_name_updates_it(cfg: FarmConfig) -> None:
    cfg.add_node("farm", "local", node="a", platforms=["linux/amd64"])
    cfg.add_node("farm", "ssh://h9", node="a", platforms=["linux/arm64"], append=True)
    (only,) = cfg.builder("farm").nodes
    assert (only.endpoint, only.platforms) == ("ssh://h9", ("linux/arm64",))


def test_builder_rules(cfg: FarmConfig) -> None:
    cfg.add_node("farm", "local")
    with pytest.raises(InvalidInputError, match="already exists"):
        cfg.add_node("farm", "local")
    with pytest.raises(NotFoundError):
        cfg.add_node("nope", "local", append=True)
    with pytest.raises(UsageError):
        cfg.add_node(None, "local", append=True)
    with pytest.raises(NotFoundError):
        cfg.add_node("x", "no-such-context")
    with pytest.raises(InvalidInputError):
        cfg.add_node("default", "local")
    with pytest.raises(NotFoundError, match="has no node"):
        cfg.remove_node("farm", "ghost")


def test_unnamed_builders_get_fresh_names(cfg: FarmConfig) -> None:
    a, _ = cfg.add_node(None, "local")
    b, _ = cfg.add_node(None, "local")
    assert (a.name, b.name) == ("builder0", "builder1")


def test_default_builder_is_the_local_machine(cfg: FarmConfig) -> None:
    b = cfg.builder(DEFAULT)
    assert [(n.name, n.endpoint) for n in b.nodes] == [(DEFAULT, DEFAULT)]
    assert cfg.endpoint_of(b.nodes[0]).is_local
    with pytest.raises(InvalidInputError):
        cfg.remove_builder(DEFAULT)


def test_use_and_rm_builder(cfg: FarmConfig) -> None:
    cfg.add_node("farm", "local")
    cfg.use_builder("farm")
    assert cfg.current_builder() == "farm"
    cfg.remove_builder("farm")
    assert cfg.current_builder() == DEFAULT
    with pytest.raises(NotFoundError):
        cfg.use_builder("farm")
