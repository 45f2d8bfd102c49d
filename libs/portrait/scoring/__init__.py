"""Score: the champion models applied to the portrait of date D -> the three published tables.

Purchase propensity for everyone, churn propensity for the persons active in the churn lookback
(the churn label's population), segments, and the next best action from the policy.

Everything is computed once and kept, then the three tables are written, each in one Delta
commit replacing date D: a rerun gives the same rows, and a reader sees a date whole or not at all.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import actions, registry
from portrait.config import Config
from portrait.io import Lakehouse
from portrait.models.clv import clv_columns
from portrait.models.evaluation import model_probability
from portrait.models import segmentation
from portrait.models.propensity import person_bucket
from portrait import catalog

log = logging.getLogger(__name__)


def decile(df: DataFrame, column: str) -> Column:
    """1 for the top 10 % of `column`, 10 for the lowest, from approximate quantiles.

    A window over the whole date would put every person in one partition; nine thresholds from
    `percentile_approx` (one distributed aggregate, nine numbers on the driver) do not.
    """
    cuts = df.agg(F.percentile_approx(column, [i / 10 for i in range(1, 10)], 10000).alias("q")).first()["q"] or []
    above = sum((F.col(column) > F.lit(c)).cast("int") for c in cuts) if cuts else F.lit(0)
    return (F.lit(10) - above).cast("int")


def _record_segment_movement(lake: Lakehouse, date: dt.date) -> dict[str, float]:
    """Compare the segments of `date` with the latest earlier date (D-1 when scoring is daily) and
    replace `date` in gold.segment_movement; nothing to record before the first scored date."""
    segments = lake.read(catalog.GOLD_SEGMENTS_DAILY)
    previous_date = segments.where(F.col("date") < F.lit(date)).agg(F.max("date")).first()[0]
    if previous_date is None:
        return {}
    on = lambda d: segments.where(F.col("date") == F.lit(d))  # noqa: E731 - one date of the table
    movement = segmentation.segment_movement(on(date), on(previous_date), date=date, previous_date=previous_date)
    lake.replace_range(movement, catalog.GOLD_SEGMENT_MOVEMENT, start=date)
    row = lake.read(catalog.GOLD_SEGMENT_MOVEMENT).where(F.col("date") == F.lit(date)).first()
    log.info("segments %s vs %s: %d of %d persons moved", date, previous_date, row["persons_moved"], row["persons_compared"])
    return {"segment_share_moved": row["share_moved"]}


def churn_population(lookback_days: int) -> Column:
    """Persons with a visit or a completed order in the `lookback_days` up to the as-of date: the
    population the churn label is defined on (`models.labels.with_churn_label`)."""
    never = F.lit(lookback_days)
    return F.least(F.coalesce(F.col("days_since_last_visit"), never),
                   F.coalesce(F.col("days_since_last_order"), never)) < never


def _with_churn(scored: DataFrame, cfg: Config) -> DataFrame:
    """`scored` with `churn_propensity` (null outside the churn population) and `churn_model_version`.

    Without a churn champion (the first one failed its floors) both are null and a warning says
    why: purchase propensities and actions do not wait for the churn model.
    """
    try:
        model, version, _ = registry.load_champion(cfg.train.churn_model)
    except LookupError as exc:
        log.warning("churn_propensity left null: %s", exc)
        return scored.withColumns({"churn_propensity": F.lit(None).cast("double"),
                                   "churn_model_version": F.lit(None).cast("string")})
    out = model.transform(scored)
    active = churn_population(cfg.train.churn_lookback_days)
    return out.select(*scored.columns, F.when(active, model_probability(out)).alias("churn_propensity"),
                      F.lit(version).alias("churn_model_version"))


def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, int]:
    """Publish segments, propensities and next actions for `date`."""
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    registry.configure(cfg.mlflow)
    policy = actions.load_policy(cfg.conf_dir / cfg.score.policy_file)
    prop_model, prop_version, _ = registry.load_champion(cfg.train.propensity_model)
    seg_model, seg_version, seg_tags = registry.load_champion(cfg.train.segment_model)
    names = {int(k): v for k, v in json.loads(seg_tags["segment_names"]).items()}  # segment id -> name
    name_of = F.create_map(*[x for k, v in sorted(names.items()) for x in (F.lit(k), F.lit(v))])
    # Stable ids: the version maps its clusters to segment ids (identity for versions before the tag).
    cluster_to_segment = ({int(c): int(s) for c, s in json.loads(seg_tags.get("cluster_to_segment", "{}")).items()}
                          or {k: k for k in names})

    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    scored = prop_model.transform(portrait)
    scored = scored.select(*portrait.columns, model_probability(scored).alias("purchase_propensity"))
    scored = _with_churn(scored, cfg)
    scored = clv_columns(lake, scored, date=date, horizon_days=cfg.train.horizon_days)
    segmented = segmentation.with_segment_id(seg_model.transform(scored), cluster_to_segment)
    rows = segmented.select(
        *scored.columns,
        F.col("segment_id"),
        name_of[F.col("segment_id")].alias("segment_name"),
    ).withColumns({
        "date": F.lit(date),
        "propensity_model_version": F.lit(prop_version),
        "segment_model_version": F.lit(seg_version),
        "horizon_days": F.lit(cfg.train.horizon_days),
        "churn_days": F.lit(cfg.train.churn_days),
    }).persist(StorageLevel.MEMORY_AND_DISK)
    rows = rows.withColumn("propensity_decile", decile(rows, "purchase_propensity"))
    holdout = person_bucket("holdout") < int(round(cfg.score.holdout_fraction * 1000))
    published = actions.with_next_action(rows, policy, holdout=holdout).persist(StorageLevel.MEMORY_AND_DISK)
    n = published.count()
    rows.unpersist()

    for table in (catalog.GOLD_SEGMENTS_DAILY, catalog.GOLD_PROPENSITY_DAILY, catalog.GOLD_NEXT_ACTIONS_DAILY):
        lake.add_columns(table)  # a table written before its contract grew
        lake.replace_range(table.conform(published), table, start=date)
    counts = {"persons": n, **{r["action"]: r["n"] for r in published.groupBy("action").agg(F.count("*").alias("n")).collect()}}
    published.unpersist()
    counts.update(_record_segment_movement(lake, date))
    log.info("score %s: %s", date, counts)
    return counts
