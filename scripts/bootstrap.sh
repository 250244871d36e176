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

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
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
