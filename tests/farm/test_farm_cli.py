"""What a farm build forwards to its nodes, and what it refuses before contacting any."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmkit import Farm

from anyarch.cli.farm_build import forwarded_args


def test_forwarded_args_resolve_values_on_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "coordinator-value")
    monkeypatch.delenv("NOT_SET", raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    args = forwarded_args(
        build_args=["A=1", "FROM_ENV", "NOT_SET"],
        target="final",
        labels=["org.example=x"],
        no_cache=True,
        network="default",
    )
    assert args == [
        "--build-arg", "A=1",
        "--build-arg", "FROM_ENV=coordinator-value",
        "--target", "final",
        "--label", "org.example=x",
        "--no-cache",
        "--source-date-epoch", "1700000000",
    ]  # fmt: skip


def test_explicit_epoch_wins_and_network_is_forwarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    assert forwarded_args(source_date_epoch=5, network="none") == [
        "--network",
        "none",
        "--source-date-epoch",
        "5",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--build-context", "lib=./lib"],
            2,
            "a local directory or layout is not sent to farm nodes",
        ),
        (
            ["--cache-from", "type=local,src=/tmp/c"],
            2,
            "only type=registry caches work with --builder",
        ),
        (
            ["--secret", "id=tok,src=/etc/hostname"],
            2,
            "--secret is not supported with --builder yet",
        ),
        (
            ["--node-push", "-t", "localhost:5000/x:1"],
            2,
            "--node-push only makes sense with --push",
        ),
        (["--push"], 2, "--push needs a name to push to"),
        (
            ["--output", "type=local,dest=out"],
            2,
            "--output type=local is not supported with --builder",
        ),
    ],
)
def test_refused_before_any_node_is_contacted(
    farm: Farm, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    node = farm.add_node(
        "n", start=False
    )  # nothing listens: contacting it would be a different error
    assert farm.run("builder", "create", "--name", "f", node.url).code == 0
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    r = farm.run("build", "--builder", "f", "--platform", "linux/amd64", *args, str(ctx))
    assert r.code == code, r
    assert message in r.err
    assert "unreachable" not in r.err


def test_unknown_builder_is_named(farm: Farm, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    r = farm.run("build", "--builder", "nope", "--platform", "linux/amd64", str(ctx))
    assert r.code == 3, r
    assert "Error: builder 'nope' does not exist" in r.err
