"""Fixtures for planner tests: plan a Dockerfile text the way the builder will.

``plan_text`` runs the builder's protocol: ask :func:`required_images`,
resolve each image (here: fake metadata derived from the reference and the
platform, so different platforms get different digests), repeat until
nothing new is listed, then :func:`build_plan`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from anyarch.dockerfile import parse
from anyarch.oci.platform import Platform
from anyarch.oci.platform import parse as parse_platform
from anyarch.plan import ImageKey, ImageMeta, Plan, PlanOptions, build_plan, required_images

AMD64 = parse_platform("linux/amd64")
ARM64 = parse_platform("linux/arm64")

PlanText = Callable[..., Plan]


def fake_meta(key: ImageKey, **fields: Any) -> ImageMeta:
    """Metadata for an image: a digest unique to (reference, platform)."""
    digest = "sha256:" + hashlib.sha256(f"{key.ref}|{key.platform}".encode()).hexdigest()
    return ImageMeta(digest=digest, platform=key.platform, **fields)


def resolve_all(
    parsed: Any,
    opts: PlanOptions,
    overrides: Mapping[str, ImageMeta | None] | None = None,
) -> dict[ImageKey, ImageMeta | None]:
    """The builder's loop: resolve what required_images lists until it lists nothing new."""
    images: dict[ImageKey, ImageMeta | None] = {}
    while True:
        missing = [k for k in required_images(parsed, opts, images) if k not in images]
        if not missing:
            return images
        for key in missing:
            if overrides and key.ref in overrides:
                images[key] = overrides[key.ref]
            else:
                images[key] = fake_meta(key)


@pytest.fixture
def plan_text() -> PlanText:
    """``plan_text(text, platforms=(AMD64,), images={ref: ImageMeta}, **PlanOptions fields)``."""

    def run(
        text: str,
        platforms: Sequence[Platform] = (AMD64,),
        images: Mapping[str, ImageMeta | None] | None = None,
        **options: Any,
    ) -> Plan:
        options.setdefault("build_platform", AMD64)
        opts = PlanOptions(platforms=tuple(platforms), **options)
        parsed = parse(text)
        return build_plan(parsed, opts, resolve_all(parsed, opts, images))

    return run
