"""``python -m tqops.cli``."""

import sys

from . import main

sys.exit(main())
