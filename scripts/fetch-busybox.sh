#!/usr/bin/env bash
# Download Debian's busybox-static for amd64, arm64, armhf and i386 into a cache
# (the raw material of the multi-arch base image the demo and the tests make).
# Prints the cache directory. Idempotent; needs root (or sudo) the first time.
set -euo pipefail
cache=${ANYARCH_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anyarch/debs}
mkdir -p "$cache"
# one fetcher at a time (parallel test workers call this at once; apt has one lock)
exec 9>"$cache/.lock"
flock 9
missing=()
for a in amd64 arm64 armhf i386; do
  ls "$cache"/busybox-static_*_"$a".deb >/dev/null 2>&1 || missing+=("$a")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  added=0
  for a in "${missing[@]}"; do
    [ "$a" = "$(dpkg --print-architecture)" ] && continue
    if ! dpkg --print-foreign-architectures | grep -qx "$a"; then $SUDO dpkg --add-architecture "$a"; added=1; fi
  done
  if [ $added = 1 ] || ! apt-cache show "busybox-static:${missing[0]}" >/dev/null 2>&1; then $SUDO apt-get update -qq >/dev/null; fi
  (cd "$cache" && apt-get download $(printf 'busybox-static:%s ' "${missing[@]}") >/dev/null 2>&1)
fi
echo "$cache"
