"""spark-submit entry point: `spark-submit jobs/live.py --conf conf/local.yaml --date 2026-11-01 [--available-now]`."""

import sys

from portrait.cli import main

if __name__ == "__main__":
    sys.exit(main(job="live"))
