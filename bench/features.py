"""Feature stage: full build vs the limit query (BENCHMARKS.md), and an incremental day vs a full rebuild.

    python -m bench.features --conf conf/local.yaml                 # the demo lake (`make demo`), copied
    python -m bench.features --scale 1 --workdir /work/bench-sf1    # generate, ingest, resolve there first

The silver tables of the configured lake are copied into a work folder (the demo lake is never
written); with `--scale` the landing zone is generated, ingested and resolved there instead (the
landing zone is reused as in `bench.identity`). The state of D-1 is built once; then, alternated,
`--repeats` warm runs (after one warm-up) of:

- full stage: `features.run(..., full=True)` for D over all history (daily activity, state
  and portrait written to Delta), and its compute alone (portrait from silver to `noop`);
- limit query: one scan of every table and column the stage reads, same date range, one
  `groupBy(person_id)` with `count(*)` and one sum (max for non-numbers) per column, to `noop`;
- incremental day: `features.run` for D from the state of D-1.

Writes bench/results/features_sf<scale>.json and .md (medians, limit ratio, incremental ratio,
shuffles in each plan) and prints the summary. It measures; it never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bench.run import RESULTS, ROOT, machine, workdir_overrides
from portrait import catalog, features
from portrait.config import load_config
from portrait.features.run import _redo
from portrait.io import Lakehouse
from portrait.spark import get_session, set_checkpoint_dir

SILVER = ("events", "orders", "social", "customers", "social_signals", "identity_history")
# Columns of each table the feature stage reads (features.daily, features.portrait), the limit query reads them too.
USED = {
    catalog.SILVER_EVENTS: (
        "person_id",
        "session_id",
        "event_type",
        "ts",
        "category",
        "device_type",
        "channel",
        "dwell_ms",
        "date",
    ),
    catalog.SILVER_ORDERS: (
        "person_id",
        "order_id",
        "order_ts",
        "status",
        "quantity",
        "unit_price",
        "discount_amount",
        "coupon_code",
        "category",
        "date",
    ),
    catalog.SILVER_SOCIAL: ("person_id", "post_id", "post_type", "rating", "likes", "shares", "ts", "date"),
    catalog.SILVER_SOCIAL_SIGNALS: ("person_id", "post_id", "sentiment", "sentiment_score", "topic"),
    catalog.SILVER_CUSTOMERS: (
        "person_id",
        "account_id",
        "gender",
        "birth_year",
        "city_tier",
        "signup_date",
        "consent_sms",
        "consent_email",
        "consent_push",
        "consent_wechat",
        "consent_updated_at",
    ),
}
TS = {catalog.SILVER_EVENTS: "ts", catalog.SILVER_ORDERS: "order_ts", catalog.SILVER_SOCIAL: "ts"}
HISTORY = (
    "as_of_date date, change string, person_id string, related_person_ids array<string>, "
    "identifiers_added long, identifiers_removed long"
)


def limit_query(lake: Lakehouse, date: dt.date) -> DataFrame:
    """The least work any per-person computation over the stage's input must do (BENCHMARKS.md)."""
    parts, aggs = [], [F.count("*").alias("rows")]
    names = [f"{t.name}__{c}" for t, cols in USED.items() if lake.exists(t) for c in cols if c != "person_id"]
    for table, cols in USED.items():
        if not lake.exists(table):
            continue
        df = lake.read(table)
        if table in TS:  # the stage's date range: landed by D, timestamp by the end of D
            df = df.where((F.col("date") <= F.lit(date)) & (F.to_date(TS[table]) <= F.lit(date)))
        prefix = table.name
        own = {f"{prefix}__{c}": F.col(c) for c in cols if c != "person_id"}
        types = {f"{prefix}__{c}": df.schema[c].dataType for c in cols if c != "person_id"}
        parts.append(
            (df.select("person_id", *[own[n].alias(n) if n in own else F.lit(None).alias(n) for n in names]), types)
        )
    typed = {}
    for _, types in parts:
        typed.update(types)
    aligned = [df.select("person_id", *[F.col(n).cast(typed[n]).alias(n) for n in names]) for df, _ in parts]
    stacked = aligned[0]
    for df in aligned[1:]:
        stacked = stacked.unionByName(df)
    numeric = (T.NumericType, T.BooleanType)
    for n in names:
        dtype = typed[n]
        if isinstance(dtype, T.BooleanType):
            aggs.append(F.sum(F.col(n).cast("int")).alias(n))
        elif isinstance(dtype, numeric):
            aggs.append(F.sum(n).alias(n))
        else:
            aggs.append(F.max(n).alias(n))
    return stacked.groupBy("person_id").agg(*aggs)


