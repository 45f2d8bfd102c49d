"""spark-submit entry point: `spark-submit jobs/backfill.py --conf conf/local.yaml --from 2026-10-01 --to 2026-10-31`."""

import sys

from portrait.cli import main

if __name__ == "__main__":
    sys.exit(main(job="backfill"))
