"""Cache keys: what invalidates a step, what does not, and how the builder completes them.

The user-visible promise: editing a LABEL does not rebuild the RUN after it;
changing a value a RUN sees does; the same context content reuses the cache;
``--link`` layers survive a base image update; proxies never bust the cache.
"""

from __future__ import annotations

from typing import Any

import pytest

from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import CONTENT_PLACEHOLDER, ImageMeta, RunSpec, StepKind
from anyarch.plan.steps import compute_key

AMD64 = parse_platform("linux/amd64")
ARM64 = parse_platform("linux/arm64")


def keys(plan: Any) -> list[str]:
    return [s.key for s in plan.platforms[0].steps]


def last(plan: Any) -> Any:
    return plan.platforms[0].steps[-1]


def test_config_only_steps_do_not_invalidate_later_work(plan_text: Any) -> None:
    plain = last(plan_text("FROM alpine\nRUN make\n"))
    labelled = last(plan_text("FROM alpine\nLABEL a=1\nMAINTAINER x\nEXPOSE 80\nRUN make\n"))
    assert plain.key == labelled.key
    assert plain.kind is StepKind.RUN


@pytest.mark.parametrize(
    "change",
    ["ENV A=1\n", "ARG A=1\n", "USER nobody\n", "WORKDIR /w\n", 'SHELL ["/bin/bash", "-c"]\n'],
    ids=["env", "arg", "user", "workdir", "shell"],
)
def test_what_a_run_sees_enters_its_key(plan_text: Any, change: str) -> None:
    plain = last(plan_text("FROM alpine\nRUN make\n"))
    changed = last(plan_text("FROM alpine\n" + change + "RUN make\n"))
    assert plain.key != changed.key


def test_base_image_digest_enters_every_key(plan_text: Any) -> None:
    text = "FROM alpine\nCOPY . /src\nRUN make\n"
    one = plan_text(
        text, images={"docker.io/library/alpine:latest": ImageMeta("sha256:" + "a" * 64)}
    )
    two = plan_text(
        text, images={"docker.io/library/alpine:latest": ImageMeta("sha256:" + "b" * 64)}
    )
    assert not set(keys(one)) & set(keys(two))


def test_same_dockerfile_same_keys(plan_text: Any) -> None:
    text = "FROM alpine\nARG V=1\nRUN --mount=type=cache,target=/c make $V\nCOPY a b /c/\n"
    assert keys(plan_text(text)) == keys(plan_text(text))


def test_proxy_build_args_reach_run_but_not_the_key(plan_text: Any) -> None:
    text = "FROM alpine\nRUN wget http://x\n"
    plain = last(plan_text(text))
    proxied = last(plan_text(text, build_args={"HTTP_PROXY": "http://p:3128", "no_proxy": "x"}))
    assert proxied.key == plain.key
    assert isinstance(proxied.spec, RunSpec)
    assert proxied.spec.proxy_env == ("HTTP_PROXY=http://p:3128", "no_proxy=x")
    assert "HTTP_PROXY=http://p:3128" not in proxied.spec.env


def test_no_cache_marks_steps_without_changing_keys(plan_text: Any) -> None:
    text = "FROM alpine AS a\nRUN one\nFROM a AS b\nRUN two\n"
    base = plan_text(text).platforms[0].steps
    filtered = plan_text(text, no_cache_filter=frozenset({"B"})).platforms[0].steps
    assert [s.key for s in base] == [s.key for s in filtered]
    assert [s.no_cache for s in filtered] == [False, False, True]
    assert all(s.no_cache for s in plan_text(text, no_cache=True).platforms[0].steps)


def test_context_reads_need_content_and_stage_copies_do_not(plan_text: Any) -> None:
    text = (
        "FROM alpine AS b\nRUN make\n"
        "FROM alpine\nCOPY app /app\nCOPY --from=b /out /out\nADD https://x.org/f /f\n"
        "COPY <<EOF /inline\nhi\nEOF\n"
    )
    steps = plan_text(text).platforms[0].steps[-4:]
    assert [s.needs_content for s in steps] == [True, False, True, False]


def test_builder_completes_keys_with_content_digests(plan_text: Any) -> None:
    plan = plan_text(
        "FROM alpine AS a\nCOPY . /src\nRUN make\nFROM alpine\nCOPY --from=a /src /copy\n"
    )
    steps = plan.platforms[0].steps
    source, copy, run, source_again, again = steps
    assert source_again.key == source.key
    assert copy.needs_content and not run.needs_content
    first = plan.resolve_keys({copy.key: "sha256:" + "1" * 64})
    second = plan.resolve_keys({copy.key: "sha256:" + "2" * 64})
    same = plan.resolve_keys({copy.key: "sha256:" + "1" * 64})
    assert first == same
    assert first[source.key] == second[source.key] == source.key
    assert first[copy.key] != second[copy.key]
    assert first[run.key] != second[run.key]  # descendants follow their inputs
    assert first[again.key] != second[again.key]
    assert first[copy.key] != copy.key  # the placeholder was replaced
    assert copy.key == compute_key(copy.definition, copy.inputs, CONTENT_PLACEHOLDER)
    with pytest.raises(KeyError, match="no content digest"):
        plan.resolve_keys({})
    with pytest.raises(ValueError, match="needs the digest of its content"):
        copy.resolve_key(list(copy.inputs))


def test_link_layers_do_not_depend_on_the_base(plan_text: Any) -> None:
    one = plan_text("FROM alpine\nCOPY --link app /app\n").platforms[0].steps[-1]
    two = plan_text("FROM debian\nRUN x\nCOPY --link app /app\n").platforms[0].steps[-1]
    plain = plan_text("FROM alpine\nCOPY app /app\n").platforms[0].steps[-1]
    assert one.key != two.key
    assert one.layer_key is not None and one.layer_key == two.layer_key
    assert plain.layer_key is None


def test_platform_enters_keys_only_through_the_stage_platform(plan_text: Any) -> None:
    """FROM scratch builds on the target platform (as BuildKit), so its COPY differs per target."""
    plan = plan_text("FROM scratch\nCOPY a /a\n", platforms=(AMD64, ARM64))
    amd, arm = (p.steps for p in plan.platforms)
    assert amd[0].key == arm[0].key  # the empty filesystem is the same everywhere
    assert amd[1].key != arm[1].key
    explicit = plan_text(
        "FROM --platform=linux/amd64 alpine\nCOPY a /a\n", platforms=(AMD64, ARM64)
    )
    assert explicit.shared_keys == {s.key for s in explicit.platforms[0].steps}


def test_every_input_comes_before_its_step(plan_text: Any) -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM alpine AS tools\nRUN a\n"
        "FROM alpine AS deps\nRUN --mount=from=tools,target=/t b\n"
        "FROM deps\nCOPY --from=tools /x /x\nCOPY --from=busybox /bin/sh /sh\nLABEL done=1\n"
    )
    plan = plan_text(text, platforms=(AMD64, ARM64))
    seen: set[str] = set()
    for step in plan.topological():
        assert set(step.inputs) <= seen
        seen.add(step.key)
    assert seen == set(plan.steps_by_key)
