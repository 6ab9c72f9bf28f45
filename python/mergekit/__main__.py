"""``python -m mergekit ...``: the ``mergekit`` command, for environments without the console script on PATH
(an EMR step's interpreter, a venv that is not activated)."""

import sys

from mergekit.cli import main

sys.exit(main())
