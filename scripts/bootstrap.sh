#!/usr/bin/env bash
# Install what anyarch and its test suite need, when it is missing:
# Debian packages (registry, skopeo, crun, QEMU user emulation, sshd, ...),
# binfmt_misc registration, and a virtualenv in .venv with anyarch installed.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker-registry skopeo crun qemu-user-static binfmt-support
              openssh-server openssh-client busybox-static apache2-utils
              python3-venv git jq buildah)
need=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# QEMU user-mode emulation through binfmt_misc (needs root; harmless if present).
if [ "$(id -u)" = 0 ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable >/dev/null 2>&1 || true
fi

# The multi-arch busybox base the demo and the tests make needs Debian's
# busybox-static for four architectures: fetch them once, before tests run.
scripts/fetch-busybox.sh >/dev/null

# The interpreter: Debian's own CPython when it is 3.11 or newer, else the
# first python3 on PATH ($PYTHON overrides both).  Debian builds CPython with
# profile-guided optimisation and a static libpython; a CPython compiled from
# source with default flags (as pyenv does) runs anyarch's start-up 20-25 %
# slower, and start-up is most of a short command such as a copy between two
# repositories (docs/performance.md).
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  PY=/usr/bin/python3
else
  PY=python3
fi
base=$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ -x .venv/bin/python ] && [ "$(cat .venv/.anyarch-base 2>/dev/null)" != "$base" ]; then
  echo "bootstrap: re-creating .venv on $base" >&2
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  echo "$base" > .venv/.anyarch-base
fi
stamp=.venv/.anyarch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test,fast]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import anyarch, anyarch.registry, click, rich, pytest, hypothesis"
  touch "$stamp"
fi
# Byte-compile our sources once: with PYTHONDONTWRITEBYTECODE set (as on some
# machines) every command would otherwise recompile them at start-up.
.venv/bin/python -m compileall -q src >/dev/null 2>&1 || true
