"""``python -m course_utils``: see tooling/cli.py."""

import sys

from .tooling.cli import main

sys.exit(main())
