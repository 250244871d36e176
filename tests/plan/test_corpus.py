"""The planner over 335 real Dockerfiles, for linux/amd64 and linux/arm64.

Every corpus file must either plan, or fail with a located
:class:`~anyarch.errors.DockerfileError` -- never another exception.  The
files that fail are listed in :data:`EXPECTED_ERRORS` with the reason, each
checked against what BuildKit does with the same file and no build
arguments (most are test fixtures that their own test suites build with
``--build-arg``).  Images are resolved with fake metadata, as the builder
would resolve them: one digest per (reference, platform).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from anyarch.dockerfile import parse
from anyarch.dockerfile.instructions import parse_stages
from anyarch.errors import DockerfileError
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import (
    ImageKey,
    ImageMeta,
    Plan,
    PlanOptions,
    StepKind,
    build_plan,
    required_images,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "dockerfiles"
MANIFEST = CORPUS / "MANIFEST.tsv"
OPTS = PlanOptions(
    platforms=(parse_platform("linux/amd64"), parse_platform("linux/arm64")),
    build_platform=parse_platform("linux/amd64"),
)

_BLANK = "base name ({}) should not be blank"

#: local_name -> (line:column, message, why BuildKit fails the same way)
EXPECTED_ERRORS: dict[str, tuple[str, str, str]] = {
    "containers/buildah/tests/bud/arg-scope/Containerfile.stage-overrides-header-copy-from": (
        "8:6",
        "variable expansion is not supported for --from, define a new stage with FROM using ARG "
        "from global scope as a workaround",
        "COPY --from=$SRC: BuildKit refuses variables in --from (buildah allows them)",
    ),
    "containers/buildah/tests/bud/base-with-arg/Containerfile": (
        "13:15",
        'invalid name for build stage: "platform-arm/v7", name can\'t start with a number or '
        "contain symbols",
        "'/' is not allowed in a stage name",
    ),
    "containers/buildah/tests/bud/buildkit-mount/Dockerfile": (
        "4:13",
        "invalid field 'z' must be a key=value pair",
        "the SELinux 'z' mount option is buildah's, not BuildKit's",
    ),
    "containers/buildah/tests/bud/copy-chmod/Dockerfile.bad": (
        "3:6",
        "missing a value on flag: --chmod",
        "meant to fail: --chmod 777 without '='",
    ),
    "containers/buildah/tests/bud/copy-chown/Containerfile.chown_user": (
        "2:1",
        _BLANK.format("$SAFEIMAGE"),
        "ARG SAFEIMAGE has no default; its test passes --build-arg",
    ),
    "containers/buildah/tests/bud/from-with-arg/Containerfile": (
        "2:1",
        _BLANK.format("${base}"),
        "ARG base has no default; its test passes --build-arg",
    ),
    "containers/buildah/tests/bud/multiarch/Containerfile.reset-platform": (
        "2:6",
        "failed to parse platform linux/$FOREIGNARCH: invalid platform 'linux/': component 2 is "
        "empty (stray '/'?)",
        "ARG FOREIGNARCH has no default; its test passes --build-arg",
    ),
    "containers/buildah/tests/bud/multiarch/Dockerfile.no-run": (
        "9:1",
        _BLANK.format("$SAFEIMAGE"),
        "ARG SAFEIMAGE has no default; its test passes --build-arg",
    ),
    "containers/buildah/tests/bud/save-stages/Dockerfile.arg-build-stages-and-chained-build-stages": (
        "5:21",
        'invalid name for build stage: "${FIRST_STAGE}", name can\'t start with a number or '
        "contain symbols",
        "BuildKit does not expand variables in stage names (buildah does)",
    ),
    "containers/buildah/tests/bud/unrecognized/Dockerfile": (
        "2:1",
        "unknown instruction: BOGUS",
        "meant to fail: an unknown instruction",
    ),
    "containers/buildah/tests/conformance/testdata/Dockerfile.env": (
        "12:1",
        "failed to process \"'a\\\\'b'\": unexpected end of statement while looking for matching "
        "single-quote",
        "ENV name='a\\'b': no escapes inside single quotes, so the quote is unterminated",
    ),
    "dotnet/dotnet-docker/documentation/scripts/Dockerfile.distroless-wrapper": (
        "2:1",
        _BLANK.format("$DISTROLESS_IMAGE"),
        "ARG DISTROLESS_IMAGE has no default; the docs pass --build-arg",
    ),
    "dotnet/dotnet-docker/eng/docker-tools/Dockerfile.syft": (
        "4:1",
        _BLANK.format("${SYFT_IMAGE_NAME}"),
        "ARG SYFT_IMAGE_NAME has no default; the pipeline passes --build-arg",
    ),
    "dotnet/dotnet-docker/tests/Microsoft.DotNet.Docker.Tests/TestAppArtifacts/NLSTest.Dockerfile": (
        "4:1",
        _BLANK.format("${sdk_image}"),
        "ARG sdk_image has no default; the tests pass --build-arg",
    ),
}


def _manifest() -> dict[str, str]:
    if not MANIFEST.exists():
        return {}
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line]
    return {row["local_name"]: row["sha256"] for row in rows}


ROWS = _manifest()
NAMES = list(ROWS) or ["<missing>"]


def _read(name: str) -> str:
    path = CORPUS / name
    if name == "<missing>" or not path.exists():
        message = f"conformance data not found: {path} (shared/ must sit beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == ROWS[name], "corpus file changed"
    return data.decode("utf-8")


def _fake(key: ImageKey) -> ImageMeta:
    digest = "sha256:" + hashlib.sha256(f"{key.ref}|{key.platform}".encode()).hexdigest()
    return ImageMeta(
        digest=digest, platform=key.platform, env=("PATH=/usr/local/bin:/usr/bin:/bin",)
    )


def plan_file(text: str, name: str) -> Plan:
    """Parse and plan as the builder does: resolve images until nothing new is required."""
    typed = parse_stages(parse(text, filename=name))
    images: dict[ImageKey, ImageMeta | None] = {}
    while missing := [k for k in required_images(typed, OPTS, images) if k not in images]:
        for key in missing:
            images[key] = _fake(key)
    return build_plan(typed, OPTS, images)


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file_plans_or_fails_cleanly(name: str) -> None:
    text = _read(name)
    expected = EXPECTED_ERRORS.get(name)
    if expected is None:
        plan = plan_file(text, name)
        assert [p.platform for p in plan.platforms] == list(OPTS.platforms)
        for platform_plan in plan.platforms:
            steps = platform_plan.steps
            assert steps and steps[0].kind in (StepKind.IMAGE, StepKind.SCRATCH)
            assert platform_plan.result == platform_plan.stages[-1].result or any(
                s.result == platform_plan.result for s in platform_plan.stages
            )
        return
    where, message, _why = expected
    with pytest.raises(DockerfileError) as info:
        plan_file(text, name)
    err = info.value
    assert err.reason == message
    assert str(err.location) == f"{name}:{where}"
    assert err.location is not None and err.location.text


def test_expected_error_table_names_corpus_files() -> None:
    if not ROWS:
        _read("<missing>")
    assert len(ROWS) == 335
    assert set(EXPECTED_ERRORS) <= set(ROWS)


def test_corpus_shares_build_platform_stages() -> None:
    """Across the corpus, FROM --platform=$BUILDPLATFORM stages are planned once for both targets."""
    if not ROWS:
        _read("<missing>")
    shared = total = 0
    for name in ROWS:
        if name in EXPECTED_ERRORS:
            continue
        plan = plan_file(_read(name), name)
        shared += len(plan.shared_keys)
        total += len(plan.steps_by_key)
    assert 0 < shared < total


@pytest.mark.timing
def test_planning_the_whole_corpus_is_fast() -> None:
    """Parse + plan all 335 files for two platforms in under a second of CPU (warm, best of 5).

    CPU time of this process, not wall time: other test runs share the machine,
    and what is measured is the planner's work.  Both are printed.
    """
    texts = [(name, _read(name)) for name in ROWS] if ROWS else []
    if not texts:
        _read("<missing>")

    def run() -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for name, text in texts:
            try:
                plan_file(text, name)
            except DockerfileError:
                pass
        return time.process_time() - cpu, time.perf_counter() - wall

    run()  # warm up
    cpu, wall = min(run() for _ in range(5))
    print(f"\nparse + plan, 335 files x 2 platforms: {cpu:.3f} s CPU ({wall:.3f} s wall)")
    assert cpu < 1.0, f"planning the corpus took {cpu:.3f} s of CPU"
