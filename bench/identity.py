"""Identity resolution quality against the generator's truth, and ingest/identity throughput.

    python -m bench.identity --scale 0.1            # generate, ingest, resolve, measure
    python -m bench.identity --existing             # measure the lake and truth of conf/local.yaml (after `make demo`)

Writes bench/results/identity_sf<scale>.json and .md and prints them. Throughput is rows (raw lines
in for ingest, identifiers for identity) / (wall seconds x cores), as BENCHMARKS.md defines it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from bench.run import RESULTS, ROOT, machine
from portrait import generator, identity, ingest
from portrait.config import load_config
from portrait.identity.quality import pairwise_quality, truth_identifiers
from portrait.io import Lakehouse
from portrait.spark import get_session


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--existing", action="store_true", help="measure the configured lake and truth as they are")
    p.add_argument("--date", default="2026-11-01")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    args = p.parse_args(argv)
    date = dt.date.fromisoformat(args.date)
    overrides = {}
    if not args.existing:
        work = Path(tempfile.mkdtemp(prefix="portrait-bench-identity-"))
        overrides = {"paths.lakehouse": str(work / "lakehouse"), "paths.landing": str(work / "landing"),
                     "paths.truth": str(work / "truth")}
    cfg = load_config(args.conf, overrides=overrides)
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)
    result: dict = {"benchmark": "identity", "date": args.date, "machine": machine(spark)}
    if not args.existing:
        generator.generate(spark, landing=cfg.paths.landing, truth=cfg.paths.truth, scale=args.scale,
                           seed=cfg.generator.seed, end_date=date, days=cfg.generator.days,
                           horizon_days=cfg.train.horizon_days, dirty_fraction=cfg.generator.dirty_fraction)
        t0 = time.perf_counter()
        counts = ingest.run(spark, cfg, date, start=date - dt.timedelta(days=cfg.generator.days - 1))
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        identity.run(spark, cfg, date)
        identity_s = time.perf_counter() - t0
        raw = sum(c["rows_read"] for c in counts.values())
        result.update(ingest_seconds=ingest_s, identity_seconds=identity_s, raw_rows=raw,
                      ingest_rows_per_s_per_core=raw / (ingest_s * cores))
    meta = json.loads((Path(cfg.paths.truth) / "meta.json").read_text())
    result["scale"] = meta["scale"]
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    imap, excluded = lake.read("silver.identity_map"), lake.read("silver.identity_excluded")
    if "identity_seconds" in result:
        n_ids = imap.count() + excluded.count()
        result.update(identifiers=n_ids, identity_identifiers_per_s_per_core=n_ids / (result["identity_seconds"] * cores))
    truth = truth_identifiers(spark.read.parquet(f"{cfg.paths.truth}/persons"), key=cfg.pii_key())
    result["quality"] = pairwise_quality(truth, imap, excluded)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"identity_sf{result['scale']:g}"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Identity benchmark, SF {result['scale']:g}", "", f"Machine: {result['machine']}", ""]
    lines += [f"- {k}: {v:,.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in result.items()
              if k not in ("machine", "quality", "benchmark")]
    lines += ["", "| quality | value |", "|---|---|"] + [f"| {k} | {v:,.4f} |" for k, v in result["quality"].items()]
    Path(f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
