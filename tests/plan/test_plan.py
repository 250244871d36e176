"""Build plans: stages, targets, ``--from`` sources, ONBUILD, image config, shared work.

The promises a user relies on: a multi-platform build runs platform-neutral
work once; ``--target`` builds only what it needs; ``COPY --from`` accepts a
stage name, an index or an image; the image config and history match what
Docker writes; mistakes in the stage graph are reported at the line that
causes them.
"""

from __future__ import annotations

from typing import Any

import pytest

from anyarch.dockerfile import parse
from anyarch.errors import DockerfileError
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import (
    CopySpec,
    ImageKey,
    ImageMeta,
    MissingImageError,
    PlanOptions,
    RunSpec,
    SourceSpec,
    StepKind,
    build_plan,
    required_images,
)

AMD64 = parse_platform("linux/amd64")
ARM64 = parse_platform("linux/arm64")
BOTH = (AMD64, ARM64)

CROSS = """\
# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS lint
RUN go vet ./...

FROM alpine:3.19
RUN apk add --no-cache ca-certificates
COPY --from=build /out/app /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
"""


def test_build_platform_stage_is_shared_across_targets(plan_text: Any) -> None:
    plan = plan_text(CROSS, platforms=BOTH)
    amd, arm = (plan.for_platform(p) for p in BOTH)
    build_amd, build_arm = amd.stage_steps("build"), arm.stage_steps("build")
    assert [s.key for s in build_amd] == [s.key for s in build_arm]
    assert [s.kind for s in build_amd] == [
        StepKind.IMAGE,
        StepKind.MKDIR,
        StepKind.COPY,
        StepKind.RUN,
        StepKind.COPY,
        StepKind.RUN,
    ]
    assert all(s.platform == AMD64 for s in build_arm)
    assert {s.key for s in build_amd} <= plan.shared_keys
    for step in build_amd:
        assert plan.platforms_of(step.key) == BOTH


def test_target_stage_differs_per_platform(plan_text: Any) -> None:
    plan = plan_text(CROSS, platforms=BOTH)
    amd, arm = (plan.for_platform(p).stage_steps("2") for p in BOTH)
    assert [s.kind for s in amd] == [StepKind.IMAGE, StepKind.RUN, StepKind.COPY, StepKind.CONFIG]
    assert not {s.key for s in amd} & {s.key for s in arm}
    assert not {s.key for s in amd} & plan.shared_keys
    source = amd[0].spec
    assert isinstance(source, SourceSpec)
    assert (source.ref, source.platform) == ("docker.io/library/alpine:3.19", AMD64)
    assert arm[1].platform == ARM64
    # the copy reads the shared build stage's output on both platforms
    copy_amd, copy_arm = amd[2].spec, arm[2].spec
    assert isinstance(copy_amd, CopySpec) and isinstance(copy_arm, CopySpec)
    assert (
        copy_amd.source_key == copy_arm.source_key == plan.for_platform(AMD64).stage("build").layer
    )
    assert len(plan.steps_by_key) == 6 + 2 * 4
    chain = plan.for_platform(ARM64).layer_chain()
    assert [s.kind for s in chain] == [StepKind.IMAGE, StepKind.RUN, StepKind.COPY]
    assert [s.key for s in chain] == [s.key for s in arm[:3]]


