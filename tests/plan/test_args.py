"""ARG and ENV scoping, as a user of ``docker build`` sees it.

Each row is a Dockerfile, ``--build-arg`` values, and what a label (or the
FROM reference) ends up holding.  Labels make the value visible: they are
expanded with exactly the variables the instruction sees.
"""

from __future__ import annotations

from typing import Any

import pytest

from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import RunSpec

AMD64 = parse_platform("linux/amd64")
ARM64 = parse_platform("linux/arm64")
ARMV7 = parse_platform("linux/arm/v7")

#: (id, Dockerfile, build args, expected label "v")
SCOPES = [
    (
        "global-arg-visible-in-from-only",
        'ARG V=3.19\nFROM alpine:$V\nLABEL v="[$V]"\n',
        {},
        "[]",
    ),
    (
        "global-arg-redeclared-picks-global-default",
        "ARG V=1\nFROM alpine\nARG V\nLABEL v=$V\n",
        {},
        "1",
    ),
    (
        "redeclared-with-own-default-uses-it",
        "ARG V=1\nFROM alpine\nARG V=2\nLABEL v=$V\n",
        {},
        "2",
    ),
    (
        "build-arg-overrides-global-default",
        "ARG V=1\nFROM alpine\nARG V\nLABEL v=$V\n",
        {"V": "9"},
        "9",
    ),
    (
        "build-arg-overrides-stage-default",
        "FROM alpine\nARG V=2\nLABEL v=$V\n",
        {"V": "9"},
        "9",
    ),
    (
        "build-arg-needs-an-arg-declaration",
        'FROM alpine\nLABEL v="[$V]"\n',
        {"V": "9"},
        "[]",
    ),
    (
        "env-after-arg-shadows-it",
        "FROM alpine\nARG V=arg\nENV V=env\nLABEL v=$V\n",
        {},
        "env",
    ),
    (
        "env-after-arg-shadows-build-arg-too",
        "FROM alpine\nARG V\nENV V=env\nLABEL v=$V\n",
        {"V": "cli"},
        "env",
    ),
    (
        "env-with-arg-fallback",
        "FROM alpine\nARG V\nENV V=${V:-v1.0.0}\nLABEL v=$V\n",
        {},
        "v1.0.0",
    ),
    (
        "env-with-arg-fallback-given",
        "FROM alpine\nARG V\nENV V=${V:-v1.0.0}\nLABEL v=$V\n",
        {"V": "v2"},
        "v2",
    ),
    (
        "arg-after-env-wins-as-in-buildkit",
        "FROM alpine\nENV V=env\nARG V=arg\nLABEL v=$V\n",
        {},
        "arg",
    ),
    (
        "arg-default-expands-env",
        "FROM alpine\nENV A=x\nARG V=$A-y\nLABEL v=$V\n",
        {},
        "x-y",
    ),
    (
        "arg-default-sees-earlier-name-on-same-line",
        "FROM alpine\nARG A=1 V=$A$A\nLABEL v=$V\n",
        {},
        "11",
    ),
    (
        "arg-without-value-is-unset",
        'FROM alpine\nARG V\nLABEL v="${V-unset}"\n',
        {},
        "unset",
    ),
    (
        "empty-arg-is-set",
        'FROM alpine\nARG V=\nLABEL v="${V-unset}"\n',
        {},
        "",
    ),
    (
        "stage-args-carry-into-child-stage",
        "FROM alpine AS base\nARG V=1\nFROM base\nLABEL v=$V\n",
        {},
        "1",
    ),
    (
        "stage-args-end-with-the-stage",
        'FROM alpine AS a\nARG V=1\nFROM alpine\nLABEL v="[$V]"\n',
        {},
        "[]",
    ),
    (
        "targetarch-empty-unless-declared",
        'FROM alpine\nLABEL v="[$TARGETARCH]"\n',
        {},
        "[]",
    ),
    (
        "targetarch-declared",
        "FROM alpine\nARG TARGETARCH\nLABEL v=$TARGETARCH\n",
        {},
        "amd64",
    ),
    (
        "targetarch-overridden-by-build-arg",
        "FROM alpine\nARG TARGETARCH\nLABEL v=$TARGETARCH\n",
        {"TARGETARCH": "riscv64"},
        "riscv64",
    ),
    (
        "targetstage-default-for-unnamed-last-stage",
        "FROM alpine\nARG TARGETSTAGE\nLABEL v=$TARGETSTAGE\n",
        {},
        "default",
    ),
    (
        "targetstage-is-last-stage-name",
        "FROM alpine AS final\nARG TARGETSTAGE\nLABEL v=$TARGETSTAGE\n",
        {},
        "final",
    ),
    (
        "global-arg-default-expands-earlier-global",
        "ARG A=1\nARG B=$A-2\nFROM alpine\nARG B\nLABEL v=$B\n",
        {},
        "1-2",
    ),
    (
        "global-arg-default-sees-platform-args",
        "ARG P=$BUILDPLATFORM\nFROM alpine\nARG P\nLABEL v=$P\n",
        {},
        "linux/amd64",
    ),
]


