"""Throughput of a full build at each scale, every stage next to its limit, and the scaling curve.

    python -m bench.throughput --scales 0.25,1,2 [--work DIR]

Per scale factor, in one warm process: the landing zone is generated into WORK/sf<scale> (reused
when the generator's code and settings are the same: `bench.identity`'s marker), then a fresh lake
is built over all its days, stage by stage through the pipeline's one dispatch (as the CLI runs
them): ingest of the whole range, identity (a rebuild), text, features (a full build), tags, train
(weekly, with `bench.daily`'s cheap settings, outside every total), score, evaluate, marts. Each
stage's seconds, Spark jobs, Delta commits and rows written come from `bench.daily._timed`.

Next to the stages, their limits (BENCHMARKS.md "Throughput" and "The limit ratio"), in the same run:
- ingest: a bare `spark.read` of the same landing files (each source's format and a given schema:
  JSON's declared fields, CSV's header, all strings; no validation) written to a Delta table
  partitioned by landing date (`bench.limits`). It runs once untimed before the build (page cache
  and Delta's write path warm), then `--limit-repeats` times after it: the median is the limit.
  The ingest itself runs once (at SF1 it takes minutes), in a JVM that has only run the warm-up.
- features: `bench.features.limit_query` over the silver tables the build wrote, to the `noop` sink
  (median of `--limit-repeats`).
- identity: identifiers in (the map's and the excluded ones) per second per core of the rebuild.
- score: persons scored per second per core.

The scaling curve is the build's seconds (every stage but train) per million clickstream events
at each scale, and `scaling_spread` the largest over the smallest; the scales run smallest first in
one process, so the first pays the JVM's warm-up. Beside it, the JVM's old generation after its
latest collection, sampled after every stage (its largest): in local mode the driver is the
executor too, so cached blocks count.

Writes bench/results/throughput_sf<scale>.json and .md, named after SF1 when it is among the scales
(the issue's figures are SF1's), else after the largest; the figures at the top level are that
scale's. It measures; it never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.daily import BUILD, TRAIN_OVERRIDES, _stage_calls, _timed
from bench.features import _timed as seconds
from bench.features import limit_query
from bench.identity import _ensure_landing
from bench.limits import bare_read_write, bare_schemas, sampled
from bench.run import machine, workdir_overrides, write_results
from portrait import catalog
from portrait.config import Config, load_config
from portrait.io import Lakehouse
from portrait.spark import get_session

ROOT = Path(__file__).resolve().parents[1]


def _limits(spark: SparkSession, lake: Lakehouse, landing: Path, work: Path, date: dt.date, args, schemas) -> dict:
    """The ingest and features limits, each the median of `--limit-repeats` warm runs."""
    repeats = args.limit_repeats
    bare: list[float] = []
    rows = 0
    for i in range(repeats):
        dest = work / f"bare-{i}"
        t0 = time.perf_counter()
        rows = bare_read_write(spark, landing, dest, schemas)
        bare.append(time.perf_counter() - t0)
        shutil.rmtree(dest, ignore_errors=True)
    features = [
        seconds(lambda: limit_query(lake, date).write.format("noop").mode("overwrite").save()) for _ in range(repeats)
    ]
    return {
        "date": date,
        "ingest_limit_seconds": round(statistics.median(bare), 2),
        "ingest_limit_seconds_all": [round(s, 2) for s in bare],
        "ingest_limit_rows": rows,
        "features_limit_seconds": round(statistics.median(features), 2),
        "features_limit_seconds_all": [round(s, 2) for s in features],
    }


def _one_scale(args, scale: float, date: dt.date) -> dict:
    """The full build at `scale` and its limits (see the module docstring)."""
    root = Path(args.work) / f"sf{scale:g}"
    root.mkdir(parents=True, exist_ok=True)
    lake_dir = Path(tempfile.mkdtemp(prefix=f"portrait-throughput-{scale:g}-", dir=root))
    try:
        cfg: Config = load_config(
            args.conf,
            overrides={
                **workdir_overrides(lake_dir),
                **TRAIN_OVERRIDES,
                "paths.landing": str(root / "landing"),
                "paths.truth": str(root / "truth"),
            },
        )
        spark = get_session(cfg.spark)
        generation = _ensure_landing(spark, cfg, root, scale, date)
        landing = Path(cfg.paths.landing)
        schemas = bare_schemas(spark, landing, list(cfg.ingest.sources))
        bare_read_write(spark, landing, lake_dir / "bare-warmup", schemas)  # untimed: warms both sides
        shutil.rmtree(lake_dir / "bare-warmup", ignore_errors=True)
        lake, heap = Lakehouse(spark, cfg.paths.lakehouse), list[float | None]()
        calls = sampled(spark, _stage_calls(spark, cfg, rebuild=True), heap)
        build = _timed(lake, calls, BUILD, date, date - dt.timedelta(days=cfg.generator.days - 1))
        limits = _limits(spark, lake, landing, lake_dir, date, args, schemas)
        return {
            "scale": scale,
            "days": cfg.generator.days,
            "landing": generation,
            **_figures(lake, build, limits, heap),
        }
    finally:
        shutil.rmtree(lake_dir, ignore_errors=True)


def _figures(lake: Lakehouse, build: dict, limits: dict, heap: list) -> dict:
    """Rows in and out of the build, its seconds per million events and each stage against its limit."""
    spark, date = lake.spark, limits["date"]
    cores = int(spark.sparkContext.defaultParallelism)
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT).groupBy("source").agg(F.sum("rows_read").alias("n")).collect()
    raw = {r["source"]: int(r["n"]) for r in audit}  # a row per source
    identifiers = lake.read(catalog.SILVER_IDENTITY_MAP).count() + lake.read(catalog.SILVER_IDENTITY_EXCLUDED).count()
    persons = lake.read(catalog.GOLD_PROPENSITY_DAILY).where(F.col("date") == F.lit(date)).count()
    stages = build["stages"]
    build_s = sum(s["seconds"] for n, s in stages.items() if n != "train")
    events = raw.get("clickstream", 0)
    took = {n: stages[n]["seconds"] for n in ("ingest", "identity", "features", "score")}
    kept = [h for h in heap if h is not None]
    return {
        "cores": cores,
        "raw_rows": raw,
        "clickstream_events": events,
        "identifiers": identifiers,
        "persons_scored": persons,
        "stages": stages,
        "build_seconds": round(build_s, 2),
        "seconds_per_million_events": round(build_s / (events / 1e6), 2) if events else None,
        "jvm_old_gen_after_gc_max_mb": max(kept) if kept else None,
        **{k: v for k, v in limits.items() if k != "date"},
        "limit_rows_equal_ingest_rows": limits["ingest_limit_rows"] == sum(raw.values()),
        "ingest_limit_ratio": round(took["ingest"] / limits["ingest_limit_seconds"], 2),
        "ingest_rows_per_s_per_core": round(sum(raw.values()) / (took["ingest"] * cores), 1),
        "ingest_limit_rows_per_s_per_core": round(
            limits["ingest_limit_rows"] / (limits["ingest_limit_seconds"] * cores), 1
        ),
        "identity_ids_per_s_per_core": round(identifiers / (took["identity"] * cores), 1),
        "features_limit_ratio": round(took["features"] / limits["features_limit_seconds"], 2),
        "scoring_persons_per_s_per_core": round(persons / (took["score"] * cores), 1),
    }


TOP = (
    "ingest_limit_ratio",
    "identity_ids_per_s_per_core",
    "features_limit_ratio",
    "scoring_persons_per_s_per_core",
)


def _markdown(result: dict) -> list[str]:
    scales = ", ".join(f"{r['scale']:g}" for r in result["runs"])
    lines = [
        f"# Throughput and scaling, SF {scales}",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {k} | {result[k]} |" for k in (*TOP, "scaling_spread", "scale")],
        "",
        "| SF | events | build s | s per M events | ingest s | ingest limit s | ingest ratio | identity ids/s/core "
        "| features s | features limit s | score persons/s/core | JVM old gen after GC, max MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        s = r["stages"]
        lines.append(
            f"| {r['scale']:g} | {r['clickstream_events']:,} | {r['build_seconds']} | {r['seconds_per_million_events']} "
            f"| {s['ingest']['seconds']} | {r['ingest_limit_seconds']} | {r['ingest_limit_ratio']} "
            f"| {r['identity_ids_per_s_per_core']:,} | {s['features']['seconds']} | {r['features_limit_seconds']} "
            f"| {r['scoring_persons_per_s_per_core']:,} | {r['jvm_old_gen_after_gc_max_mb']} |"
        )
    lines += ["", "| SF | stage | seconds | Spark jobs | Delta commits | rows written |", "|---|---|---|---|---|---|"]
    for r in result["runs"]:
        for name, s in r["stages"].items():
            lines.append(
                f"| {r['scale']:g} | {name} | {s['seconds']} | {s['jobs']} | {s['commits']} | {s['rows_written']} |"
            )
    lines += ["", result["note"], "", f"Machine: {result['machine']}"]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", default="0.25,1,2", help="scale factors, comma-separated")
    p.add_argument("--date", default="2026-11-01")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "portrait-throughput"))
    p.add_argument("--limit-repeats", type=int, default=3, choices=range(1, 10), help="timed runs of each limit")
    args = p.parse_args(argv)
    date = dt.date.fromisoformat(args.date)
    scales = sorted(float(s) for s in args.scales.split(","))
    runs = [_one_scale(args, s, date) for s in scales]
    main_run = next((r for r in runs if r["scale"] == 1.0), runs[-1])
    per_event = [r["seconds_per_million_events"] for r in runs if r["seconds_per_million_events"]]
    result = {
        **{k: main_run[k] for k in TOP},
        "scaling_spread": round(max(per_event) / min(per_event), 3) if len(per_event) > 1 else None,
        "scale": main_run["scale"],
        "date": args.date,
        "runs": runs,
        "note": (
            "Build = every stage of the daily chain over all days on a fresh lake (identity rebuild, features "
            "full), train outside the totals with bench.daily's cheap settings. Limits median of "
            f"{args.limit_repeats} warm runs after the build; the build's stages ran once each."
        ),
        "machine": machine(SparkSession.getActiveSession()),
    }
    write_results(f"throughput_sf{main_run['scale']:g}", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