def test_declaring_targetarch_makes_the_stage_per_platform(plan_text: Any) -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang AS build\n"
        "WORKDIR /src\n"
        "COPY . .\n"
        "ARG TARGETOS TARGETARCH\n"
        "RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app\n"
    )
    plan = plan_text(text, platforms=BOTH)
    amd, arm = (plan.for_platform(p).stage_steps("build") for p in BOTH)
    # the steps before the ARG see nothing platform-specific: shared
    assert [a.key == b.key for a, b in zip(amd, arm, strict=True)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    run_amd, run_arm = amd[-1].spec, arm[-1].spec
    assert isinstance(run_amd, RunSpec) and isinstance(run_arm, RunSpec)
    assert "TARGETARCH=amd64" in run_amd.env and "TARGETARCH=arm64" in run_arm.env
    assert amd[-1].platform == arm[-1].platform == AMD64


def test_target_prunes_unneeded_stages(plan_text: Any) -> None:
    text = (
        "FROM alpine AS base\nRUN base\n"
        "FROM base AS test\nRUN test\n"
        "FROM busybox AS unused\nRUN unused\n"
        "FROM base AS release\nCOPY --from=test /r /r\n"
        "FROM scratch AS last\n"
    )
    plan = plan_text(text, target="Release")
    p = plan.platforms[0]
    assert p.target == "release"
    assert [s.display for s in p.stages] == ["base", "test", "release"]
    assert not any("busybox" in s.text or s.stage == "unused" for s in p.steps)
    assert [
        k.ref
        for k in required_images(parse(text), PlanOptions(platforms=(AMD64,), target="release"))
    ] == ["docker.io/library/alpine:latest"]
    default = plan_text(text).platforms[0]
    assert [s.display for s in default.stages] == ["last"]


def test_copy_from_stage_name_index_and_image(plan_text: Any) -> None:
    text = (
        "FROM alpine AS Builder\nRUN make\n"
        "FROM scratch\n"
        "COPY --from=builder /a /a\n"
        "COPY --from=0 /b /b\n"
        "COPY --from=nginx:1.25 /etc/nginx /etc/nginx\n"
    )
    plan = plan_text(text, platforms=BOTH)
    p = plan.for_platform(ARM64)
    builder = p.stage("builder")
    by_name, by_index, by_image = (s.spec for s in p.steps[-3:])
    assert (
        isinstance(by_name, CopySpec)
        and isinstance(by_index, CopySpec)
        and isinstance(by_image, CopySpec)
    )
    assert by_name.source_key == by_index.source_key == builder.layer
    assert (by_name.source_stage, by_index.source_stage) == ("builder", "builder")
    nginx = p.stage("nginx:1.25")
    assert nginx.implicit and nginx.image == ImageKey("docker.io/library/nginx:1.25", ARM64)
    assert by_image.source_key == nginx.layer
    assert p.steps[-1].inputs == (p.steps[-2].key, nginx.layer)
    assert by_image.source_key not in plan.shared_keys


def test_run_mount_from_stage_and_image(plan_text: Any) -> None:
    text = (
        "FROM alpine AS deps\nRUN fetch\n"
        "FROM alpine\n"
        "RUN --mount=from=deps,target=/deps --mount=type=bind,from=busybox,source=/bin,target=/bb "
        "--mount=type=cache,target=cache --mount=type=secret,id=npm --mount=type=bind,target=/ctx make\n"
    )
    p = plan_text(text).platforms[0]
    run = p.steps[-1]
    assert isinstance(run.spec, RunSpec)
    deps, bb, cache, secret, ctx = run.spec.mounts
    assert deps.source_key == p.stage("deps").layer and deps.readonly
    assert bb.source_key == p.stage("busybox").layer and bb.source == "/bin"
    assert (cache.target, cache.cache_id, cache.sharing, cache.readonly) == (
        "/cache",
        "/cache",
        "shared",
        False,
    )
    assert (secret.secret_id, secret.target) == ("npm", "/run/secrets/npm")
    assert ctx.from_context and run.needs_content
    assert run.inputs == (p.steps[-2].key, deps.source_key, bb.source_key)


def test_onbuild_triggers_from_the_base_image_run_first(plan_text: Any) -> None:
    meta = ImageMeta(
        digest="sha256:" + "1" * 64,
        working_dir="/usr/src/app",
        on_build=("COPY requirements.txt /usr/src/app/", "RUN pip install -r requirements.txt"),
    )
    text = "FROM python:3.6-onbuild\nCMD python app.py\n"
    p = plan_text(text, images={"docker.io/library/python:3.6-onbuild": meta}).platforms[0]
    kinds = [(s.kind, s.on_build, s.text) for s in p.steps]
    assert kinds == [
        (StepKind.IMAGE, False, "FROM python:3.6-onbuild"),
        (StepKind.COPY, True, "COPY requirements.txt /usr/src/app/"),
        (StepKind.RUN, True, "RUN pip install -r requirements.txt"),
        (StepKind.CONFIG, False, "CMD python app.py"),
    ]
    copy = p.steps[1].spec
    assert isinstance(copy, CopySpec) and copy.dest == "/usr/src/app/"
    assert p.steps[1].location is not None and p.steps[1].location.line == 1
    assert p.image_config.on_build == ()  # triggers are consumed, not inherited


def test_onbuild_trigger_can_name_another_image(plan_text: Any) -> None:
    meta = ImageMeta(digest="sha256:" + "2" * 64, on_build=("COPY --from=busybox /bin/sh /sh",))
    text = "FROM example/base\n"
    parsed = parse(text)
    opts = PlanOptions(platforms=(AMD64,))
    first = required_images(parsed, opts)
    assert [k.ref for k in first] == ["docker.io/example/base:latest"]
    then = required_images(parsed, opts, {first[0]: meta})
    assert [k.ref for k in then] == [
        "docker.io/example/base:latest",
        "docker.io/library/busybox:latest",
    ]
    p = plan_text(text, images={"docker.io/example/base:latest": meta}).platforms[0]
    assert [s.display for s in p.stages] == ["busybox", "stage-0"]


def test_onbuild_of_a_base_stage_runs_in_the_child(plan_text: Any) -> None:
    text = "FROM alpine AS base\nONBUILD RUN echo child\nRUN echo base\nFROM base\nRUN echo after\n"
    p = plan_text(text).platforms[0]
    child = p.stage_steps("1")
    assert [(s.text, s.on_build) for s in child] == [
        ("RUN echo child", True),
        ("RUN echo after", False),
    ]
    assert p.stage("base").config.on_build == ("RUN echo child",)
    assert p.image_config.on_build == ()


def test_bad_onbuild_trigger_points_at_the_from_line(plan_text: Any) -> None:
    meta = ImageMeta(digest="sha256:" + "3" * 64, on_build=("COPPY x y",))
    with pytest.raises(DockerfileError) as info:
        plan_text(
            "FROM alpine\nFROM example/base\n", images={"docker.io/example/base:latest": meta}
        )
    err = info.value
    assert str(err.location) == "Dockerfile:2:1"
    assert err.reason == "unknown instruction: COPPY"
    assert err.hint == "did you mean COPY?"


def test_config_state_and_history(plan_text: Any) -> None:
    meta = ImageMeta(
        digest="sha256:" + "4" * 64,
        env=("PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"),
        cmd=("python3",),
        labels=(("org.opencontainers.image.vendor", "base"), ("keep", "1")),
        exposed_ports=("22/tcp",),
    )
    text = (
        "FROM python:3.12\n"
        "LABEL org.opencontainers.image.vendor=me version=2\n"
        "ENV LANG=en_US.UTF-8 APP=/app\n"
        "WORKDIR $APP\n"
        "USER app\n"
        "EXPOSE 8000-8001 53/udp\n"
        "VOLUME /data\n"
        "STOPSIGNAL SIGINT\n"
        "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost:8000/\n"
        'SHELL ["/bin/bash", "-c"]\n'
        "COPY --chown=app --chmod=644 app.py ./\n"
        "RUN echo $APP\n"
        'ENTRYPOINT ["python3"]\n'
        "MAINTAINER Jane\n"
        "ONBUILD RUN true\n"
    )
    p = plan_text(
        text, images={"docker.io/library/python:3.12": meta}, labels={"build": "ci"}
    ).platforms[0]
    config = p.image_config
    assert config.to_json() == {
        "User": "app",
        "ExposedPorts": {"22/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
        "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=en_US.UTF-8", "APP=/app"],
        "Entrypoint": ["python3"],
        "Volumes": {"/data": {}},
        "WorkingDir": "/app",
        "Labels": {
            "org.opencontainers.image.vendor": "me",
            "keep": "1",
            "version": "2",
            "build": "ci",
        },
        "StopSignal": "SIGINT",
        "Healthcheck": {
            "Test": ["CMD-SHELL", "curl -f http://localhost:8000/"],
            "Interval": 30_000_000_000,
            "Retries": 3,
        },
        "OnBuild": ["RUN true"],
        "Shell": ["/bin/bash", "-c"],
    }
    assert config.author == "Jane"
    assert p.history == (
        "LABEL org.opencontainers.image.vendor=me version=2",
        "ENV LANG=en_US.UTF-8 APP=/app",
        "WORKDIR /app",
        "USER app",
        "EXPOSE [53/udp 8000/tcp 8001/tcp]",
        "VOLUME [/data]",
        "STOPSIGNAL SIGINT",
        "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost:8000/] Interval:30s Timeout:0s "
        "StartPeriod:0s StartInterval:0s Retries:3}",
        "SHELL [/bin/bash -c]",
        "COPY --chown=app --chmod=644 app.py ./ # buildkit",
        "RUN /bin/bash -c echo $APP # buildkit",
        'ENTRYPOINT ["python3"]',
        "MAINTAINER Jane",
    )
    empty = [h.empty_layer for h in config.history]
    assert empty == [
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    # the label added with --label is only on the final image, not on the stage
    assert "build" not in p.stages[-1].config.labels_dict()


def test_entrypoint_resets_inherited_cmd_but_not_one_set_in_the_stage(plan_text: Any) -> None:
    meta = ImageMeta(digest="sha256:" + "5" * 64, cmd=("bash",))
    images = {"docker.io/library/ubuntu:latest": meta}
    inherited = (
        plan_text('FROM ubuntu\nENTRYPOINT ["/e"]\n', images=images).platforms[0].image_config
    )
    assert (inherited.entrypoint, inherited.cmd) == (("/e",), None)
    own = (
        plan_text('FROM ubuntu\nCMD ["x"]\nENTRYPOINT ["/e"]\n', images=images)
        .platforms[0]
        .image_config
    )
    assert (own.entrypoint, own.cmd) == (("/e",), ("x",))
    kept = plan_text("FROM ubuntu\nUSER x\n", images=images).platforms[0].image_config
    assert kept.cmd == ("bash",)


def test_shell_form_uses_the_stage_shell(plan_text: Any) -> None:
    p = plan_text(
        'FROM alpine\nCMD echo a\nSHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nRUN echo b\n'
    ).platforms[0]
    assert p.image_config.cmd == ("/bin/sh", "-c", "echo a")
    run = p.steps[-1].spec
    assert isinstance(run, RunSpec) and run.args == ("/bin/ash", "-eo", "pipefail", "-c", "echo b")
    assert p.history[0] == 'CMD ["/bin/sh" "-c" "echo a"]'


def test_run_heredocs_become_the_command(plan_text: Any) -> None:
    text = (
        "FROM alpine\n"
        "RUN <<EOF\necho one\nEOF\n"
        "RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n"
        "RUN python3 <<EOF\nprint(2)\nEOF\n"
    )
    steps = plan_text(text).platforms[0].steps[-3:]
    specs = [s.spec for s in steps]
    assert all(isinstance(s, RunSpec) for s in specs)
    simple, script, attached = specs
    assert isinstance(simple, RunSpec) and simple.args == ("/bin/sh", "-c", "echo one\n")
    assert isinstance(script, RunSpec) and script.args == ("/bin/sh", "-c", "/dev/pipes/EOF")
    assert script.inline_files[0].data == "#!/usr/bin/env python3\nprint(1)\n"
    assert isinstance(attached, RunSpec) and attached.args == (
        "/bin/sh",
        "-c",
        "python3 <<EOF\nprint(2)\nEOF",
    )


def test_copy_heredoc_is_expanded_unless_quoted(plan_text: Any) -> None:
    text = "FROM alpine\nENV WHO=world\nCOPY <<EOF /a\nhello $WHO\nEOF\nCOPY <<'EOF' /b\nhello $WHO\nEOF\n"
    a, b = (s.spec for s in plan_text(text).platforms[0].steps[-2:])
    assert isinstance(a, CopySpec) and isinstance(b, CopySpec)
    assert a.contents[0].data == "hello world\n"
    assert b.contents[0].data == "hello $WHO\n"


def test_copy_paths_resolve_against_workdir(plan_text: Any) -> None:
    text = (
        "FROM alpine\nWORKDIR /app\nWORKDIR sub\nCOPY a .\nCOPY b c/\nCOPY --parents x/./y/z /abs\n"
    )
    p = plan_text(text).platforms[0]
    dests = [s.spec.dest for s in p.steps[-3:] if isinstance(s.spec, CopySpec)]
    assert dests == ["/app/sub/", "/app/sub/c/", "/abs"]
    parents = p.steps[-1].spec
    assert isinstance(parents, CopySpec)
    assert (parents.sources[0].path, parents.sources[0].pattern) == ("/x", "y/z")
    assert p.image_config.working_dir == "/app/sub"


def test_stage_without_from_platform_on_scratch_uses_target(plan_text: Any) -> None:
    p = plan_text("FROM scratch\nCOPY a /a\n", platforms=(ARM64,)).platforms[0]
    assert p.steps[0].kind is StepKind.SCRATCH
    assert p.steps[1].platform == ARM64
    assert p.image_config.env == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    )
    assert p.image_config.working_dir == "/"


def test_missing_image_metadata_is_a_caller_error() -> None:
    parsed = parse("FROM alpine\n")
    with pytest.raises(MissingImageError, match="required_images"):
        build_plan(parsed, PlanOptions(platforms=(AMD64,)), {})


# --- errors in the stage graph ------------------------------------------------------


def plan_error(plan_text: Any, text: str, **options: Any) -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        plan_text(text, **options)
    return info.value


GRAPH_ERRORS = [
    (
        "duplicate-stage-name",
        "FROM alpine AS build\nFROM busybox AS Build\n",
        {},
        "Dockerfile:2:1",
        'duplicate stage name "build"',
        "stage names must be unique; 'build' is already used at Dockerfile:1:1. Rename one of the stages",
    ),
    (
        "copy-from-later-stage",
        "FROM alpine AS first\nCOPY --from=second /x /x\nFROM busybox AS second\n",
        {"target": "first"},
        "Dockerfile:2:1",
        'cannot copy from stage "second", it needs to be defined before current stage "first"',
        "move the stage it names above the current stage",
    ),
    (
        "copy-from-each-other",
        "FROM alpine AS first\nCOPY --from=second /x /x\nFROM busybox AS second\nCOPY --from=first /x /y\n",
        {},
        "Dockerfile:4:1",
        "circular dependency detected on stage: first",
        "a stage cannot COPY --from or mount from itself or a stage that depends on it",
    ),
    (
        "copy-from-itself",
        "FROM alpine AS me\nCOPY --from=me /x /y\n",
        {},
        "Dockerfile:2:1",
        "circular dependency detected on stage: me",
        "a stage cannot COPY --from or mount from itself or a stage that depends on it",
    ),
    (
        "copy-from-index-out-of-range",
        "FROM alpine\nCOPY --from=3 /x /y\n",
        {},
        "Dockerfile:2:6",
        "invalid stage index 3",
        "stage indexes go from 0 to 0",
    ),
    (
        "copy-from-variable",
        "FROM alpine\nARG SRC=x\nCOPY --from=$SRC /x /y\n",
        {},
        "Dockerfile:3:6",
        "variable expansion is not supported for --from, define a new stage with FROM using ARG "
        "from global scope as a workaround",
        "e.g. ARG SRC=builder / FROM ${SRC} AS src / COPY --from=src ...",
    ),
    (
        "mount-from-later-stage",
        "FROM alpine AS a\nRUN --mount=from=later,target=/x true\nFROM alpine AS later\n",
        {"target": "a"},
        "Dockerfile:2:1",
        'cannot mount from stage "later" to "/x", stage needs to be defined before current command',
        "move the stage it names above the current stage",
    ),
    (
        "base-blank-from-unset-arg",
        "ARG BASE\nFROM ${BASE}\n",
        {},
        "Dockerfile:2:1",
        "base name (${BASE}) should not be blank",
        "BASE is not set: declare it with ARG before the first FROM (with a default) or pass --build-arg",
    ),
    (
        "base-blank-arg-declared-in-stage-only",
        "FROM $IMG\nARG IMG=alpine\n",
        {},
        "Dockerfile:1:1",
        "base name ($IMG) should not be blank",
        "IMG is not set: declare it with ARG before the first FROM (with a default) or pass --build-arg",
    ),
    (
        "unknown-target",
        "FROM alpine AS build\nFROM alpine AS release\n",
        {"target": "relase"},
        "None",
        'target stage "relase" could not be found',
        "did you mean release? stage names: build, release",
    ),
    (
        "invalid-base-reference",
        "FROM Alpine:3\n",
        {},
        "Dockerfile:1:1",
        "failed to parse stage name \"Alpine:3\": invalid image reference 'Alpine:3': repository name 'Alpine' must be lowercase",
        "write the repository name in lowercase",
    ),
    (
        "empty-platform",
        "ARG P\nFROM --platform=$P alpine\n",
        {},
        "Dockerfile:2:6",
        "empty platform value from expression $P",
        "P is not set: declare it with ARG before the first FROM (with a default) or pass --build-arg",
    ),
    (
        "bad-mount-type-once-expanded",
        "FROM alpine\nARG T=cachee\nRUN --mount=type=$T,target=/x true\n",
        {},
        "Dockerfile:3:13",
        'unsupported mount type "cachee" (did you mean cache?)',
        "mount types: bind, cache, tmpfs, secret, ssh",
    ),
    (
        "bad-chmod-once-expanded",
        "FROM alpine\nARG MODE=999\nCOPY --chmod=$MODE a /b\n",
        {},
        "Dockerfile:3:6",
        "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777",
        "use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x",
    ),
    (
        "copy-url",
        "FROM alpine\nCOPY https://example.org/f /f\n",
        {},
        "Dockerfile:2:1",
        "source can't be a URL for COPY",
        "use ADD to fetch remote sources, or download them in a RUN step",
    ),
    (
        "checksum-on-local-file",
        "FROM alpine\nADD --checksum=sha256:00 f /f\n",
        {},
        "Dockerfile:2:5",
        "checksum requires HTTP(S) or Git sources",
        "--checksum pins a download; local files need no checksum",
    ),
    (
        "bad-stopsignal",
        "FROM alpine\nSTOPSIGNAL SIGNOPE\n",
        {},
        "Dockerfile:2:1",
        "invalid signal: SIGNOPE",
        "use a signal name such as SIGTERM or SIGQUIT, or a number",
    ),
    (
        "bad-expose",
        "FROM alpine\nEXPOSE 80/tcpx\n",
        {},
        "Dockerfile:2:1",
        'invalid port: "80/tcpx": invalid proto: tcpx',
        "ports look like 80, 8080/tcp, 53/udp or 8000-8010",
    ),
    (
        "expansion-error-in-env",
        "FROM alpine\nENV A=${B:?required}\n",
        {},
        "Dockerfile:2:1",
        'failed to process "${B:?required}": B: required',
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "options", "where", "message", "hint"),
    [e[1:] for e in GRAPH_ERRORS],
    ids=[e[0] for e in GRAPH_ERRORS],
)
def test_graph_error(
    plan_text: Any, text: str, options: dict[str, Any], where: str, message: str, hint: str | None
) -> None:
    err = plan_error(plan_text, text, **options)
    assert str(err.location) == where
    assert err.reason == message
    if hint is not None:
        assert err.hint == hint


def test_copy_from_a_later_stage_is_fine_when_that_stage_is_not_built(plan_text: Any) -> None:
    """BuildKit only dispatches what the target needs; an unused broken stage is not an error."""
    text = "FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nRUN --mount=type=bogus true\nFROM alpine AS c\n"
    assert plan_text(text).platforms[0].target == "c"


def test_a_name_that_is_not_a_stage_is_an_image(plan_text: Any) -> None:
    p = plan_text("FROM alpine\nCOPY --from=ghcr.io/acme/tools:1 /bin/t /t\n").platforms[0]
    assert [s.image for s in p.stages if s.implicit] == [ImageKey("ghcr.io/acme/tools:1", AMD64)]
