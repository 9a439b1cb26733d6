"""``python -m inferlearn ...``: the same command as ``inferlearn`` (the daemon starts the server so)."""

import sys

from inferlearn.cli import main

sys.exit(main())
