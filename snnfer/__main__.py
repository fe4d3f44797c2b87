"""``python -m snnfer`` (also what ``torchrun -m snnfer`` runs)."""

import sys

from snnfer.cli import main

sys.exit(main())
