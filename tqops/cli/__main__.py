"""``python -m tqops.cli``."""

import sys

from tqops.cli import main

sys.exit(main())