def _shuffles(df: DataFrame) -> int:
    plan = df._jdf.queryExecution().executedPlan().toString()
    return plan.count("Exchange hashpartitioning") + plan.count("Exchange rangepartitioning")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _prepare(args, cfg_path: str) -> tuple:
    """A work lake with the silver tables (copied or generated) and its config."""
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="portrait-bench-features-"))
    work.mkdir(parents=True, exist_ok=True)
    source_cfg = load_config(cfg_path)
    cfg = load_config(cfg_path, overrides=workdir_overrides(work))
    spark = get_session(cfg.spark)
    if args.scale is None:
        shutil.rmtree(work / "lakehouse", ignore_errors=True)
        for table in SILVER:
            src = Path(source_cfg.paths.lakehouse) / "silver" / table
            if src.exists():
                shutil.copytree(src, work / "lakehouse" / "silver" / table)
        origin = f"silver tables copied from {source_cfg.paths.lakehouse}"
    else:
        from bench.identity import _ensure_landing
        from portrait import identity, ingest

        date = dt.date.fromisoformat(args.date)
        _ensure_landing(spark, cfg, work, args.scale, date)
        shutil.rmtree(cfg.paths.lakehouse, ignore_errors=True)
        lake = Lakehouse(spark, cfg.paths.lakehouse)
        ingest.run(lake, ingest.RunConf.of(cfg), date, start=date - dt.timedelta(days=cfg.generator.days - 1))
        set_checkpoint_dir(spark, cfg.spark.checkpoint_dir, cfg.paths.lakehouse)  # as `pipeline.run_stage` does
        identity.run(lake, identity.RunConf.of(cfg), date)
        origin = f"generated at SF {args.scale:g} in {work}"
    return work, cfg, spark, origin


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--date", default="2026-11-01", help="the as-of date D (the last day of data)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scale", type=float, help="generate this scale factor instead of copying the configured lake")
    p.add_argument("--workdir", help="folder for the work lake (default: a temp folder)")
    args = p.parse_args(argv)
    date = dt.date.fromisoformat(args.date)
    work, cfg, spark, origin = _prepare(args, args.conf)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    notes = [origin]
    if not lake.exists(catalog.SILVER_IDENTITY_HISTORY):
        empty = spark.createDataFrame([], HISTORY)
        lake.replace_range(empty, catalog.SILVER_IDENTITY_HISTORY, start=date)
        notes.append(
            "silver.identity_history missing (lake predates it): written empty, so no person is "
            "recomputed for identity changes"
        )
    events = lake.read(catalog.SILVER_EVENTS).where(F.col("date") <= F.lit(date)).count()
    scale = args.scale if args.scale is not None else round(events / 1e7, 2)

    features.run(lake, cfg.features, date - dt.timedelta(days=1), full=True)  # the state of D-1
    redo = _redo(lake, date).count()

    def full_compute() -> None:
        daily = features.daily_from_silver(lake, cfg.features, upto=date, landed_by=date)
        features.portraits(lake, cfg.features, [date], daily=daily).write.format("noop").mode("overwrite").save()

    steps = {
        "full_stage": lambda: features.run(lake, cfg.features, date, full=True),
        "full_compute": full_compute,
        "limit_query": lambda: limit_query(lake, date).write.format("noop").mode("overwrite").save(),
        "incremental_day": lambda: features.run(lake, cfg.features, date),
    }
    times: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(args.repeats + 1):  # alternated; the first round warms up
        for name, fn in steps.items():
            seconds = _timed(fn)
            if i:
                times[name].append(seconds)
    mode = features.run(lake, cfg.features, date)["mode"]
    med = {k: statistics.median(v) for k, v in times.items()}
    compute = features.portraits(
        lake, cfg.features, [date], daily=features.daily_from_silver(lake, cfg.features, upto=date, landed_by=date)
    )
    result = {
        "benchmark": "features",
        "scale": scale,
        "date": args.date,
        "machine": machine(spark),
        "events": events,
        "persons": lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == date).count(),
        "persons_recomputed_on_d": redo,
        "incremental_mode": mode,
        "notes": notes,
        "seconds_median": med,
        "seconds_all": times,
        "limit_ratio_stage": med["full_stage"] / med["limit_query"],
        "limit_ratio_compute": med["full_compute"] / med["limit_query"],
        "incremental_ratio": med["incremental_day"] / med["full_stage"],
        "shuffles": {"full_compute": _shuffles(compute), "limit_query": _shuffles(limit_query(lake, date))},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"features_sf{scale:g}"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    m = result["machine"]
    lines = [
        f"# Feature stage benchmark, SF {scale:g}",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB; Spark {m['versions']['pyspark']}, Delta "
        f"{m['versions']['delta-spark']}; master {m['spark_master']}, shuffle partitions {m['shuffle_partitions']}, "
        f"AQE {m['adaptive']}.",
        "",
        f"As of {args.date}: {events:,} events, {result['persons']:,} portrait rows; "
        f"{redo} persons recomputed from silver on the incremental day. " + " ".join(notes) + ".",
        "",
        f"Median of {args.repeats} warm alternated runs:",
        "",
        "| step | median s | runs | shuffles |",
        "|---|---|---|---|",
    ]
    shuffles = result["shuffles"]
    lines += [
        f"| {k} | {med[k]:.2f} | {', '.join(f'{x:.2f}' for x in times[k])} | {shuffles.get(k, '')} |" for k in steps
    ]
    lines += [
        "",
        f"- limit ratio, full stage (with Delta writes) / limit query: **{result['limit_ratio_stage']:.2f}** "
        "(goal <= 3)",
        f"- limit ratio, full compute (to noop) / limit query: **{result['limit_ratio_compute']:.2f}**",
        f"- incremental ratio, incremental day / full stage: **{result['incremental_ratio']:.3f}** (goal <= 0.15)",
    ]
    Path(f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
