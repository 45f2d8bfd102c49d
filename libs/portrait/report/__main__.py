"""`python -m portrait.report --conf conf/local.yaml --date D [--out DIR]` until the CLI wires `report`."""

import argparse
import datetime as dt
import sys

from portrait.config import load_config
from portrait.io import Lakehouse
from portrait.report import run
from portrait.spark import get_session

p = argparse.ArgumentParser(prog="python -m portrait.report")
p.add_argument("--conf", required=True)
p.add_argument("--date", required=True, type=dt.date.fromisoformat)
p.add_argument("--out", help="folder for <date>.html (default: reports/ beside the lakehouse)")
args = p.parse_args()
cfg = load_config(args.conf)
result = run(Lakehouse(get_session(cfg.spark), cfg.paths.lakehouse), cfg, args.date, out_dir=args.out)
print(f"report {args.date}: {result['path']}")
sys.exit(0)
