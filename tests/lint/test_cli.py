"""``anyarch check`` through the CLI: options, formats, exit codes, and real image lookups.

The command runs in-process (click's CliRunner on ``anyarch.cli.main.cli``
after :func:`anyarch.cli.check.register`), with ``--store`` pointing at the
test's store.  Image platforms come from a real store (busybox imported from
an OCI layout) and from a real registry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anyarch.cli import check as check_cli
from anyarch.cli.main import Context, cli, main
from anyarch.errors import DockerfileError
from helpers.common import Runner
from helpers.registry import RegistryServer

CLEAN = """\
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
ARG TARGETOS TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app .
FROM alpine:3.19
COPY --from=build /out/app /app
"""


def invoke(store: Path, *args: str) -> Result:
    check_cli.register(cli)
    return CliRunner().invoke(
        cli, ["--store", str(store), "check", *args], obj=Context(store, False)
    )


def write(directory: Path, text: str, name: str = "Dockerfile") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_clean_dockerfile_exits_0(tmp_path: Path) -> None:
    write(tmp_path / "ctx", CLEAN)
    result = invoke(tmp_path / "store", "--offline", str(tmp_path / "ctx"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{tmp_path}/ctx/Dockerfile: checked for linux/amd64, linux/arm64: "
        "0 errors, 0 warnings, 0 infos"
    )
    assert "docker.io/library/golang:1.22 (offline, and not in the store)" in lines[1]
    assert not (tmp_path / "store").exists()  # checking never creates a store


def test_errors_exit_1_with_json(tmp_path: Path) -> None:
    write(tmp_path, "FROM alpine:3.19\nRUN echo $TARGETARCH\n")
    result = invoke(tmp_path / "store", "--offline", "--format", "json", str(tmp_path))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["line"], f["column"]) for f in doc["findings"]] == [("MA008", 2, 10)]
    assert doc["summary"]["errors"] == 1
    assert doc["summary"]["unresolved"] == {
        "docker.io/library/alpine:3.19": "offline, and not in the store"
    }


def test_strict_turns_warnings_into_exit_1(tmp_path: Path) -> None:
    write(tmp_path, "FROM alpine:3.19\nRUN wget https://example.com/tool-amd64\n")
    relaxed = invoke(tmp_path / "s", "--offline", str(tmp_path))
    assert relaxed.exit_code == 0
    assert "warning MA003 (hardcoded-arch)" in relaxed.stdout
    strict = invoke(tmp_path / "s", "--offline", "--strict", str(tmp_path))
    assert strict.exit_code == 1
    assert "error MA003 (hardcoded-arch)" in strict.stdout


def test_sarif_format(tmp_path: Path) -> None:
    write(tmp_path, "FROM alpine:3.19\nRUN wget https://example.com/tool-amd64\n")
    result = invoke(tmp_path / "s", "--offline", "--format", "sarif", str(tmp_path))
    doc = json.loads(result.stdout)
    (res,) = doc["runs"][0]["results"]
    assert res["ruleId"] == "MA003" and res["level"] == "warning"
    region = res["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, 35)
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
        "/Dockerfile"
    )


def test_platforms_file_build_args_and_target(tmp_path: Path) -> None:
    write(
        tmp_path,
        "ARG BASE\nFROM $BASE AS one\nRUN make\nFROM alpine:3.19 AS two\nRUN echo hi\n",
        name="app.Dockerfile",
    )
    args = ["--offline", "--format", "json", "-f", str(tmp_path / "app.Dockerfile")]
    result = invoke(
        tmp_path / "s",
        *args,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64,linux/s390x",
        "--build-arg",
        "BASE=debian:12",
        "--target",
        "one",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["platforms"] == ["linux/amd64", "linux/arm64", "linux/s390x"]
    # only the target's stages pull images
    assert list(doc["summary"]["images"]) == ["docker.io/library/debian:12"]
    assert [f["rule"] for f in doc["findings"]] == ["MA006"]


def test_containerfile_is_found_in_the_context(tmp_path: Path) -> None:
    write(tmp_path, "FROM alpine:3.19\n", name="Containerfile")
    result = invoke(tmp_path / "s", "--offline", "--format", "json", str(tmp_path))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["file"] == f"{tmp_path}/Containerfile"


def test_dockerfile_errors_exit_4_with_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "FROM alpine:3.19\nRUN --mount=type=bogus true\n")
    check_cli.register(cli)
    code = main(["--store", str(tmp_path / "s"), "check", "--offline", str(tmp_path)])
    assert code == 4
    err = capsys.readouterr().err
    assert f"Error: {tmp_path}/Dockerfile:2:" in err
    assert "Hint:" in err
    result = invoke(tmp_path / "s", "--offline", str(tmp_path))
    assert isinstance(result.exception, DockerfileError)


def test_missing_dockerfile_and_bad_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_cli.register(cli)
    (tmp_path / "empty").mkdir()
    assert main(["--store", str(tmp_path / "s"), "check", str(tmp_path / "empty")]) == 3
    assert "no Dockerfile or Containerfile" in capsys.readouterr().err
    write(tmp_path / "ctx", "FROM alpine\n")
    code = main(
        ["--store", str(tmp_path / "s"), "check", "--platform", "linux/", str(tmp_path / "ctx")]
    )
    assert code == 4


def test_from_platforms_looked_up_in_the_store(
    tmp_path: Path, anyarch: Runner, busybox_layout: Path, store_dir: Path
) -> None:
    anyarch("import", "--name", "localhost/busybox:1.35", str(busybox_layout), check=True)
    write(tmp_path / "ctx", "FROM localhost/busybox:1.35\nRUN echo hi\n")
    result = invoke(
        store_dir, "--platform", "linux/amd64,linux/s390x", "--offline", str(tmp_path / "ctx")
    )
    assert result.exit_code == 1, result.output
    first = result.stdout.splitlines()[0]
    assert first == (
        f"{tmp_path}/ctx/Dockerfile:1:6: error MA001 (from-missing-platform): FROM image "
        "localhost/busybox:1.35 is not published for linux/s390x; it has linux/amd64, "
        "linux/arm64, linux/arm/v7"
    )
    ok = invoke(
        store_dir, "--platform", "linux/arm64,linux/arm/v7", "--offline", str(tmp_path / "ctx")
    )
    assert ok.exit_code == 0, ok.output
    assert "0 errors, 0 warnings, 0 infos" in ok.stdout
    assert "platforms unknown" not in ok.stdout


def test_from_platforms_looked_up_in_a_registry(
    tmp_path: Path, anyarch: Runner, busybox_layout: Path, registry: RegistryServer, repo: str
) -> None:
    host = registry.host
    multi, single = f"{host}/{repo}:1", f"{host}/{repo}:amd64"
    anyarch("copy", "--progress", "quiet", f"oci:{busybox_layout}:latest", multi, check=True)
    anyarch(
        "copy",
        "--progress",
        "quiet",
        "--platform",
        "linux/amd64",
        f"oci:{busybox_layout}:latest",
        single,
        check=True,
    )
    write(
        tmp_path / "ctx",
        f"FROM {multi} AS a\nFROM {single} AS b\nFROM {host}/{repo}:missing\n"
        "COPY --from=a /bin/busybox /a\nCOPY --from=b /bin/busybox /b\n",
    )
    empty = tmp_path / "empty-store"
    result = invoke(empty, "--format", "json", str(tmp_path / "ctx"))
    doc = json.loads(result.stdout)
    images = doc["summary"]["images"]
    assert images[multi] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert images[single] == ["linux/amd64"]
    assert images[f"{host}/{repo}:missing"] == "unknown"
    assert doc["summary"]["unresolved"][f"{host}/{repo}:missing"].startswith("registry: ")
    assert [(f["rule"], f["line"], f["column"]) for f in doc["findings"]] == [("MA001", 2, 6)]
    assert "not published for linux/arm64; it has linux/amd64" in doc["findings"][0]["message"]
    assert result.exit_code == 1
    offline = json.loads(
        invoke(empty, "--offline", "--format", "json", str(tmp_path / "ctx")).stdout
    )
    assert set(offline["summary"]["unresolved"]) == {multi, single, f"{host}/{repo}:missing"}
