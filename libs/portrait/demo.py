"""`portrait demo`: the whole pipeline end to end on the embedded default, then a summary.

Generates a synthetic landing zone if the one on disk is not for this scale, seed and date, runs
ingest (the whole window) -> identity -> text -> features -> tags -> audience -> train -> score in
one Spark session, times each stage, and prints the tables with their row counts, the 5 biggest
tags and the example audience, the champion models with their metrics and a few rows of the
next-action table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from portrait import audience, features, identity, ingest, scoring, text, train
from portrait import tags as tag_stage
from portrait.config import Config
from portrait.io import Lakehouse
from portrait import catalog


DEMO_AUDIENCE = "demo_tier1_sneaker_frequent"
DEMO_AUDIENCE_WHERE = "city_tier = 1 and sneaker_lover and frequent_buyer"


def _landing_is_current(cfg: Config, scale: float, seed: int, date: dt.date) -> bool:
    meta = Path(cfg.paths.truth) / "meta.json"
    if "://" in cfg.paths.truth or not meta.exists():
        return False
    m = json.loads(meta.read_text())
    return (float(m.get("scale", -1)) == scale and int(m.get("seed", -1)) == seed
            and str(m.get("end_date")) == date.isoformat() and int(m.get("days", -1)) == cfg.generator.days)


def run(spark: SparkSession, cfg: Config, args: argparse.Namespace) -> int:
    date = args.date
    scale = args.scale or cfg.generator.scale
    seed = args.seed if args.seed is not None else cfg.generator.seed
    timings: dict[str, float] = {}

    def stage(name: str, fn):
        started = time.perf_counter()
        result = fn()
        timings[name] = time.perf_counter() - started
        print(f"  {name:<9} {timings[name]:7.1f} s  {_short(result)}", flush=True)
        return result

    print(f"Portrait demo: scale {scale}, seed {seed}, date {date}, lakehouse {cfg.paths.lakehouse}")
    _fresh_lakehouse(cfg)
    if _landing_is_current(cfg, scale, seed, date):
        print(f"  generate  (reusing the landing zone in {cfg.paths.landing})")
    else:
        from portrait import generator

        stage("generate", lambda: generator.generate(
            spark, landing=cfg.paths.landing, truth=cfg.paths.truth, scale=scale, seed=seed, end_date=date,
            days=cfg.generator.days, horizon_days=cfg.train.horizon_days, dirty_fraction=cfg.generator.dirty_fraction))
    start = date - dt.timedelta(days=cfg.generator.days - 1)
    stage("ingest", lambda: ingest.run(Lakehouse(spark, cfg.paths.lakehouse), cfg.ingest, date, landing=cfg.paths.landing,
                                         pii_key=cfg.pii_key(), start=start))
    stage("identity", lambda: identity.run(spark, cfg, date))
    stage("text", lambda: text.run(spark, cfg, date))
    stage("features", lambda: features.run(spark, cfg, date))
    stage("tags", lambda: tag_stage.run(spark, cfg, date))
    stage("audience", lambda: audience.run(spark, cfg, date, name=DEMO_AUDIENCE, where=DEMO_AUDIENCE_WHERE))
    models = stage("train", lambda: train.run(spark, cfg, date))
    stage("score", lambda: scoring.run(spark, cfg, date))
    pipeline = sum(v for k, v in timings.items() if k != "generate")
    print(f"  pipeline total (after generation): {pipeline:.1f} s\n")
    _summary(Lakehouse(spark, cfg.paths.lakehouse), cfg, date, models)
    return 0


def _fresh_lakehouse(cfg: Config) -> None:
    """The demo rebuilds its (local) lakehouse from the landing zone on every run, so a lake left by
    an older version, with other table schemas, never gets in the way. A production lake is never
    removed: `Lakehouse` refuses a silent schema change there. The MLflow store is kept, so model
    versions accumulate across demo runs like they would in production."""
    root = Path(cfg.paths.lakehouse)
    if "://" in cfg.paths.lakehouse or not root.exists():
        return
    print(f"  (rebuilding the demo lakehouse: removing {root})")
    shutil.rmtree(root)


def _short(result) -> str:
    shown = json.dumps(result, default=str)
    return shown if len(shown) <= 160 else shown[:157] + "..."


def _summary(lake: Lakehouse, cfg: Config, date: dt.date, models: dict) -> None:
    print("Tables (Delta, readable by Spark or any Delta reader such as `deltalake`):")
    for table in catalog.ALL:
        if lake.exists(table):
            marker = "  published" if table.published else ""
            print(f"  {table.full_name:<26} {lake.read(table).count():>10,} rows  {lake.path(table)}{marker}")
    p = models["propensity"]
    s = models["segments"]
    print(f"\nModels (MLflow {cfg.mlflow.tracking_uri}, alias 'champion'):")
    print(f"  {cfg.train.propensity_model} v{p['version']}: test AUC {p['test_auc']:.3f}, "
          f"PR-AUC {p['test_pr_auc']:.3f}, Brier {p['test_brier']:.4f}, base rate {p['test_base_rate']:.3f}, "
          f"ECE {p['test_ece']:.3f}, {p['decision']}")
    c = models["churn"]
    print(f"  {cfg.train.churn_model} v{c['version']}: test AUC {c['test_auc']:.3f}, PR-AUC {c['test_pr_auc']:.3f}, "
          f"Brier {c['test_brier']:.4f}, ECE {c['test_ece']:.3f}, base rate {c['test_base_rate']:.3f}, {c['decision']}")
    print(f"  {cfg.train.segment_model} v{s['version']}: k={int(s['k'])}, silhouette {s['silhouette']:.3f}, "
          f"segments {sorted(s['names'].values())}")
    tag_rows = lake.read(catalog.GOLD_TAGS).where(F.col("as_of_date") == F.lit(date))
    print(f"\nThe 5 biggest tags of {date} (gold.tags, catalog {cfg.tags.file}):")
    for r in tag_rows.groupBy("tag").count().orderBy(F.col("count").desc(), "tag").limit(5).collect():
        print(f"  {r['tag']:<24} {r['count']:>8,}")
    size = lake.read(catalog.GOLD_AUDIENCES).where((F.col("date") == F.lit(date)) & (F.col("name") == DEMO_AUDIENCE)).count()
    print(f"Audience {DEMO_AUDIENCE} ({DEMO_AUDIENCE_WHERE}): {size:,} persons in gold.audiences")
    churn = (lake.read(catalog.GOLD_PROPENSITY_DAILY).where(F.col("date") == F.lit(date))
             .agg(F.count("churn_propensity").alias("n"), F.avg("churn_propensity").alias("mean")).first())
    if churn["n"]:
        print(f"\nChurn propensity (gold.propensity_daily) for the {churn['n']:,} persons active in the last "
              f"{cfg.train.churn_lookback_days} days: mean {churn['mean']:.3f}")
    actions = lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY).where(F.col("date") == F.lit(date))
    print(f"\nNext actions for {date} by action:")
    for r in actions.groupBy("action").count().orderBy(F.col("count").desc()).collect():
        print(f"  {r['action']:<24} {r['count']:>8,}")
    print("\nA few rows of gold.next_actions_daily:")
    actions.where(F.col("action") != "none").select(
        "person_id", "segment_name", F.round("purchase_propensity", 3).alias("propensity"), "action", "channel",
        "reason", "holdout").orderBy("person_id").show(5, truncate=False)
