"""``python -m videocap``: the command line."""

import sys

from videocap.cli import main

sys.exit(main())
