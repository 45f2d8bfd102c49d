"""spark-submit entry point: `spark-submit jobs/marts.py --conf conf/local.yaml --date 2026-11-01`."""

import sys

from portrait.cli import main

if __name__ == "__main__":
    sys.exit(main(job="marts"))
