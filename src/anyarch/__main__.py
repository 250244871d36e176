"""``python -m anyarch``."""

from anyarch.cli.main import run

run()
