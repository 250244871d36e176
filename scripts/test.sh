#!/usr/bin/env bash
# Run the whole test suite (after scripts/bootstrap.sh): lint, type check,
# import contracts, then pytest with real registry, skopeo, crun, sshd, QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANYARCH_REQUIRE_REAL=${ANYARCH_REQUIRE_REAL:-1}
echo "== ruff"; ruff check src tests
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"
if [ "$#" -gt 0 ]; then
  exec pytest -n "${PYTEST_JOBS:-2}" -q "$@"
fi
# The timed tests assert CPU/wall figures; run beside another test worker they
# also measure the neighbour (two vCPUs share caches and memory bandwidth), so
# they run on their own once the rest has passed or failed.
status=0
pytest -n "${PYTEST_JOBS:-2}" -q -m "not timing" || status=$?
echo "== pytest: timed tests, one at a time"
sync; sleep 5  # let the parallel run's disk writeback finish first
pytest -p no:xdist -q -m timing -s || status=$?
exit "$status"
