"""Run the anyarch CLI with ``anyarch build`` registered (until cli/main.py registers it).

Used by the build end-to-end tests as ``python runner.py ARGS...``: exactly
``anyarch ARGS...`` as a user runs it, plus the build command.
"""

from __future__ import annotations

import sys

from anyarch.cli import build
from anyarch.cli.main import cli, main

if "build" not in cli.commands:
    build.register(cli)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
