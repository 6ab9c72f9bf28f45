"""``python -m mergekit.emr ...``, the same as ``mergekit emr ...``."""

import sys

from mergekit.emr.cli import main

sys.exit(main())
