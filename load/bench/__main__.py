"""``python -m load.bench``."""

import sys

from load.bench.main import main

sys.exit(main())
