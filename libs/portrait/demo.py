"""`portrait demo`: the whole pipeline end to end on the embedded default, then the story of it.

Generates a synthetic landing zone if the one on disk is not for this scale, seed and date, runs
the stages in `pipeline.demo_order()` (the daily chain, with the example audience and the weekly
training before the first score) in one Spark session, times each stage, and tells what was built:
the tables with their row counts, the champion models with their metrics, the biggest tags and the
example audience, the churn risk and the next actions with a few of their rows.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from portrait import catalog, pipeline, scoring
from portrait.config import Config
from portrait.exits import ExitCode
from portrait.io import Lakehouse

DEMO_AUDIENCE = "demo_tier1_sneaker_frequent"
DEMO_AUDIENCE_WHERE = "city_tier = 1 and sneaker_lover and frequent_buyer"


def _landing_is_current(cfg: Config, scale: float, seed: int, date: dt.date) -> bool:
    meta = Path(cfg.paths.truth) / "meta.json"
    if "://" in cfg.paths.truth or not meta.exists():
        return False
    m = json.loads(meta.read_text())
    return (
        float(m.get("scale", -1)) == scale
        and int(m.get("seed", -1)) == seed
        and str(m.get("end_date")) == date.isoformat()
        and int(m.get("days", -1)) == cfg.generator.days
    )


def _options(stage: str, cfg: Config, date: dt.date) -> dict[str, Any]:
    """The demo's options for a stage: ingest takes the whole generated window."""
    if stage == "ingest":
        return {"start": date - dt.timedelta(days=cfg.generator.days - 1)}
    if stage == "audience":
        return {"name": DEMO_AUDIENCE, "where": DEMO_AUDIENCE_WHERE}
    return {}


def run(spark: SparkSession, cfg: Config, date: dt.date, *, scale: float | None = None, seed: int | None = None) -> int:
    """Run every stage on a fresh demo lakehouse, print what was built; returns `ExitCode.OK`."""
    scale = scale or cfg.generator.scale
    seed = seed if seed is not None else cfg.generator.seed
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def stage(name: str, /, **options: Any) -> None:  # positional: audience takes a `name` option
        started = time.perf_counter()
        results[name] = pipeline.run_stage(name, spark, cfg, date, **options)
        timings[name] = time.perf_counter() - started
        print(f"   {name:<9} {timings[name]:7.1f} s  {pipeline.short(results[name])}", flush=True)

    print(f"Portrait demo: a synthetic business at scale {scale} (seed {seed}), as of {date}.\n")
    print(f"1. The pipeline ran, stage by stage ({' -> '.join(pipeline.demo_order())}):")
    _fresh_lakehouse(cfg)
    if _landing_is_current(cfg, scale, seed, date):
        print(f"   generate  (reusing the landing zone in {cfg.paths.landing})")
    else:
        stage("generate", scale=scale, seed=seed)
    for name in pipeline.demo_order():
        stage(name, **_options(name, cfg, date))
    total = sum(v for k, v in timings.items() if k != "generate")
    print(f"   {total:.1f} s in all after generation.\n")
    _story(Lakehouse(spark, cfg.paths.lakehouse), cfg, date, results["train"])
    return ExitCode.OK


def _fresh_lakehouse(cfg: Config) -> None:
    """The demo rebuilds its (local) lakehouse from the landing zone on every run, so a lake left by
    an older version, with other table schemas, never gets in the way. A production lake is never
    removed: `Lakehouse` refuses a silent schema change there. The MLflow store is kept, so model
    versions accumulate across demo runs like they would in production."""
    root = Path(cfg.paths.lakehouse)
    if "://" in cfg.paths.lakehouse or not root.exists():
        return
    print(f"   (the demo lakehouse is rebuilt: {root} removed first)")
    shutil.rmtree(root)


def _story(lake: Lakehouse, cfg: Config, date: dt.date, models: dict) -> None:
    _tables(lake)
    _models(cfg, models)
    _tags_and_audience(lake, cfg, date)
    _actions(lake, cfg, date)


