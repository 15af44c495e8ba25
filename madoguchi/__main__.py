"""``python -m madoguchi``: the same command as the ``madoguchi`` script."""

import sys

from madoguchi.cli import main

sys.exit(main())
