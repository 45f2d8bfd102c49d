"""Pipeline benchmark: time of each stage at a scale factor, and throughput per core.

    python -m bench.run --scale 0.05 --repeats 3        (or `make bench`)

Generates the landing zone once, then runs ingest -> identity -> features -> train -> score
`repeats` times in one warm session and reports the median of each stage, with throughput as
BENCHMARKS.md defines it: rows / (wall seconds x cores) for ingest (raw rows in), identity
(identifiers in) and scoring (persons out). Writes bench/results/pipeline_sf<scale>.json and .md
and prints the summary. It measures; it never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

from pyspark.sql import functions as F

from portrait import catalog, features, generator, identity, ingest, text, train
from portrait.config import load_config
from portrait.io import Lakehouse
from portrait.pipeline import run_stage
from portrait.spark import get_session, set_checkpoint_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def write_results(name: str, result: dict, lines: list[str]) -> None:
    """bench/results/<name>.json (the figures) and .md (`lines`), then print the Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def workdir_overrides(work: Path) -> dict[str, str]:
    """The conf overrides that point a run at a bench workdir: lake, landing zone, truth, MLflow store."""
    return {
        "paths.lakehouse": str(work / "lakehouse"),
        "paths.landing": str(work / "landing"),
        "paths.truth": str(work / "truth"),
        "mlflow.tracking_uri": f"sqlite:///{work / 'mlflow.db'}",
        "mlflow.artifact_root": str(work / "mlflow-artifacts"),
    }


def machine(spark) -> dict:
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("pyspark", "delta-spark", "mlflow", "hyperopt")},
        "spark_master": spark.sparkContext.master,
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "adaptive": spark.conf.get("spark.sql.adaptive.enabled"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--date", default="2026-11-01")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    args = p.parse_args(argv)
    date = dt.date.fromisoformat(args.date)
    work = Path(tempfile.mkdtemp(prefix="portrait-bench-"))
    cfg = load_config(args.conf, overrides=workdir_overrides(work))
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)
    started = time.perf_counter()
    generated = generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=args.scale,
        seed=cfg.generator.seed,
        end_date=date,
        days=cfg.generator.days,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=cfg.generator.dirty_fraction,
    )
    generate_s = time.perf_counter() - started
    start = date - dt.timedelta(days=cfg.generator.days - 1)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    set_checkpoint_dir(spark, cfg.spark.checkpoint_dir, cfg.paths.lakehouse)  # as `pipeline.run_stage` does
    stages = {
        "ingest": lambda: ingest.run(lake, ingest.RunConf.of(cfg), date, start=start),
        "identity": lambda: identity.run(lake, identity.RunConf.of(cfg), date),
        "text": lambda: text.run(lake, text.RunConf.of(cfg), date),
        "features": lambda: features.run(lake, cfg.features, date),
        "train": lambda: train.run(lake, train.RunConf.of(cfg), date),
        "score": lambda: run_stage("score", spark, cfg, date),
    }
    times: dict[str, list[float]] = {k: [] for k in stages}
    outputs: dict = {}
    for _ in range(args.repeats):
        for name, fn in stages.items():
            t0 = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    raw_rows = sum(c["rows_read"] for c in outputs["ingest"].values())
    identifiers = lake.read(catalog.SILVER_IDENTITY_MAP).count() + lake.read(catalog.SILVER_IDENTITY_EXCLUDED).count()
    persons = lake.read(catalog.GOLD_PROPENSITY_DAILY).where(F.col("date") == F.lit(date)).count()
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "pipeline",
        "scale": args.scale,
        "repeats": args.repeats,
        "date": args.date,
        "machine": machine(spark),
        "generate_seconds": generate_s,
        "generated_rows": generated,
        "stage_seconds_median": median,
        "stage_seconds_all": times,
        "pipeline_seconds_median": sum(median.values()),
        "throughput_rows_per_s_per_core": {
            "ingest": raw_rows / (median["ingest"] * cores),
            "identity": identifiers / (median["identity"] * cores),
            "score": persons / (median["score"] * cores),
        },
        "rows": {"raw_rows_in": raw_rows, "identifiers": identifiers, "persons_scored": persons},
        "propensity_test_auc": outputs["train"]["propensity"]["test_auc"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"pipeline_sf{args.scale:g}"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Pipeline benchmark, SF {args.scale:g}",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Generation: {generate_s:.1f} s; rows {generated}",
        "",
        "| stage | median s | all runs (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {median[k]:.1f} | {', '.join(f'{x:.1f}' for x in times[k])} |" for k in stages]
    lines += [
        "",
        f"Pipeline (median sum): {result['pipeline_seconds_median']:.1f} s",
        "",
        "| throughput | rows/s/core |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:,.0f} |" for k, v in result["throughput_rows_per_s_per_core"].items()]
    Path(f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
