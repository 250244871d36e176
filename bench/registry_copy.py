"""Copy a 3-platform, ~200 MB index with anyarch and with ``skopeo copy --all``.

The promise under test: copying such an index between two repositories of a
local registry, and from the registry into the local store, takes anyarch at
most 0.7x the wall time of ``skopeo copy --all`` in the same run (median of N).

What it does, all on this machine:

1. writes a deterministic OCI layout: an index over linux/amd64, linux/arm64
   and linux/arm/v7, each image three gzip tar layers of pseudo-random
   (incompressible) bytes from a fixed seed, ~200 MB compressed in total;
2. starts a fresh ``docker-registry`` and pushes the layout once with
   ``skopeo copy --all`` (not timed);
3. times, alternating which tool goes first in each round:

   * ``same-registry``: repo A -> a fresh repo B of the same registry
     (anyarch mounts the blobs across repositories; skopeo mounts what its
     blob-info cache knows about, uploads the rest);
   * ``to-store``: registry -> a fresh local store (anyarch) / a fresh OCI
     layout directory (skopeo); plus ``anyarch pull --all-platforms``;
   * ``cross-registry``: registry -> a second, freshly started registry with
     empty storage for every tool and round, so no mount is possible and every
     byte is downloaded and uploaded again.

Each copy is checked afterwards: the destination must hold the index under
its original digest (and, for directories, all 16 blobs).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    REPO,
    VENV_BIN,
    CommandFailed,
    Registry,
    Series,
    facts_lines,
    find_tool,
    loadavg,
    machine_facts,
    run_timed,
    shell_quote,
    tool_version,
    write_section,
)

SEED = 20240601
PLATFORMS = (("amd64", ""), ("arm64", ""), ("arm", "v7"))
#: Uncompressed payload per layer, MiB; 3 platforms x 64 MiB ~= 201 MB compressed.
LAYER_MIB = (40, 16, 8)
TARGET = 0.7

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


# --- the image -------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(rng: random.Random, mib: int, name: str) -> tuple[bytes, str]:
    """(gzip blob, diff ID) of a tar holding one file of ``mib`` MiB of random bytes."""
    payload = rng.randbytes(mib << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("data")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(d)
        info = tarfile.TarInfo(f"data/{name}.bin")
        info.size, info.mode, info.mtime = len(payload), 0o644, 0
        tar.addfile(info, io.BytesIO(payload))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0), _sha(raw)


@dataclass
class Image:
    layout: Path
    index_digest: str
    total_bytes: int  # all blobs, compressed
    blobs: int


def make_layout(dest: Path) -> Image:
    """Write the benchmark image as an OCI layout at ``dest`` (tag ``bench``)."""
    blobs_dir = dest / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    count = 0

    def put(data: bytes) -> str:
        nonlocal total, count
        digest = _sha(data)
        (blobs_dir / digest.split(":", 1)[1]).write_bytes(data)
        total += len(data)
        count += 1
        return digest

    entries = []
    for n, (arch, variant) in enumerate(PLATFORMS):
        rng = random.Random(SEED + n)
        layers, diff_ids = [], []
        for i, mib in enumerate(LAYER_MIB):
            blob, diff_id = _layer(rng, mib, f"{arch}{variant}-{i}")
            layers.append({"mediaType": OCI_LAYER, "digest": put(blob), "size": len(blob)})
            diff_ids.append(diff_id)
        plat = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        config = json.dumps(
            {
                **plat,
                "created": "1970-01-01T00:00:00Z",
                "config": {"Cmd": ["/bin/sh"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "anyarch bench"}]
                * len(diff_ids),
            },
            sort_keys=True,
        ).encode()
        cfg = {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)}
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": layers},
            indent=2,
        ).encode()
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": put(manifest),
                "size": len(manifest),
                "platform": plat,
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, indent=2
    ).encode()
    index_digest = put(index)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_INDEX,
                        "digest": index_digest,
                        "size": len(index),
                        "annotations": {"org.opencontainers.image.ref.name": "bench"},
                    }
                ],
            }
        )
    )
    return Image(dest, index_digest, total, count)


# --- checks ----------------------------------------------------------------------------


def check_layout_dir(root: Path, img: Image, what: str) -> None:
    """The directory's index.json names the index digest and it holds every blob."""
    doc = json.loads((root / "index.json").read_text())
    digests = {m.get("digest") for m in doc.get("manifests", [])}
    if img.index_digest not in digests:
        raise CommandFailed(f"{what}: {root}/index.json lacks {img.index_digest} (has {digests})")
    files = [p for p in (root / "blobs" / "sha256").iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    if len(files) != img.blobs or size != img.total_bytes:
        raise CommandFailed(
            f"{what}: {root} holds {len(files)} blobs / {size} bytes,"
            f" expected {img.blobs} / {img.total_bytes}"
        )


def check_registry(reg: Registry, repo: str, img: Image, what: str) -> None:
    got = reg.manifest_digest(repo, "v1")
    if got != img.index_digest:
        raise CommandFailed(f"{what}: {reg.host}/{repo}:v1 is {got}, expected {img.index_digest}")


# --- the benchmark ---------------------------------------------------------------------


def _anyarch() -> str:
    exe = VENV_BIN / "anyarch"
    return str(exe) if exe.exists() else find_tool("anyarch")


@dataclass
class Case:
    key: str
    title: str
    skopeo: Series
    anyarch: Series
    extra: list[Series]
    commands: list[str]


def interpreter_of(exe: str) -> str:
    """``VERSION (PATH)`` of the Python a console script runs on (from its ``#!`` line)."""
    first = Path(exe).read_text(errors="replace").splitlines()[0]
    python = first[2:].strip().split()[0] if first.startswith("#!") else sys.executable
    version = tool_version([python, "-c", "import platform; print(platform.python_version())"])
    return f"{version} ({os.path.realpath(python)})"


def run(
    runs: int,
    jobs: int | None,
    keep: bool,
    write_docs: bool,
    argv_text: str,
    also: Sequence[str] = (),
) -> int:
    skopeo = find_tool("skopeo")
    anyarch = _anyarch()
    jobs_args = ["--jobs", str(jobs)] if jobs else []
    quiet = ["--progress", "quiet"]
    work = Path(tempfile.mkdtemp(prefix="anyarch-bench-copy-"))
    env = dict(os.environ)
    env["ANYARCH_STORE"] = str(work / "unused-store")  # never touch the user's store
    env.pop("REGISTRY_AUTH_FILE", None)
    # The same, with Python's bytecode cache usable (as after a pip install, which
    # compiles .pyc files); kept in the work dir, so src/ gets no __pycache__.
    env_pyc = dict(env, PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env_pyc.pop("PYTHONDONTWRITEBYTECODE", None)
    # plain rows recompile at every start only if nothing compiled the sources (make does)
    no_pyc_env = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not any(
        (REPO / "src" / "anyarch").glob("__pycache__/*.pyc")
    )
    print(f"bench registry-copy: work dir {work}")
    regs: list[Registry] = []
    homes: list[Path] = []
    load_before = loadavg()
    try:
        img = make_layout(work / "layout")
        print(f"image: {img.blobs} blobs, {img.total_bytes / 1e6:.1f} MB, index {img.index_digest}")
        src = Registry(work / "registry-src").start()
        regs.append(src)
        tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        run_timed(
            [
                skopeo,
                "copy",
                "--all",
                "--dest-tls-verify=false",
                f"oci:{img.layout}:bench",
                f"docker://{src.host}/bench/src:v1",
            ],
            env=env,
        )
        check_registry(src, "bench/src", img, "seed push")
        ref = f"{src.host}/bench/src:v1"

        def a_same(repo: str) -> list[str]:
            return [anyarch, "copy", *jobs_args, *quiet, ref, f"{src.host}/{repo}:v1"]

        def s_same(repo: str) -> list[str]:
            return [
                skopeo,
                "copy",
                "--all",
                *tls,
                f"docker://{ref}",
                f"docker://{src.host}/{repo}:v1",
            ]

        def a_store(d: Path) -> list[str]:
            return [
                anyarch,
                "--store",
                str(d),
                "copy",
                *jobs_args,
                *quiet,
                ref,
                "store:bench/img:v1",
            ]

        def a_pull(d: Path) -> list[str]:
            return [anyarch, "--store", str(d), "pull", "--all-platforms", *jobs_args, *quiet, ref]

        def s_oci(d: Path) -> list[str]:
            return [
                skopeo,
                "copy",
                "--all",
                "--src-tls-verify=false",
                f"docker://{ref}",
                f"oci:{d}:v1",
            ]

        def a_cross(host: str) -> list[str]:
            return [anyarch, "copy", *jobs_args, *quiet, ref, f"{host}/bench/img:v1"]

        def s_cross(host: str) -> list[str]:
            return [
                skopeo,
                "copy",
                "--all",
                *tls,
                f"docker://{ref}",
                f"docker://{host}/bench/img:v1",
            ]

        def shown(argv: list[str]) -> str:
            names = {anyarch: "anyarch", skopeo: "skopeo"}
            return shell_quote([names.get(a, a).replace(src.host, "127.0.0.1:PORT") for a in argv])

        pyc_label = " (.pyc cached)"
        same = Case(
            "same",
            "registry repo A → repo B, same registry",
            Series("skopeo copy --all"),
            Series("anyarch copy"),
            [Series("anyarch copy" + pyc_label)],
            [shown(s_same("bench/a-skopeo-N")), shown(a_same("bench/a-anyarch-N"))],
        )
        # the same anyarch installed on other interpreters (--also-anyarch), timed in the same rounds
        also_series = [(exe, Series(f"anyarch copy on Python {interpreter_of(exe)}")) for exe in also]
        # skopeo mounts only what its blob-info cache has seen.  As another user
        # with a fresh HOME it has an empty cache: what a first copy of an image
        # skopeo never touched (pushed by another tool) costs.
        cold_prefix: list[str] | None = None
        cold_skopeo = Series("skopeo copy --all, empty blob-info cache", peer=True)
        setpriv = shutil.which("setpriv")
        same.extra += [series for _, series in also_series]
        if os.geteuid() == 0 and setpriv:
            cold_prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env"]
            same.extra.append(cold_skopeo)
            same.commands.append(
                shown([*cold_prefix, "HOME=EMPTY_N", *s_same("bench/c-skopeo-N")]).replace(
                    setpriv, "setpriv"
                )
            )
        store = Case(
            "store",
            "registry → local store / OCI layout dir",
            Series("skopeo copy --all → oci:"),
            Series("anyarch copy → store:"),
            [Series("anyarch copy → store:" + pyc_label), Series("anyarch pull --all-platforms")],
            [
                shown(s_oci(Path("OCI_N"))),
                shown(a_store(Path("STORE_N"))),
                shown(a_pull(Path("STORE_N"))),
            ],
        )
        cross = Case(
            "cross",
            "registry → another registry (nothing to mount)",
            Series("skopeo copy --all"),
            Series("anyarch copy"),
            [],
            [shown(s_cross("127.0.0.1:FRESH_PORT")), shown(a_cross("127.0.0.1:FRESH_PORT"))],
        )
        startup = Series("anyarch --version")
        startup_pyc = Series("anyarch --version" + pyc_label)
        reported: dict[str, str] = {}

        # untimed warm-up: fills the bytecode cache of env_pyc, the page cache and skopeo's caches
        run_timed(a_same("bench/warm-anyarch"), env=env_pyc)
        run_timed(a_same("bench/warm-anyarch2"), env=env)
        run_timed(s_same("bench/warm-skopeo"), env=env)
        for exe, _ in also_series:
            run_timed([exe, *a_same("bench/warm-also")[1:]], env=env)

        def timed(series: Series, argv: list[str], e: dict[str, str], what: str) -> str:
            # the previous command's 200 MB must not be written back during this one's
            # (registries fsync every link file they write: a mount waits behind it)
            os.sync()
            wall, cpu, out = run_timed(argv, env=e)
            series.add(wall, cpu)
            print(f"  {what:15s} {series.label:42s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
            return out

        for i in range(runs):
            anyarch_first = i % 2 == 0
            order = ("anyarch", "skopeo") if anyarch_first else ("skopeo", "anyarch")
            print(f"round {i + 1}/{runs} ({order[0]} first), load {loadavg()}")

            # (a) same registry, fresh destination repository per copy
            for tool in order:
                if tool == "anyarch":
                    for series, e, tag in ((same.anyarch, env, "a"), (same.extra[0], env_pyc, "p")):
                        repo = f"bench/a-anyarch{tag}-{i}"
                        out = timed(series, a_same(repo), e, "same-registry")
                        reported["same"] = out.strip().splitlines()[-1]
                        check_registry(src, repo, img, f"same-registry {series.label}")
                    for n, (exe, series) in enumerate(also_series):
                        repo = f"bench/a-anyarch-also{n}-{i}"
                        timed(series, [exe, *a_same(repo)[1:]], env, "same-registry")
                        check_registry(src, repo, img, f"same-registry {series.label}")
                else:
                    repo = f"bench/a-skopeo-{i}"
                    timed(same.skopeo, s_same(repo), env, "same-registry")
                    check_registry(src, repo, img, "same-registry skopeo")
                    if cold_prefix is not None:
                        # outside the 0700 work dir: uid 65534 must reach it
                        home = Path(tempfile.mkdtemp(prefix="anyarch-bench-skopeo-home-"))
                        home.chmod(0o777)
                        homes.append(home)
                        repo = f"bench/c-skopeo-{i}"
                        argv = [*cold_prefix, f"HOME={home}", f"XDG_RUNTIME_DIR={home}"]
                        timed(cold_skopeo, [*argv, *s_same(repo)], env, "same-registry")
                        check_registry(src, repo, img, "same-registry skopeo (empty cache)")

            # (b) registry -> fresh store / fresh OCI layout dir
            for tool in order:
                if tool == "anyarch":
                    runs_b = (
                        (store.anyarch, a_store, env),
                        (store.extra[0], a_store, env_pyc),
                        (store.extra[1], a_pull, env),
                    )
                    for series, make, e in runs_b:
                        d = work / f"store-{i}"
                        out = timed(series, make(d), e, "to-store")
                        if series is store.anyarch:
                            reported["store"] = out.strip().splitlines()[-1]
                        check_layout_dir(d, img, f"to-store {series.label}")
                        shutil.rmtree(d)
                else:
                    d = work / f"oci-{i}"
                    timed(store.skopeo, s_oci(d), env, "to-store")
                    check_layout_dir(d, img, "to-store skopeo")
                    shutil.rmtree(d)

            # (c) another registry, started with empty storage for every copy
            for tool in order:
                dst = Registry(work / f"registry-{tool}-{i}").start()
                regs.append(dst)
                try:
                    if tool == "anyarch":
                        out = timed(cross.anyarch, a_cross(dst.host), env, "cross-registry")
                        reported["cross"] = out.strip().splitlines()[-1]
                    else:
                        timed(cross.skopeo, s_cross(dst.host), env, "cross-registry")
                    check_registry(dst, "bench/img", img, f"cross-registry {tool}")
                finally:
                    dst.stop()
                    regs.remove(dst)
                    shutil.rmtree(dst.root, ignore_errors=True)

            startup.add(*run_timed([anyarch, "--version"], env=env)[:2])
            startup_pyc.add(*run_timed([anyarch, "--version"], env=env_pyc)[:2])

        load_after = loadavg()
        cases = [same, store, cross]
        print()
        print(render_table(cases))
        print(
            f"\nprocess start-up: {startup.label} median {startup.median:.2f} s wall,"
            f" {startup.cpu_median:.2f} s CPU; {startup_pyc.label} {startup_pyc.median:.2f} s,"
            f" {startup_pyc.cpu_median:.2f} s CPU"
        )
        print(f"load average before {load_before}, after {load_after}")
        for k, v in reported.items():
            print(f"anyarch {k}: {v}")
        if write_docs:
            write_section(
                "registry-copy",
                render_doc(
                    cases,
                    img,
                    runs,
                    jobs,
                    (startup, startup_pyc),
                    reported,
                    argv_text,
                    skopeo,
                    anyarch,
                    (load_before, load_after),
                    no_pyc_env,
                ),
            )
            print("\nwrote the 'Registry copy' section of docs/performance.md")
        missed = [c for c in (same, store) if ratio(c.anyarch, c.skopeo) > TARGET]
        return 1 if missed else 0
    finally:
        for r in regs:
            r.stop()
        for h in homes:
            shutil.rmtree(h, ignore_errors=True)
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def ratio(a: Series, b: Series) -> float:
    return a.median / b.median


def cpu_ratio(a: Series, b: Series) -> float:
    return a.cpu_median / b.cpu_median


def render_table(cases: list[Case]) -> str:
    rows = [
        "| case | tool | wall median s | wall min–max s | CPU median s | wall ratio anyarch/skopeo | CPU ratio | promise ≤ 0.70 (wall) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in cases:
        gated = c.key in ("same", "store")
        r = ratio(c.anyarch, c.skopeo)
        verdict = ("met" if r <= TARGET else "**missed**") if gated else "(not a promise)"
        s = c.skopeo
        rows.append(
            f"| {c.title} | {s.label} | {s.median:.2f} | {s.spread()} | {s.cpu_median:.2f} | | | |"
        )
        a = c.anyarch
        rows.append(
            f"| | {a.label} | {a.median:.2f} | {a.spread()} | {a.cpu_median:.2f}"
            f" | **{r:.2f}** | {cpu_ratio(a, s):.2f} | {verdict} |"
        )
        for x in c.extra:
            if x.peer:  # anyarch against this variant of the peer
                r_wall, r_cpu = ratio(a, x), cpu_ratio(a, x)
            else:
                r_wall, r_cpu = ratio(x, s), cpu_ratio(x, s)
            rows.append(
                f"| | {x.label} | {x.median:.2f} | {x.spread()} | {x.cpu_median:.2f}"
                f" | {r_wall:.2f} | {r_cpu:.2f} | |"
            )
    return "\n".join(rows)


def render_doc(
    cases: list[Case],
    img: Image,
    runs: int,
    jobs: int | None,
    startups: tuple[Series, Series],
    reported: dict[str, str],
    argv_text: str,
    skopeo: str,
    anyarch: str,
    loads: tuple[str, str],
    no_pyc_env: bool,
) -> str:
    facts = machine_facts()
    facts["load average (1, 5, 15 min) before / after"] = f"{loads[0]} / {loads[1]}"
    facts["skopeo"] = tool_version([skopeo, "--version"])
    facts["registry"] = tool_version([find_tool("docker-registry"), "--version"])
    facts["anyarch"] = tool_version([anyarch, "--version"])
    facts["anyarch's Python"] = interpreter_of(anyarch)
    same, store, cross = cases
    startup, startup_pyc = startups
    lines = [
        "## Registry copy: a 3-platform ~200 MB index, anyarch vs `skopeo copy --all`",
        "",
        "Promise: copying a 3-platform, ~200 MB index between two repositories of a",
        "local registry, and from the registry into the store, takes anyarch at most",
        f"**{TARGET}×** the wall time of `skopeo copy --all` in the same run (median of {runs}).",
        "",
        "Reproduce (rewrites this section; exit status 1 when the promise is missed):",
        "",
        f"    {argv_text}",
        "",
        f"Image: a deterministic OCI index (seed {SEED}) over linux/amd64, linux/arm64 and",
        "linux/arm/v7; each image has 3 gzip tar layers of pseudo-random bytes",
        f"({'/'.join(str(m) for m in LAYER_MIB)} MiB uncompressed); {img.blobs} blobs,"
        f" {img.total_bytes / 1e6:.1f} MB compressed in all.",
        "It is pushed once to a fresh local `docker-registry` (by skopeo); one untimed",
        f"warm-up copy per tool; then {runs} rounds, each timing every command once,",
        "alternating which tool goes first. Every copy is checked: the destination",
        "holds the index under its original digest (directories: all 16 blobs).",
        f"anyarch runs with {'--jobs ' + str(jobs) if jobs else 'its default --jobs 4'}; skopeo with its defaults.",
        "Wall time is the whole process, start-up included; CPU is user+sys of the",
        "process and its threads (less disturbed by other load on the machine).",
        "Before each timed command the bench calls sync(2), untimed, so no command",
        "waits behind the write-back of the previous one's 200 MB (the registry fsyncs",
        "every file it writes, a mount's link file included).",
        "",
        "Machine and versions:",
        "",
        *facts_lines(facts),
        "",
        render_table(cases),
        "",
        f"Process start-up alone: `{startup.label}` {startup.median:.2f} s wall /"
        f" {startup.cpu_median:.2f} s CPU; `{startup_pyc.label}` {startup_pyc.median:.2f} s /"
        f" {startup_pyc.cpu_median:.2f} s CPU.",
        "",
        *(
            [
                'Rows "anyarch copy on Python X (PATH)" time the same sources installed in another',
                "virtualenv (`--also-anyarch EXE`), made with that interpreter:",
                "`PATH -m venv V && V/bin/pip install -e '.[fast]'`, EXE = `V/bin/anyarch`.",
                "",
            ]
            if any(" on Python " in x.label for x in same.extra)
            else []
        ),
        '"(.pyc cached)" rows run the same command with Python\'s bytecode cache usable',
        "(`PYTHONPYCACHEPREFIX` in the bench's temp dir, `PYTHONDONTWRITEBYTECODE` unset), as",
        "after a `pip install`, which compiles the modules."
        + (
            " This environment sets `PYTHONDONTWRITEBYTECODE=1` and the editable `src/` has"
            " no `__pycache__`, so the plain rows recompile every anyarch module at each start."
            if no_pyc_env
            else ""
        ),
        "",
        "Commands timed (`N` = round; `STORE_N`, `OCI_N`: fresh directories;",
        "`PORT`: the bench's registry; `FRESH_PORT`: a registry started with empty",
        "storage for that one copy):",
        "",
    ]
    for c in cases:
        lines.append(f"- {c.title}:")
        lines += [f"  - `{cmd}`" for cmd in c.commands]
    lines += ["", "What anyarch reported on its last round:", ""]
    names = {"same": same.title, "store": store.title, "cross": cross.title}
    for k, v in reported.items():
        lines.append(f"- {names[k]}: `{v}`")
    lines += [
        "",
        "Reading the figures:",
        "",
        "- **Same registry**: anyarch asks the registry to *mount* every blob from the",
        "  source repository (`POST /v2/B/blobs/uploads/?mount=…&from=A`) instead of",
        "  downloading and uploading it again, so no layer byte crosses the wire. This is",
        "  the OCI distribution spec's cross-repository mount and it is the user-visible",
        "  win over a download-and-push. skopeo 1.9 mounts here too: its blob-info cache",
        "  (`/var/lib/containers/cache` for root) remembers that the blobs live in repo A",
        "  since the seed push, so both tools do ~40 small requests and the time is",
        "  process start-up plus request latency. With an empty cache (the row run as",
        "  uid 65534 with a fresh `HOME`, `EMPTY_N`; what a first skopeo copy of an",
        "  image some other tool pushed costs) skopeo downloads and re-uploads every",
        "  byte; its ratio column reads anyarch / that row. The promise is judged",
        "  against the default (cached) skopeo.",
        "- **To the store**: both download all 201 MB and verify it; both fsync every",
        "  blob (skopeo's OCI layout writer does too, and also fdatasyncs its blob-info",
        "  cache). anyarch then records the image in its store's index.json under a lock.",
        "- **Cross registry**: the harder case, not part of the promise. The",
        "  destination is a registry started with empty storage for each copy, so",
        "  neither tool can mount or skip anything: every byte goes down and up again.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench registry-copy", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--runs", type=int, default=5, help="rounds per tool and case (median of them)")
    ap.add_argument(
        "--jobs", type=int, default=None, help="anyarch --jobs (default: anyarch's own)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    ap.add_argument(
        "--also-anyarch",
        action="append",
        default=[],
        metavar="EXE",
        help="time this anyarch too (e.g. one installed on another Python) in the same-registry case",
    )
    args = ap.parse_args(argv)
    text = ".venv/bin/python -m bench registry-copy --runs " + str(args.runs)
    if args.jobs:
        text += f" --jobs {args.jobs}"
    for exe in args.also_anyarch:
        text += f" --also-anyarch {exe}"
    return run(args.runs, args.jobs, args.keep, not args.no_docs, text, args.also_anyarch)
