"""The Dockerfiles (and their build contexts) built by both anyarch and buildah.

Every case is one Dockerfile plus a context written with exact modes, so
both builders see the same bytes.  ``@BASE@`` in a Dockerfile is replaced
by the busybox base in the test registry (``127.0.0.1:PORT/library/busybox:1.35``);
cases that take it through ``ARG BASE`` get it as a ``--build-arg``.

``buildah_format`` is ``docker`` where the Dockerfile sets something only
the docker image format can carry in buildah: buildah drops SHELL, ONBUILD
and HEALTHCHECK from ``--format oci`` images (with a warning), while anyarch,
like BuildKit, writes them into the OCI config.  Those configs are exported
with ``buildah push --format v2s2`` so the fields survive into the layout.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EPOCH = 1_700_000_000


@dataclass(frozen=True)
class F:
    """A regular file in a context (``mode`` exact, umask ignored)."""

    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class D:
    """A directory in a context."""

    mode: int = 0o755


@dataclass(frozen=True)
class L:
    """A symlink in a context."""

    target: str


@dataclass(frozen=True)
class H:
    """A hard link to another file of the context (path relative to the context)."""

    target: str


Entry = F | D | L | H
ContextFiles = dict[str, "Entry | Callable[[], bytes]"]
"""Path → entry; a callable makes a regular file's bytes (archives built on the fly)."""


@dataclass(frozen=True)
class Case:
    """One differential build.

    ``base_case``: a case built first (by each tool, for the same platform)
    and passed to this one as ``--build-arg BASE=<that image>``, e.g. for
    ONBUILD.  ``build_args`` are passed to both tools.  ``about`` says what
    the case exercises (it is part of a failure message).
    """

    name: str
    dockerfile: str
    files: ContextFiles = field(default_factory=dict)
    build_args: tuple[tuple[str, str], ...] = ()
    buildah_format: Literal["oci", "docker"] = "oci"
    base_case: str | None = None
    about: str = ""
    workdirs: dict[str, tuple[int, int]] = field(default_factory=dict)
    """WORKDIRs the Dockerfile creates, with the owner BuildKit gives them (the USER at
    that instruction); buildah creates them later or not at all (see ``ALLOWED``)."""


def write_context(root: Path, case: Case, base: str) -> Path:
    """Write the case's Dockerfile and context files below ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(case.dockerfile.replace("@BASE@", base))
    os.chmod(root / "Dockerfile", 0o644)
    dirs: list[tuple[Path, int]] = []
    hardlinks: list[tuple[Path, Path]] = []
    for name, spec in sorted(case.files.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, H):
            hardlinks.append((path, root / spec.target))
            continue
        if callable(spec):
            spec = F(spec())
        if isinstance(spec, F):
            path.write_bytes(spec.data)
            os.chmod(path, spec.mode)
        elif isinstance(spec, D):
            path.mkdir(exist_ok=True)
            dirs.append((path, spec.mode))
        else:
            os.symlink(spec.target, path)
    for path, target in hardlinks:
        os.link(target, path)
    for path, mode in dirs:
        os.chmod(path, mode)
    for dirpath, _dirnames, _ in os.walk(root):
        p = Path(dirpath)
        if all(p != d for d, _ in dirs):
            os.chmod(p, 0o755)
    return root


# --- archives for ADD --------------------------------------------------------------


def _tar_bytes() -> bytes:
    """A small tree with owners, modes, a symlink, a hard link and a setuid file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add(
            name: str,
            kind: bytes,
            mode: int,
            uid: int = 0,
            gid: int = 0,
            data: bytes = b"",
            link: str = "",
        ) -> None:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.uid, ti.gid = uid, gid
            ti.mtime = EPOCH
            ti.linkname = link
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("top", tarfile.DIRTYPE, 0o750, 1000, 1000)
        add("top/file.txt", tarfile.REGTYPE, 0o644, 1000, 1000, b"file in an archive\n")
        add("top/run.sh", tarfile.REGTYPE, 0o755, data=b"#!/bin/sh\necho run\n")
        add("top/setuid", tarfile.REGTYPE, 0o4755, data=b"setuid\n")
        add("top/link", tarfile.SYMTYPE, 0o777, link="file.txt")
        add("top/hard", tarfile.LNKTYPE, 0o644, 1000, 1000, link="top/file.txt")
        add("top/sub", tarfile.DIRTYPE, 0o700, 2, 3)
        add("top/sub/deep.txt", tarfile.REGTYPE, 0o600, 2, 3, b"deep\n")
        add("loose.txt", tarfile.REGTYPE, 0o640, 0, 50, b"at the archive root\n")
    return buf.getvalue()


