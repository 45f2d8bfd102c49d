"""Scoring throughput: the `score` job for D on a lake that has champions and the portrait of D.

    python -m bench.scoring --workdir /work/bench-sf1      # after bench.models (it trains the champions)

One warm-up, then `--repeats` warm runs of `scoring.run` (purchase and churn propensity, segments,
next actions, the three published tables written) in one session. Throughput as BENCHMARKS.md
defines it: persons out / (median warm seconds x cores). Writes bench/results/scoring_sf<scale>.json
and .md and prints them. It measures; it never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

from bench.run import ROOT, machine, workdir_overrides, write_results
from portrait.config import load_config
from portrait.pipeline import run_stage
from portrait.spark import get_session


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="the folder bench.identity and bench.models filled")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    work = Path(args.workdir)
    meta = json.loads((work / "truth" / "meta.json").read_text())
    date = dt.date.fromisoformat(meta["end_date"])
    cfg = load_config(args.conf, overrides=workdir_overrides(work))
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)

    seconds, out = [], {}
    for i in range(args.repeats + 1):  # the first run warms up
        t0 = time.perf_counter()
        out = run_stage("score", spark, cfg, date)
        if i:
            seconds.append(time.perf_counter() - t0)
    median = statistics.median(seconds)
    result = {
        "benchmark": "scoring",
        "scale": meta["scale"],
        "date": date.isoformat(),
        "cores": cores,
        "machine": machine(spark),
        "persons": out["propensity_daily"],
        "warm_seconds": seconds,
        "median_seconds": median,
        "persons_per_s_per_core": out["propensity_daily"] / (median * cores),
    }
    lines = [
        f"# Scoring throughput, SF {result['scale']:g}, as of {result['date']}",
        "",
        f"Machine: {result['machine']}",
        "",
        f"`score` (purchase and churn propensity, segments, next actions; three tables written) for "
        f"{out['persons']:,} persons: median of {args.repeats} warm runs **{median:.2f} s** "
        f"(runs: {', '.join(f'{s:.2f}' for s in seconds)}), "
        f"**{result['persons_per_s_per_core']:,.0f} persons/s/core**.",
    ]
    write_results(f"scoring_sf{result['scale']:g}", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
