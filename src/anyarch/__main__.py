"""``python -m anyarch``."""

import sys

from anyarch.cli.main import main

sys.exit(main())
