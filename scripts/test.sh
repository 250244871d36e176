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
exec pytest -n "${PYTEST_JOBS:-2}" -q "$@"