def _gz() -> bytes:
    return gzip.compress(_tar_bytes(), mtime=EPOCH)


def _xz() -> bytes:
    return lzma.compress(_tar_bytes(), format=lzma.FORMAT_XZ)


def _bz2() -> bytes:
    return bz2.compress(_tar_bytes())


def _gz_not_tar() -> bytes:
    return gzip.compress(b"gzip, but not a tar: ADD copies it as it is\n", mtime=EPOCH)


# --- the cases ---------------------------------------------------------------------------

COMMON: ContextFiles = {
    "one.txt": F(b"one\n"),
    "two.txt": F(b"two\n", 0o600),
    "dir/a.txt": F(b"a\n"),
    "dir/exec.sh": F(b"#!/bin/sh\necho exec\n", 0o755),
    "dir/sub/x.dat": F(b"x\n", 0o640),
    "dir/sub/y.dat": F(b"y\n"),
    "dir/link": L("a.txt"),
    "dir/empty": D(0o700),
}

CASES: list[Case] = [
    Case(
        "metadata",
        about="LABEL/ENV/EXPOSE/VOLUME/WORKDIR/USER/STOPSIGNAL/ENTRYPOINT+CMD, no filesystem steps but WORKDIR",
        dockerfile="""\
FROM @BASE@
LABEL org.example.title="differential test" org.example.empty="" multi="a b"
LABEL "quoted key"="quoted value"
ENV PLAIN=value SPACED="two words" REF=${PATH}:/extra
ENV LEGACY legacy form value
ENV QUOTED="say \\"hi\\"" SINGLE='no $PLAIN expansion' ESCAPED=a\\ b\\$PLAIN UNI="caf\u00e9"
LABEL multi.line="first" \\
      second.line="second"
ENV PATH=/opt/bin:$PATH
EXPOSE 80 443/tcp 53/udp 8000-8002
VOLUME /data ["/cache", "/var/log/app"]
WORKDIR /srv
WORKDIR app
WORKDIR $PLAIN/sub
USER nobody:nogroup
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/bin/echo", "entry"]
CMD ["default", "args"]
""",
        workdirs={"/srv/app/value/sub": (0, 0)},
    ),
    Case(
        "entrypoint-shell-form",
        about="shell-form ENTRYPOINT, and ENTRYPOINT resetting the base image's CMD",
        dockerfile="""\
FROM @BASE@
ENTRYPOINT /bin/echo "from the shell form"
""",
    ),
    Case(
        "copy-dockerignore",
        about=".dockerignore: **, ! exceptions (also inside an excluded dir), leading /, Dockerfile excluded",
        dockerfile="""\
FROM @BASE@
COPY . /app/
COPY nested /nested-copy
""",
        files={
            ".dockerignore": F(
                b"# comment line\n"
                b"**/*.log\n"
                b"!keep.log\n"
                b"!nested/deep/keep-too.log\n"
                b"secret/\n"
                b"!secret/allowed.txt\n"
                b"/rootonly.txt\n"
                b"**/tmp\n"
                b"*.bak\n"
                b"Dockerfile\n"
                b".dockerignore\n"
            ),
            "app.py": F(b"print('app')\n"),
            "run.sh": F(b"#!/bin/sh\n", 0o755),
            "private.txt": F(b"mode 600\n", 0o600),
            "keep.log": F(b"kept\n"),
            "drop.log": F(b"dropped\n"),
            "nested/a.log": F(b"dropped\n"),
            "nested/b.txt": F(b"b\n"),
            "nested/deep/keep-too.log": F(b"kept\n"),
            "nested/deep/c.txt": F(b"c\n"),
            "rootonly.txt": F(b"dropped\n"),
            "sub/rootonly.txt": F(b"kept: patterns are anchored at the root\n"),
            "secret/key.pem": F(b"dropped\n"),
            "secret/allowed.txt": F(b"re-included\n"),
            "x/tmp/file": F(b"dropped\n"),
            "tmp/file2": F(b"dropped\n"),
            "a.bak": F(b"dropped\n"),
            "sub/b.bak": F(b"kept: *.bak matches at the root only\n"),
            "emptydir": D(0o755),
            "link-to-app": L("app.py"),
        },
    ),
    Case(
        "copy-paths",
        about="wildcards, trailing-slash rules, directory contents vs directory, existing destinations",
        dockerfile="""\
FROM @BASE@
COPY *.txt /txt/
COPY file?.md /md/
COPY [ab].conf /conf/
COPY one.txt /renamed.txt
COPY one.txt /new-dir/
COPY one.txt two.txt /multi/
COPY dir /dir-contents
COPY dir/ /dir-slash/
COPY dir/sub /etc/
COPY dir/sub/*.dat /dats/
COPY one.txt /tmp
COPY one.txt /no-slash
COPY dir/link /followed-link
""",
        files={
            **COMMON,
            "file1.md": F(b"1\n"),
            "file2.md": F(b"2\n", 0o600),
            "file10.md": F(b"not matched by file?.md\n"),
            "a.conf": F(b"a\n"),
            "b.conf": F(b"b\n"),
            "c.conf": F(b"not matched\n"),
        },
    ),
    Case(
        "copy-chmod-chown",
        about="COPY --chmod, --chown by name, uid, user only, numeric pair, both flags",
        dockerfile="""\
FROM @BASE@
COPY --chmod=0640 one.txt /chmod/one.txt
COPY --chmod=755 dir /chmod/dir
COPY --chown=nobody:nogroup one.txt /chown/by-name.txt
COPY --chown=65534 one.txt /chown/uid-only.txt
COPY --chown=nobody one.txt /chown/user-only.txt
COPY --chown=123:456 dir /chown/numeric/
COPY --chown=nobody:root --chmod=600 two.txt /chown/both.txt
COPY --chown=nobody:nogroup dir/sub /made/by/chown/
""",
        files=COMMON,
    ),
    Case(
        "user-chown",
        about="users added by RUN, then COPY --chown with those names, USER for RUN and WORKDIR",
        dockerfile="""\
FROM @BASE@
RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \\
 && echo 'app:x:1000:' >> /etc/group && echo 'staff:x:50:app' >> /etc/group \\
 && mkdir -p /home/app && chown app:app /home/app
COPY --chown=app:staff one.txt /home/app/one.txt
COPY --chown=app dir /home/app/dir
COPY one.txt /home/app/root-owned.txt
USER app
RUN touch /home/app/made-by-app && id > /home/app/id.txt
WORKDIR /home/app/work
RUN touch here
USER 1000:50
RUN touch /tmp/by-1000-50
COPY --chown=1000:staff one.txt /opt/mixed.txt
USER root
""",
        files=COMMON,
    ),
    Case(
        "whiteouts",
        about="RUN rm of base files, a directory replaced by a directory and by a file, a file made and removed",
        dockerfile="""\
FROM @BASE@
RUN rm /bin/ls /usr/bin/wc && rm -rf /root
RUN mkdir -p /replace/sub && echo old > /replace/sub/old && echo keep > /replace/file
RUN rm -rf /replace && mkdir /replace && echo new > /replace/new
RUN rm -rf /usr/sbin && echo now-a-file > /usr/sbin
RUN echo transient > /tmp/transient && mkdir /tmp/d && echo x > /tmp/d/x
RUN rm -r /tmp/transient /tmp/d && mkdir -m 700 /root && echo back > /root/back
""",
    ),
    Case(
        "add-archives",
        about="ADD auto-extracts local tar, tar.gz, tar.xz, tar.bz2 (owners, modes, links kept); not other files",
        dockerfile="""\
FROM @BASE@
ADD tree.tar.gz /gz/
ADD tree.tar.xz /xz
ADD tree.tar.bz2 /bz2/
ADD tree.tar /plain/
ADD notatar.gz /raw/
COPY tree.tar.gz /copied/
ADD one.txt /added-file.txt
""",
        files={
            "tree.tar": _tar_bytes,
            "tree.tar.gz": _gz,
            "tree.tar.xz": _xz,
            "tree.tar.bz2": _bz2,
            "notatar.gz": _gz_not_tar,
            "one.txt": F(b"one\n"),
        },
    ),
    Case(
        "multi-stage",
        about="COPY --from a named stage, a scratch stage, a stage index and an image",
        dockerfile="""\
FROM @BASE@ AS build
RUN mkdir -p /out/bin && echo built > /out/artifact && uname -m > /out/arch \\
 && ln -s artifact /out/alias && chmod 750 /out/bin && echo owned > /out/bin/owned \\
 && chown -R 123:456 /out/bin && chmod 2750 /out/bin && ln /out/artifact /out/hard
FROM scratch AS files
COPY one.txt /one.txt
FROM @BASE@
COPY --from=build /out /from-build
COPY --from=build /out/artifact /out/arch /single/
COPY --from=files /one.txt /from-scratch-stage.txt
COPY --from=0 /out/arch /by-index
COPY --from=@BASE@ /bin/busybox /from-image/busybox
COPY --from=build --chown=7:8 /out/bin /chowned-from-stage/
""",
        files={"one.txt": F(b"one\n")},
    ),
    Case(
        "copy-edge",
        about="odd names (spaces, UTF-8, >100 bytes), JSON form, hard links and special modes in "
        "the context, relative destinations, ARG in --chown, existing destination dirs, a base symlink",
        dockerfile="""\
FROM @BASE@
ARG OWNER=321:654
COPY ["name with spaces.txt", "/dest with spaces/"]
COPY ["caf\u00e9-\u65e5\u672c.txt", "/utf8/"]
COPY long /long/
COPY hard /hard/
COPY modes /modes/
WORKDIR /work
COPY one.txt .
COPY one.txt rel/sub/
COPY --chown=$OWNER one.txt /owned-by-arg.txt
COPY --chown=nobody:nogroup dir /tmp/
COPY one.txt /linuxrc
""",
        files={
            **COMMON,
            "name with spaces.txt": F(b"spaces\n"),
            "caf\u00e9-\u65e5\u672c.txt": F(b"utf-8\n"),
            "long/" + "d" * 60 + "/" + "f" * 90 + ".txt": F(b"long path\n"),
            "hard/a": F(b"linked\n"),
            "hard/b": H("hard/a"),
            "modes/setuid": F(b"s\n", 0o4755),
            "modes/setgid": F(b"g\n", 0o2755),
            "modes/none": F(b"0\n", 0o000),
            "modes/sticky": D(0o1777),
            "modes/private": D(0o700),
        },
    ),
    Case(
        "ignore-edge",
        about=".dockerignore that excludes everything but what it re-includes, ? and ** in the middle",
        dockerfile="""\
FROM @BASE@
COPY . /ctx/
""",
        files={
            ".dockerignore": F(
                b"*\n"
                b"!src\n"
                b"!docs/*.md\n"
                b"src/**/test_*\n"
                b"**/.git\n"
                b"!src/keep/test_keep.py\n"
                b"src/?.tmp\n"
                b"  src/spaced.txt  \n"
            ),
            "top.txt": F(b"excluded by *\n"),
            "src/main.py": F(b"main\n"),
            "src/a.tmp": F(b"excluded by src/?.tmp\n"),
            "src/ab.tmp": F(b"kept: ? is one character\n"),
            "src/spaced.txt": F(b"excluded: patterns are trimmed\n"),
            "src/pkg/test_x.py": F(b"excluded\n"),
            "src/pkg/deep/test_y.py": F(b"excluded\n"),
            "src/pkg/mod.py": F(b"kept\n"),
            "src/keep/test_keep.py": F(b"re-included\n"),
            "src/.git/config": F(b"excluded\n"),
            "docs/readme.md": F(b"re-included\n"),
            "docs/other.txt": F(b"excluded\n"),
        },
    ),
    Case(
        "run-fs-changes",
        about="RUN changing only metadata of base files, hard links to lower files, dir<->symlink "
        "swaps, a base directory replaced wholesale, a fifo, writes below a declared VOLUME",
        dockerfile="""\
FROM @BASE@
RUN chmod 600 /etc/passwd && chown 65534:65534 /etc/group && chmod 700 /tmp \\
 && ln /etc/passwd /etc/passwd-hard && ln /bin/busybox /busybox-hard
RUN rm -rf /usr/sbin && mkdir /usr/sbin && echo only > /usr/sbin/only \\
 && rm -rf /sbin && ln -s usr/sbin /sbin && rm /linuxrc && mkdir /linuxrc \\
 && mkfifo -m 640 /fifo && mkdir -p /opt/a/b && touch /opt/a/b/c
RUN rm -rf /opt/a && echo file > /opt/a
VOLUME /vol
RUN mkdir -p /vol/sub && echo kept > /vol/sub/kept
""",
    ),
    Case(
        "config-edge",
        about="CMD then ENTRYPOINT in one stage, exec-form HEALTHCHECK, numeric STOPSIGNAL, "
        "variables in VOLUME/EXPOSE/USER/LABEL",
        buildah_format="docker",
        dockerfile="""\
FROM @BASE@
ENV DATA=/data PORT=8080 WHO=nobody
CMD ["--flag"]
ENTRYPOINT ["/bin/sh", "-c", "echo $0 $@", "entry"]
HEALTHCHECK --retries=2 CMD ["/bin/true", "exec form"]
STOPSIGNAL 9
VOLUME $DATA ${DATA}/more
EXPOSE $PORT ${PORT}/udp
USER ${WHO}
LABEL who=$WHO "with space"="${DATA} x"
""",
    ),
    Case(
        "copy-merge",
        about="COPY of a tree onto / over existing directories, a source directory's own mode, "
        "dir/. sources, a file into /",
        dockerfile="""\
FROM @BASE@
COPY overlay/ /
COPY dir/empty /from-empty
COPY dir/. /dotdir/
COPY one.txt /
""",
        files={
            **COMMON,
            "overlay": D(0o700),
            "overlay/etc": D(0o750),
            "overlay/etc/added.conf": F(b"added\n"),
            "overlay/tmp": D(0o755),
            "overlay/tmp/in-tmp": F(b"in tmp\n"),
            "overlay/usr/local/bin/tool": F(b"#!/bin/sh\n", 0o755),
        },
    ),
    Case(
        "stages-inherit",
        about="escape directive, a stage built FROM another stage (config inherited), ARG scope "
        "per stage, an ARG named like an inherited ENV, ${VAR:-x} and ${VAR:+x}, a numeric "
        "USER without a passwd entry",
        dockerfile="""\
# escape=`
FROM @BASE@ AS parent
ARG ONLY_PARENT=parent-arg
ENV INHERITED=yes `
    CONT="line `
continued"
WORKDIR /parent/wd
USER 4242:4343
LABEL parent=1
ENTRYPOINT ["/bin/sh", "-c"]
RUN id -u > /tmp/uid && echo "${ONLY_PARENT}" > /tmp/arg && pwd > /tmp/pwd

FROM parent AS child
ARG UNSET
ARG INHERITED=from-arg
RUN echo "$INHERITED" > /tmp/arg-vs-env
ENV SEEN=$INHERITED
ENV DEFAULTED=${UNSET:-fallback} ALT=${INHERITED:+alternate} EMPTY_ALT=${UNSET:+never}
RUN echo "[$ONLY_PARENT]" > /tmp/arg-in-child && touch /tmp/made-in-child && pwd > /tmp/pwd-child
COPY --chown=4242:4343 one.txt relative.txt
LABEL child=2
""",
        files={"one.txt": F(b"one\n")},
        workdirs={"/parent/wd": (0, 0)},
    ),
    Case(
        "args",
        about="ARG before FROM, defaults, --build-arg overrides, TARGET* args, ARGs in ENV/LABEL/RUN/WORKDIR/COPY",
        dockerfile="""\
ARG BASE
ARG GLOBAL=global-default
FROM ${BASE}
ARG GLOBAL
ARG LOCAL=local-default
ARG OVERRIDDEN=default
ARG EMPTY
ARG TARGETARCH
ARG TARGETOS
ARG TARGETPLATFORM
ENV FROM_ARG=${LOCAL} OVER=$OVERRIDDEN
LABEL arch=$TARGETARCH platform=$TARGETPLATFORM
RUN echo "$GLOBAL|$LOCAL|$OVERRIDDEN|$EMPTY|$TARGETOS/$TARGETARCH|$TARGETPLATFORM" > /args.txt \\
 && env | grep -E '^(GLOBAL|LOCAL|OVERRIDDEN|FROM_ARG|OVER|UNUSED)=' | sort > /env.txt
WORKDIR /w/${TARGETARCH}
COPY ${FILE:-one.txt} /copied-${TARGETARCH}.txt
""",
        files={"one.txt": F(b"one\n")},
        build_args=(("OVERRIDDEN", "from-cli"), ("UNUSED", "never-declared")),
    ),
    Case(
        "shell-healthcheck",
        about="SHELL for RUN and shell-form CMD; HEALTHCHECK with all options",
        buildah_format="docker",
        dockerfile="""\
FROM @BASE@
SHELL ["/bin/sh", "-ec"]
RUN echo "shell=$0 flags=$-" > /shell.txt
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo "via busybox: $0" > /busybox-shell.txt
HEALTHCHECK --interval=30s --timeout=5s --start-period=2s --retries=4 \\
  CMD wget -q -O- http://localhost/ || exit 1
CMD echo shell-form cmd
""",
    ),
    Case(
        "onbuild-base",
        about="ONBUILD triggers and HEALTHCHECK NONE in a base image (the child case uses it)",
        buildah_format="docker",
        dockerfile="""\
FROM @BASE@
ONBUILD COPY ctxfile.txt /onbuild/
ONBUILD RUN echo triggered > /onbuild/ran
ONBUILD ENV ONBUILT=yes
LABEL stage=base
HEALTHCHECK NONE
""",
    ),
    Case(
        "onbuild-child",
        about="a child of onbuild-base: the triggers run in it, and are not inherited",
        buildah_format="docker",
        base_case="onbuild-base",
        dockerfile="""\
ARG BASE
FROM ${BASE}
RUN cat /onbuild/ctxfile.txt > /onbuild/seen && echo "$ONBUILT" > /onbuild/env
""",
        files={"ctxfile.txt": F(b"from the child's context\n")},
    ),
]

BY_NAME = {c.name: c for c in CASES}