def _tables(lake: Lakehouse) -> None:
    present = [table for table in catalog.ALL if lake.exists(table)]
    print(
        f"2. The lakehouse {lake.root} now holds {len(present)} Delta tables (readable by Spark or any "
        "Delta reader such as `deltalake`); the published ones are what downstream systems read:"
    )
    for table in present:
        marker = "  published" if table.published else ""
        print(f"   {table.full_name:<26} {lake.read(table).count():>10,} rows  {lake.path(table)}{marker}")


def _models(cfg: Config, models: dict) -> None:
    p, c, s = models["propensity"], models["churn"], models["segments"]
    print(
        f"\n3. The models were trained and tracked in MLflow ({cfg.mlflow.tracking_uri}); "
        "the gate decided whether each became the 'champion' that scores:"
    )
    print(
        f"   who will buy:   {cfg.train.propensity_model} v{p['version']}: test AUC {p['test_auc']:.3f}, "
        f"PR-AUC {p['test_pr_auc']:.3f}, Brier {p['test_brier']:.4f}, base rate {p['test_base_rate']:.3f}, "
        f"ECE {p['test_ece']:.3f}; gate: {p['decision']}"
    )
    print(
        f"   who will leave: {cfg.train.churn_model} v{c['version']}: test AUC {c['test_auc']:.3f}, "
        f"PR-AUC {c['test_pr_auc']:.3f}, Brier {c['test_brier']:.4f}, ECE {c['test_ece']:.3f}, "
        f"base rate {c['test_base_rate']:.3f}; gate: {c['decision']}"
    )
    print(
        f"   who is alike:   {cfg.train.segment_model} v{s['version']}: k={int(s['k'])}, "
        f"silhouette {s['silhouette']:.3f}, segments {sorted(s['names'].values())}"
    )
    r = models.get("recommender")
    if r:
        k = cfg.train.recommender.k
        print(
            f"   what to offer:  {cfg.train.recommender.model_name} v{r['version']} (ALS): {r['decision']}; "
            f"recall@{k} {r[f'als_recall_at_{k}']:.3f} vs popularity {r[f'popularity_recall_at_{k}']:.3f}"
        )


def _tags_and_audience(lake: Lakehouse, cfg: Config, date: dt.date) -> None:
    tag_rows = lake.read(catalog.GOLD_TAGS).where(F.col("as_of_date") == F.lit(date))
    print(f"\n4. Every person was tagged (catalog {cfg.tags.file}); the 5 biggest tags of {date} in gold.tags:")
    for r in tag_rows.groupBy("tag").count().orderBy(F.col("count").desc(), "tag").limit(5).collect():
        print(f"   {r['tag']:<24} {r['count']:>8,}")
    size = (
        lake.read(catalog.GOLD_AUDIENCES)
        .where((F.col("date") == F.lit(date)) & (F.col("name") == DEMO_AUDIENCE))
        .count()
    )
    print(
        f"   and tags make audiences: {DEMO_AUDIENCE} ({DEMO_AUDIENCE_WHERE}) has {size:,} persons in gold.audiences."
    )


def _actions(lake: Lakehouse, cfg: Config, date: dt.date) -> None:
    churn = (
        lake.read(catalog.GOLD_PROPENSITY_DAILY)
        .where(F.col("date") == F.lit(date))
        .agg(F.count("churn_propensity").alias("n"), F.avg("churn_propensity").alias("mean"))
        .first()
    )
    print(f"\n5. Each person was scored for {date} (gold.propensity_daily).")
    if churn["n"]:
        print(
            f"   Churn risk of the {churn['n']:,} persons active in the last {cfg.train.churn_lookback_days} "
            f"days: mean {churn['mean']:.3f}"
        )
    print(f"\n6. And each got a next best action (policy {cfg.score.policy_file}):")
    print(scoring.summary(lake, date))
