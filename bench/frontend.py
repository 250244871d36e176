"""Parse (and, when the planner is there, plan) the 335 real Dockerfiles of the corpus.

One process, warm (a first pass is not timed), best of N passes over the
whole corpus.  Files are read into memory before timing: this measures the
frontend, not the disk.

Planning uses ``anyarch.plan`` for two target platforms (linux/amd64,
linux/arm64) with the build platform linux/amd64.  Base images are not
fetched: every image the planner asks for gets fabricated metadata (a digest
derived from its reference and platform, an empty config), which is all the
planner reads.  Dockerfiles the planner rejects (a ``DockerfileError``, e.g.
a stage it cannot resolve without build args) are counted and listed; any
other exception is a bug and is reported as such.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import facts_lines, git_head, machine_facts, write_section

CORPUS = Path("/work/shared/conformance/dockerfiles")
PLATFORMS = ("linux/amd64", "linux/arm64")
BUILD_PLATFORM = "linux/amd64"


def load_corpus(root: Path) -> list[tuple[str, str]]:
    """(local_name, text) for every file MANIFEST.tsv lists, in its order."""
    with open(root / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for row in rows:
        name = row["local_name"]
        out.append((name, (root / name).read_bytes().decode("utf-8", errors="surrogateescape")))
    return out


def _message(name: str, exc: Exception) -> str:
    """First line of an error, without the file name it starts with."""
    line = str(exc).splitlines()[0]
    return line.removeprefix(name + ":")[:200]


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


@dataclass
class PlanSetup:
    """What the planner needs per file, resolved once before timing."""

    ok: list[tuple[str, Any, Any, dict[Any, Any]]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    crashed: list[tuple[str, str]] = field(default_factory=list)
    steps: int = 0


def planner() -> tuple[Any, str]:
    """The planner module, or (None, why not)."""
    try:
        import anyarch.plan as plan

        for name in ("build_plan", "required_images", "PlanOptions", "ImageMeta"):
            if not hasattr(plan, name):
                return None, f"anyarch.plan has no {name}"
        return plan, ""
    except Exception as exc:  # the planner is being written by others
        return None, f"importing anyarch.plan failed: {type(exc).__name__}: {exc}"


def fake_meta(plan: Any, key: Any) -> Any:
    digest = "sha256:" + hashlib.sha256(f"{key.ref}|{key.platform}".encode()).hexdigest()
    return plan.ImageMeta(digest=digest, platform=key.platform)


def prepare_plans(plan: Any, parsed: list[tuple[str, Any]]) -> PlanSetup:
    from anyarch.errors import DockerfileError
    from anyarch.oci.platform import parse as parse_platform

    opts = plan.PlanOptions(
        platforms=tuple(parse_platform(p) for p in PLATFORMS),
        build_platform=parse_platform(BUILD_PLATFORM),
    )
    setup = PlanSetup()
    for name, result in parsed:
        try:
            images: dict[Any, Any] = {}
            for _ in range(8):  # ONBUILD of a base could ask for more; ours have none
                keys = [k for k in plan.required_images(result, opts, images) if k not in images]
                if not keys:
                    break
                for k in keys:
                    images[k] = fake_meta(plan, k)
            p = plan.build_plan(result, opts, images)
            setup.steps += len(p.steps_by_key)
            setup.ok.append((name, result, opts, images))
        except DockerfileError as exc:
            setup.rejected.append((name, _message(name, exc)))
        except Exception as exc:
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            setup.crashed.append(
                (
                    name,
                    f"{type(exc).__name__}: {str(exc)[:120]} at {Path(tb.filename).name}:{tb.lineno}",
                )
            )
    return setup


def run(passes: int, write_docs: bool, argv_text: str) -> int:
    from anyarch.dockerfile import parse
    from anyarch.errors import DockerfileError

    corpus = load_corpus(CORPUS)
    total_bytes = sum(len(t.encode("utf-8", errors="surrogateescape")) for _, t in corpus)
    total_lines = sum(t.count("\n") + 1 for _, t in corpus)

    # warm-up pass: imports, regex compilation, caches; also sorts out failures
    parsed: list[tuple[str, Any]] = []
    parse_fail: list[tuple[str, str]] = []
    for name, text in corpus:
        try:
            parsed.append((name, parse(text, filename=name)))
        except DockerfileError as exc:
            parse_fail.append((name, _message(name, exc)))
    instructions = sum(len(r.ast.instructions) for _, r in parsed)

    def parse_all() -> None:
        for name, text in corpus:
            try:
                parse(text, filename=name)
            except DockerfileError:
                pass

    parse_best, parse_times = best_of(passes, parse_all)
    print(
        f"parse: {len(corpus)} files, {total_lines} lines, {total_bytes / 1e3:.0f} kB;"
        f" best {parse_best * 1e3:.1f} ms of {passes} (median {statistics.median(parse_times) * 1e3:.1f} ms);"
        f" {len(parse_fail)} rejected"
    )

    plan, why_not = planner()
    plan_best = plan_median = None
    setup = PlanSetup()
    if plan is not None:
        setup = prepare_plans(plan, parsed)  # also the warm-up pass of the planner

        def plan_all() -> None:
            for _name, result, opts, images in setup.ok:
                plan.required_images(result, opts, images)
                plan.build_plan(result, opts, images)

        plan_best, plan_times = best_of(passes, plan_all)
        plan_median = statistics.median(plan_times)
        print(
            f"plan ({', '.join(PLATFORMS)}): {len(setup.ok)} planned, {len(setup.rejected)} rejected,"
            f" {len(setup.crashed)} crashed; {setup.steps} steps;"
            f" best {plan_best * 1e3:.1f} ms (median {plan_median * 1e3:.1f} ms)"
        )
        for name, msg in setup.crashed[:10]:
            print(f"  CRASH {name}: {msg}")
    else:
        print(f"plan: not measured ({why_not})")

    if write_docs:
        write_section(
            "frontend",
            render_doc(
                passes,
                len(corpus),
                total_lines,
                total_bytes,
                instructions,
                parse_best,
                statistics.median(parse_times),
                parse_fail,
                plan_best,
                plan_median,
                setup,
                why_not,
                argv_text,
            ),
        )
        print("wrote the 'Frontend' section of docs/performance.md")
    return 1 if setup.crashed else 0


def render_doc(
    passes: int,
    files: int,
    lines: int,
    nbytes: int,
    instructions: int,
    parse_best: float,
    parse_median: float,
    parse_fail: list[tuple[str, str]],
    plan_best: float | None,
    plan_median: float | None,
    setup: PlanSetup,
    why_not: str,
    argv_text: str,
) -> str:
    facts = machine_facts()
    out = [
        "## Frontend: parse and plan the 335-Dockerfile corpus",
        "",
        f"All {files} Dockerfiles of `../shared/conformance/dockerfiles` (MANIFEST.tsv order;"
        f" {lines} lines, {nbytes / 1e3:.0f} kB, {instructions} instructions),",
        f"one warm process, files already in memory, best of {passes} passes over the whole corpus.",
        "",
        "Reproduce (writes this section):",
        "",
        f"    {argv_text}",
        "",
        "Machine:",
        "",
        *facts_lines(facts),
        "",
        "| stage | files | total, best | median | per file (best) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `anyarch.dockerfile.parse` | {files - len(parse_fail)} parsed, {len(parse_fail)} rejected"
        f" | {parse_best * 1e3:.1f} ms | {parse_median * 1e3:.1f} ms | {parse_best / files * 1e6:.0f} µs |",
    ]
    if plan_best is not None and plan_median is not None:
        n = len(setup.ok)
        out.append(
            f"| `required_images` + `build_plan`, {' + '.join(PLATFORMS)} | {n} planned,"
            f" {len(setup.rejected)} rejected, {len(setup.crashed)} crashed"
            f" | {plan_best * 1e3:.1f} ms | {plan_median * 1e3:.1f} ms"
            f" | {plan_best / max(n, 1) * 1e6:.0f} µs |"
        )
        out += [
            "",
            f"Planning used `anyarch.plan` as it stood at {git_head()}, build platform",
            f"{BUILD_PLATFORM}; base images get fabricated metadata (a digest from the",
            f"reference and platform, an empty config), so nothing is fetched. {setup.steps} steps planned in all.",
        ]
        if setup.rejected:
            out += [
                "",
                "Rejected by the planner with a `DockerfileError` (line:column and message):",
                "",
            ]
            out += [f"- `{n}`: {m}" for n, m in setup.rejected]
        if setup.crashed:
            out += ["", "**Planner crashes** (bugs, any exception but `DockerfileError`):", ""]
            out += [f"- `{n}`: {m}" for n, m in setup.crashed]
    else:
        out += ["", f"Planning was **not measured**: {why_not}. Parse only."]
    if parse_fail:
        out += ["", "Rejected by the parser:", ""]
        out += [f"- `{n}`: {m}" for n, m in parse_fail]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench frontend", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--passes", type=int, default=5, help="timed passes over the corpus (best of)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = ap.parse_args(argv)
    text = ".venv/bin/python -m bench frontend" + (
        f" --passes {args.passes}" if args.passes != 5 else ""
    )
    return run(args.passes, not args.no_docs, text)