@pytest.mark.parametrize(
    ("text", "build_args", "expected"), [s[1:] for s in SCOPES], ids=[s[0] for s in SCOPES]
)
def test_arg_scope(plan_text: Any, text: str, build_args: dict[str, str], expected: str) -> None:
    plan = plan_text(text, build_args=build_args)
    assert plan.platforms[0].image_config.labels_dict()["v"] == expected


def test_platform_args_when_declared(plan_text: Any) -> None:
    names = [
        "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
        "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    ]  # fmt: skip
    text = (
        "FROM alpine\nARG " + " ".join(names) + "\nLABEL " + " ".join(f'{n}="${n}"' for n in names)
    )
    plan = plan_text(text, platforms=(ARMV7, ARM64), build_platform=AMD64)
    got = {p.platform.architecture: p.image_config.labels_dict() for p in plan.platforms}
    assert got["arm"] == {
        "BUILDPLATFORM": "linux/amd64",
        "BUILDOS": "linux",
        "BUILDARCH": "amd64",
        "BUILDVARIANT": "",
        "TARGETPLATFORM": "linux/arm/v7",
        "TARGETOS": "linux",
        "TARGETARCH": "arm",
        "TARGETVARIANT": "v7",
    }
    assert got["arm64"]["TARGETPLATFORM"] == "linux/arm64"
    assert got["arm64"]["TARGETVARIANT"] == ""


def test_from_line_sees_platform_args_without_declaration(plan_text: Any) -> None:
    plan = plan_text("FROM --platform=$BUILDPLATFORM alpine:$TARGETARCH AS b\n", platforms=(ARM64,))
    stage = plan.platforms[0].stage("b")
    assert stage.image is not None
    assert stage.image.ref == "docker.io/library/alpine:arm64"
    assert stage.platform == AMD64
    assert stage.from_used == frozenset({"BUILDPLATFORM", "TARGETARCH"})


def test_build_arg_reaches_from_only_through_a_global_arg(plan_text: Any) -> None:
    plain = plan_text("FROM ${IMG:-alpine}\n", build_args={"IMG": "busybox"})
    declared = plan_text("ARG IMG\nFROM ${IMG:-alpine}\n", build_args={"IMG": "busybox"})
    assert plain.platforms[0].stages[0].base == "alpine"
    assert declared.platforms[0].stages[0].base == "busybox"


def test_run_environment_has_declared_args_not_the_image_env(plan_text: Any) -> None:
    plan = plan_text("FROM alpine\nENV E=1\nARG A=2\nARG U\nRUN env\n")
    run = plan.platforms[0].steps[-1]
    assert isinstance(run.spec, RunSpec)
    assert run.spec.env == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "E=1",
        "A=2",
    )
    assert plan.platforms[0].image_config.env == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "E=1",
    )
    assert run.history is not None
    assert run.history.created_by == "RUN |2 A=2 U= /bin/sh -c env # buildkit"


def test_env_overriding_arg_keeps_the_run_key_across_build_args(plan_text: Any) -> None:
    """Docker's docs: an ENV that overrides an ARG with a constant causes no cache miss."""
    text = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=hello\nRUN echo $CONT_IMG_VER\n"
    one = plan_text(text, build_args={"CONT_IMG_VER": "v1"}).platforms[0].steps[-1]
    two = plan_text(text, build_args={"CONT_IMG_VER": "v2"}).platforms[0].steps[-1]
    assert one.key == two.key
    changed = plan_text(text.replace("hello", "$CONT_IMG_VER"), build_args={"CONT_IMG_VER": "v2"})
    assert changed.platforms[0].steps[-1].key != one.key


def test_global_arg_values_and_lookups_are_reported(plan_text: Any) -> None:
    plan = plan_text("ARG A=1\nARG B=$A$MISSING\nFROM alpine\n", build_args={"A": "5"})
    p = plan.platforms[0]
    assert dict(p.global_args)["B"] == "5"
    assert ("TARGETPLATFORM", "linux/amd64") in p.global_args
    assert p.meta_used == frozenset({"A"})
    assert p.meta_unset == frozenset({"MISSING"})


def test_unset_variables_are_recorded_per_step_for_the_linter(plan_text: Any) -> None:
    plan = plan_text("FROM alpine\nARG HOME_DIR=/h\nWORKDIR $HOME_DIR/$SUBDIR\nCOPY $SRC /x\n")
    workdir, copy = plan.platforms[0].steps[-2:]
    assert (workdir.used_vars, workdir.unset_vars) == (
        frozenset({"HOME_DIR"}),
        frozenset({"SUBDIR"}),
    )
    assert copy.unset_vars == frozenset({"SRC"})
    stage = plan.platforms[0].stages[0]
    assert stage.used_vars == frozenset({"HOME_DIR"})
    assert stage.unset_vars == frozenset({"SUBDIR", "SRC"})
