"""``python -m benchmarks``: run every benchmark script and write one report."""

import sys

from benchmarks.run_all import main

sys.exit(main())
