"""Build plans: a Dockerfile turned into content-addressed steps, per target platform.

Pure, like BuildKit's ``dockerfile2llb`` without the solver: stages by name
and index, global and per-stage ARG scopes with the automatic platform args,
``--target`` pruning, ``COPY --from`` stages and images, ONBUILD triggers,
the image config and history after every step, and cache keys that depend
only on what a step sees -- so work that does not depend on the target
platform is planned once for all of them.

Public API::

    required_images(parsed, opts, images=None) -> list[ImageKey]
    build_plan(parsed, opts, images) -> Plan
    PlanOptions(platforms, build_platform=None, build_args={}, target=None,
                labels={}, no_cache=False, no_cache_filter=frozenset(), cache_id_namespace="")
    ImageMeta(digest, platform=None, env=(), user="", working_dir="", shell=(), on_build=(),
              entrypoint=None, cmd=None, labels=(), exposed_ports=(), volumes=(),
              healthcheck=None, stop_signal="", history=(), has_layers=True, ...)
    ImageMeta.from_config(digest, config_json) ; ImageKey(ref, platform)
    Plan.platforms / for_platform(p) / steps_by_key / shared_keys / platforms_of(key)
        / topological() / resolve_keys(content_digests)
    PlatformPlan.steps / stages / stage(name) / stage_steps(name) / layer_chain()
        / image_config / history / result / layer
    Step.key / kind / spec / inputs / base / parent / config / history / needs_content
        / resolve_key(input_keys, content_digest)

``parsed`` is an :class:`anyarch.dockerfile.ParseResult` (or the typed
:class:`anyarch.dockerfile.instructions.Instructions`, to parse once).
"""

from __future__ import annotations

from anyarch.plan.config import ImageConfig
from anyarch.plan.options import HistoryEntry, ImageKey, ImageMeta, MissingImageError, PlanOptions
from anyarch.plan.planner import Plan, PlatformPlan, StagePlan, build_plan, required_images
from anyarch.plan.steps import (
    CONTENT_PLACEHOLDER,
    ConfigSpec,
    CopySource,
    CopySpec,
    MkdirSpec,
    MountSpec,
    RunSpec,
    SourceSpec,
    Step,
    StepKind,
)

__all__ = [
    "CONTENT_PLACEHOLDER",
    "ConfigSpec",
    "CopySource",
    "CopySpec",
    "HistoryEntry",
    "ImageConfig",
    "ImageKey",
    "ImageMeta",
    "MissingImageError",
    "MkdirSpec",
    "MountSpec",
    "Plan",
    "PlanOptions",
    "PlatformPlan",
    "RunSpec",
    "SourceSpec",
    "StagePlan",
    "Step",
    "StepKind",
    "build_plan",
    "required_images",
]
