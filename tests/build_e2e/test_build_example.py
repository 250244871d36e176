"""The example project the README builds, for three architectures."""

from __future__ import annotations

from buildkit_kit import Builder

from helpers.common import REPO


def test_examples_hello_three_platforms(builder: Builder) -> None:
    builder.build(
        "-t",
        "hello:1",
        "--platform",
        "linux/amd64,linux/arm64,linux/arm/v7",
        str(REPO / "examples" / "hello"),
    )
    index = builder.index("hello:1")
    assert [m.platform.architecture for m in index.manifests if m.platform] == [
        "amd64",
        "arm64",
        "arm",
    ]
    for plat, machine in (
        ("linux/amd64", "x86_64"),
        ("linux/arm64", "aarch64"),
        ("linux/arm/v7", "armv7l"),
    ):
        run = builder("run", "--platform", plat, "hello:1")
        assert run.out == f"Hello from anyarch on {machine} (built on {machine})\n"
        assert builder.image("hello:1", plat).files()["usr/local/bin/hello"].mode == 0o755
