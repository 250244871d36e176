#!/usr/bin/env bash
# The main job (after scripts/bootstrap.sh): build examples/hello for
# linux/amd64, linux/arm64 and linux/arm/v7 into the local store, on a
# multi-arch busybox base made offline from Debian's busybox-static packages,
# then show the index's platforms and run each image.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7

if ! anyarch image inspect localhost/busybox:1.35 >/dev/null 2>&1; then
  debs=$(scripts/fetch-busybox.sh)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "== making the base image localhost/busybox:1.35 ($PLATFORMS) from $debs"
  python scripts/busybox_base.py "$work/layout" --debs "$debs" --tag 1.35 >/dev/null
  anyarch import --name localhost/busybox:1.35 "$work/layout"
fi

echo "== anyarch doctor"
anyarch doctor --platform "$PLATFORMS"
echo
echo "== anyarch check --platform $PLATFORMS examples/hello"
anyarch check --offline --platform "$PLATFORMS" examples/hello
echo
echo "== anyarch build -t hello:1 --platform $PLATFORMS examples/hello"
anyarch build -t hello:1 --platform "$PLATFORMS" --progress plain examples/hello
echo
echo "== the index's platforms"
anyarch manifest inspect --format table store:hello:1
anyarch images hello
echo
for p in ${PLATFORMS//,/ }; do
  printf '%-14s %s\n' "$p:" "$(anyarch run --platform "$p" hello:1)"
done
