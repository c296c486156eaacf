"""``python -m rewardds.report SWEEP_DIR ...`` (see :mod:`rewardds.report.cli`)."""
import sys

from rewardds.report.cli import main

sys.exit(main())
