#!/usr/bin/env bash
# The main job (after scripts/bootstrap.sh): make a multi-arch base image
# (linux/amd64, linux/arm64, linux/arm/v7) from Debian's busybox-static
# packages, import it into the local store, and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
debs=$(scripts/fetch-busybox.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== making a 3-platform busybox image from $debs"
python scripts/busybox_base.py "$work/layout" --debs "$debs" --tag 1.35 >/dev/null
echo "== anyarch import"
anyarch import --name localhost/busybox:1.35 "$work/layout"
echo "== anyarch images"
anyarch images
for p in linux/amd64 linux/arm64 linux/arm/v7; do
  printf '%-14s -> ' "$p"
  anyarch image inspect --platform "$p" localhost/busybox:1.35 -f '{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}} {{.Id}}'
done
