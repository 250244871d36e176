"""``python -m bench BENCHMARK [options]``; with no benchmark, run them all.

Benchmarks: registry-copy, copy-experiments, frontend, build (``--help`` after a name
for its options).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from bench import build, copy_experiments, frontend, registry_copy

    benches = {
        "registry-copy": registry_copy.main,
        "copy-experiments": copy_experiments.main,
        "frontend": frontend.main,
        "build": build.main,
    }
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(benches))
        return 0
    if not argv:
        rc = 0
        for name, fn in benches.items():
            print(f"=== {name}")
            rc |= fn([])
        return rc
    name, rest = argv[0], argv[1:]
    if name not in benches:
        print(f"unknown benchmark {name!r}; choose from: {', '.join(benches)}", file=sys.stderr)
        return 2
    return benches[name](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
