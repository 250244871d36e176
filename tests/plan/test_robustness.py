"""Any Dockerfile plans or fails with a located DockerfileError -- never a crash.

Dockerfiles are generated from lines that exercise the planner's edges
(stage references by name, index and image, mounts, ONBUILD, Windows paths,
variables that expand to nothing), with base images whose metadata carries
ONBUILD triggers of their own.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyarch.dockerfile import parse
from anyarch.dockerfile.instructions import parse_stages
from anyarch.errors import DockerfileError
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import ImageKey, ImageMeta, PlanOptions, build_plan, required_images

LINES = [
    "FROM alpine AS x",
    "FROM x",
    "FROM scratch",
    "FROM --platform=$BUILDPLATFORM golang AS b",
    "FROM $NOPE",
    "ARG TARGETARCH",
    "ARG M=u+x P=80 S=SIGTERM U=app",
    "ENV A=1 B=$A",
    "COPY --from=0 a b",
    "COPY --from=1 a b",
    "COPY --from=x a b",
    "COPY --from=b /out /out",
    "COPY --from=busybox /bin/sh /sh",
    "COPY --link --chmod=$M a b/",
    "COPY --parents ./a/./b /x",
    "ADD --checksum=sha256:00 https://e.org/r.git /x",
    "ADD https://e.org/f /f",
    "RUN --mount=from=0,target=/x true",
    "RUN --mount=from=x,target=/x --mount=type=cache,target=. true",
    "RUN --mount=type=secret,target=/ true",
    "RUN --mount=type=ssh,source=x true",
    "RUN echo $A",
    'RUN ["a", "b"]',
    "WORKDIR C:\\x",
    "WORKDIR ..",
    "WORKDIR /app/",
    "USER $U",
    "EXPOSE $P 1-2/udp",
    "STOPSIGNAL $S",
    "VOLUME $EMPTY",
    'ENTRYPOINT ["/e"]',
    "ENTRYPOINT []",
    "CMD run",
    'SHELL ["cmd", "/S", "/C"]',
    "HEALTHCHECK --interval=1s CMD x",
    "LABEL a=$A",
    "ONBUILD COPY --from=x a b",
    "ONBUILD RUN true",
    "MAINTAINER me",
]

TRIGGERS = st.sampled_from(
    [
        (),
        ("RUN x",),
        ("COPY --from=x a b",),
        ("COPY --from=nginx / /",),
        ("BOGUS",),
        ("ONBUILD RUN x",),
    ]
)
OPTS = PlanOptions(
    platforms=(parse_platform("linux/arm64"), parse_platform("windows/amd64")),
    build_platform=parse_platform("linux/amd64"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.sampled_from(LINES), min_size=0, max_size=10),
    triggers=TRIGGERS,
    workdir=st.sampled_from(["", "/w", "C:\\w"]),
    target=st.sampled_from([None, "x", "b"]),
)
def test_planning_never_crashes(
    lines: list[str], triggers: tuple[str, ...], workdir: str, target: str | None
) -> None:
    text = "FROM alpine\n" + "\n".join(lines) + "\n"
    opts = PlanOptions(platforms=OPTS.platforms, build_platform=OPTS.build_platform, target=target)
    try:
        typed = parse_stages(parse(text))
        images: dict[ImageKey, ImageMeta | None] = {}
        while missing := [k for k in required_images(typed, opts, images) if k not in images]:
            for key in missing:
                images[key] = ImageMeta(
                    "sha256:" + "0" * 64, key.platform, on_build=triggers, working_dir=workdir
                )
        plan = build_plan(typed, opts, images)
    except DockerfileError as err:
        assert err.location is not None or err.reason.startswith("target stage")
        return
    for platform_plan in plan.platforms:
        seen: set[str] = set()
        for step in platform_plan.steps:
            assert set(step.inputs) <= seen
            seen.add(step.key)
