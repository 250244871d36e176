"""File instructions: COPY, ADD and WORKDIR (BuildKit's ``dispatchCopy``/``dispatchWorkdir``).

COPY and ADD expand their paths and ``--chown``/``--chmod`` against the stage
environment, resolve the destination against the working directory, check
the flag combinations BuildKit checks (``--checksum`` only for one remote ADD
source, no URLs or git refs in COPY), and name where the files come from:
the build context, a stage, an image, a URL or a git repository.  Steps that
read the context or the network get a content placeholder in their key.
WORKDIR creates its directory (a layer) unless it is ``/``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from anyarch.dockerfile.chmod import ChmodError, parse_chmod
from anyarch.dockerfile.commands import AddCommand, CopyCommand, SourceContent, WorkdirCommand
from anyarch.plan.options import HistoryEntry
from anyarch.plan.paths import PathError, is_abs, normalize_path, normalize_workdir, to_slash
from anyarch.plan.state import StageBuilder
from anyarch.plan.steps import ConfigSpec, CopySource, CopySpec, MkdirSpec, StepKind

__all__ = ["dispatch_add", "dispatch_copy", "dispatch_workdir", "source_kind"]

_SCP_LIKE = re.compile(r"[A-Za-z0-9_.+-]+@[A-Za-z0-9.-]+:")


def source_kind(src: str) -> str:
    """``url``, ``git`` or ``local`` for a COPY/ADD source (BuildKit's ``ParseGitRef`` rules).

    Git: ``git://``, ``ssh://``, ``user@host:path``, an ``http(s)`` URL whose
    path ends in ``.git``, and ``github.com/...``.  Other ``http(s)`` URLs are
    downloads; everything else is a path.
    """
    if src.startswith(("./", "../")):
        return "local"
    if src.startswith(("git://", "ssh://", "github.com/")) or _SCP_LIKE.match(src):
        return "git"
    if src.startswith(("http://", "https://")):
        path = src.split("#", 1)[0].split("?", 1)[0]
        return "git" if path.endswith(".git") else "url"
    return "local"


def _relative_to_workdir(b: StageBuilder, path: str) -> str:
    """BuildKit's ``pathRelativeToWorkingDir``."""
    os = b.platform.os
    try:
        if is_abs(path, os):
            return normalize_path("/", path, os, True)
        if path in (".", ""):
            path = "./"
        return normalize_path(b.workdir, path, os, True)
    except PathError as err:
        raise b.fail(f"removing drive letter: {err}") from None


def _chmod(b: StageBuilder, chmod: str) -> None:
    if chmod:
        try:
            parse_chmod(chmod)
        except ChmodError as err:
            raise b.fail(
                err.message,
                "use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x",
                near="--chmod",
            ) from None


def _contents(b: StageBuilder, contents: tuple[SourceContent, ...]) -> tuple[SourceContent, ...]:
    return tuple(
        replace(content, data=b.expand_raw(content.data)) if content.expand else content
        for content in contents
    )


def _sources(
    b: StageBuilder, raw_sources: list[str], *, is_add: bool, parents: bool
) -> tuple[CopySource, ...]:
    os = b.platform.os
    out = []
    for src in raw_sources:
        kind = source_kind(src)
        if kind != "local":
            if not is_add:
                what = "a URL" if kind == "url" else "a git ref"
                raise b.fail(
                    f"source can't be {what} for COPY",
                    "use ADD to fetch remote sources, or download them in a RUN step",
                )
            out.append(CopySource(src, kind))
            continue
        pattern = ""
        path = src
        try:
            if parents:
                parent, pivot, rest = src.partition("/./")
                if pivot:
                    path, pattern = parent, rest
                else:
                    path, pattern = "/", src
                pattern = normalize_path("/", pattern, os, False).lstrip("/")
            path = normalize_path("/", path, os, False)
        except PathError as err:
            raise b.fail(f"removing drive letter: {err}") from None
        out.append(CopySource(src, "local", path, pattern))
    return tuple(out)


def _copy_common(b: StageBuilder, c: CopyCommand | AddCommand, is_add: bool) -> None:
    chown = b.expand(c.chown)
    chmod = b.expand(c.chmod)
    checksum = b.expand(c.checksum) if isinstance(c, AddCommand) else ""
    raw_sources = [b.expand(s) for s in c.sources]
    dest_raw = b.expand(c.dest)
    contents = _contents(b, c.contents)
    _chmod(b, chmod)
    if checksum:
        if len(raw_sources) != 1:
            raise b.fail("checksum can't be specified for multiple sources", near="--checksum")
        if source_kind(raw_sources[0]) == "local":
            raise b.fail(
                "checksum requires HTTP(S) or Git sources",
                "--checksum pins a download; local files need no checksum",
                near="--checksum",
            )
    dest = _relative_to_workdir(b, dest_raw)

    source_key = None
    source_stage = ""
    if isinstance(c, CopyCommand) and c.from_:
        node = b.sources[0] if b.sources else None
        result = b.source_result(
            node,
            f'cannot copy from stage "{c.from_}", it needs to be defined before current stage '
            f'"{b.node.display}"',
        )
        if result is not None and node is not None:
            source_key = result.layer
            source_stage = node.display
    parents = isinstance(c, CopyCommand) and c.parents
    sources = _sources(b, raw_sources, is_add=is_add, parents=parents)
    needs_content = any(s.kind != "local" for s in sources) or (
        source_key is None and any(s.kind == "local" for s in sources)
    )

    words = ["ADD" if is_add else "COPY"]
    if parents:
        words.append("--parents")
    if chown:
        words.append(f"--chown={chown}")
    if chmod:
        words.append(f"--chmod={chmod}")
    words.extend(raw_sources)
    words.extend(f"<<{content.path}" for content in contents)
    words.append(dest_raw)
    created_by = " ".join(words) + " # buildkit"

    spec = CopySpec(
        sources=sources,
        contents=contents,
        dest=dest,
        dest_raw=dest_raw,
        source_key=source_key,
        source_stage=source_stage,
        chown=chown,
        chmod=chmod,
        link=c.link,
        parents=parents,
        exclude=c.exclude,
        checksum=checksum,
        keep_git_dir=c.keep_git_dir if isinstance(c, AddCommand) else None,
        unpack=c.unpack if isinstance(c, AddCommand) else None,
        is_add=is_add,
    )
    b.emit(
        StepKind.ADD if is_add else StepKind.COPY,
        spec,
        text=c.code,
        history=HistoryEntry(created_by),
        sources=() if source_key is None else (source_key,),
        needs_content=needs_content,
        link=c.link,
    )


def dispatch_copy(b: StageBuilder, c: CopyCommand) -> None:
    """COPY: from the context, a stage (name or index) or an image."""
    _copy_common(b, c, False)


def dispatch_add(b: StageBuilder, c: AddCommand) -> None:
    """ADD: like COPY from the context, plus URLs and git repositories."""
    _copy_common(b, c, True)


def dispatch_workdir(b: StageBuilder, c: WorkdirCommand) -> None:
    """WORKDIR: normalised against the current one; creates the directory unless ``/``."""
    path = b.expand(c.path)
    os = b.platform.os
    try:
        wd = normalize_workdir(b.config.working_dir, path, os)
    except PathError as err:
        raise b.fail(f"normalizing workdir: {err}") from None
    b.workdir_set = True
    b.workdir = to_slash(wd, os)
    history = HistoryEntry(f"WORKDIR {wd}", empty_layer=b.workdir == "/")
    changes = {"working_dir": wd}
    if b.workdir == "/":
        spec: ConfigSpec | MkdirSpec = ConfigSpec("workdir", (wd,))
        b.emit(StepKind.CONFIG, spec, text=c.code, history=history, changes=changes)
        return
    spec = MkdirSpec(b.workdir, b.config.user)
    b.emit(StepKind.MKDIR, spec, text=c.code, history=history, changes=changes)
