"""Score: the champion models applied to the portrait of date D -> the published tables.

Purchase propensity for everyone, churn propensity for the persons active in the churn lookback,
the top 3 reasons behind each, segments, recommended categories, and the next action chosen by expected value within the
contact caps (`portrait.actions`). The batch passes the quality gate (`scoring.gate`) before
anything is written: a failing batch leaves every table as it was (readers keep the previous day)
and raises `GateFailed` naming the checks. Then each table's date D is replaced in one commit, and
gold.actions_sent gets date D (replaced, so a rerun does not double it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.storagelevel import StorageLevel

from portrait import catalog, publication, registry
from portrait.actions import Policy, load_policy, sent_rows, with_live_contacts, with_next_action
from portrait.config_models import Config, GateConfig, MlflowConfig, ScoreConfig, TrainConfig
from portrait.io import Lakehouse
from portrait.models import recommend, segmentation
from portrait.models.clv import clv_columns
from portrait.models.deciles import with_decile
from portrait.scoring.gate import GateFailed, gate_checks
from portrait.scoring.propensities import churn_population, with_probability, with_tags
from portrait.scoring.reasons import with_reasons
from portrait.spark import truncate

log = logging.getLogger(__name__)
Movement = tuple[Row, StructType]  # gold.segment_movement's row of a date, held on the driver, and its schema

INPUTS = (
    catalog.GOLD_PORTRAIT,
    catalog.GOLD_TAGS,
    catalog.GOLD_ACTIONS_SENT,
    catalog.GOLD_RECOMMENDATIONS,
    catalog.SILVER_ORDERS,
    catalog.GOLD_LIVE_ACTIONS,  # live contacts cap the daily actions too
)
OUTPUTS = (*catalog.PUBLISHED, catalog.GOLD_PUBLISHED_DATES, catalog.GOLD_ACTIONS_SENT, catalog.GOLD_SEGMENT_MOVEMENT)


def _champion(name: str) -> tuple[PipelineModel | None, str | None, dict[str, str]]:
    """The champion of `name`, or (None, None, {}) with a warning when there is none."""
    found = registry.load_champion_if_any(name)
    if found is None:
        log.warning("no champion for %s: its columns are left null", name)
        return None, None, {}
    return found


def _segments(rows: DataFrame, train: TrainConfig) -> DataFrame:
    """`rows` with segment_id, segment_name and segment_model_version from the segment champion."""
    seg_model, seg_version, seg_tags = registry.load_champion(train.segment_model)
    names = {int(k): v for k, v in json.loads(seg_tags["segment_names"]).items()}
    name_of = F.create_map(*[x for k, v in sorted(names.items()) for x in (F.lit(k), F.lit(v))])
    cluster_to_segment = {int(c): int(s) for c, s in json.loads(seg_tags.get("cluster_to_segment", "{}")).items()} or {
        k: k for k in names
    }
    segmented = segmentation.with_segment_id(seg_model.transform(rows), cluster_to_segment)
    return segmented.select(
        *rows.columns,
        "segment_id",
        name_of[F.col("segment_id")].alias("segment_name"),
        F.lit(seg_version).alias("segment_model_version"),
    )


def _recommendations(lake: Lakehouse, rows: DataFrame, train: TrainConfig, date: dt.date) -> DataFrame:
    """`rows` with `recommendations`: the champion recommender's ranking (popularity for persons it
    has not seen), without the categories bought in the last `exclude_days`; null without a champion."""
    conf = train.recommender
    try:
        version, tags = registry.champion_info(conf.model_name) if conf.enabled else (None, {})
    except LookupError:
        version, tags = None, {}
    if version is None or not lake.exists(catalog.SILVER_ORDERS):
        return rows.withColumn("recommendations", F.lit(None).cast("array<string>"))
    ranked = lake.read(catalog.GOLD_RECOMMENDATIONS) if lake.exists(catalog.GOLD_RECOMMENDATIONS) else None
    recent = recommend.bought(
        lake.read(catalog.SILVER_ORDERS), start=date - dt.timedelta(days=conf.exclude_days - 1), end=date
    )
    fallback = json.loads(tags.get("popular_products", "[]"))
    return recommend.with_recommendations(rows, ranked, recent, fallback=fallback, k=conf.k)


def score_rows(lake: Lakehouse, score: ScoreConfig, train: TrainConfig, date: dt.date) -> DataFrame:
    """The scored rows of `date` before the policy: propensities, reasons, segments, tags."""
    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    prop_model, prop_version, _ = registry.load_champion(train.propensity_model)
    churn_model, churn_version, _ = _champion(train.churn_model)
    rows = with_probability(portrait, prop_model, "purchase_propensity")
    rows = with_probability(
        rows, churn_model, "churn_propensity", population=churn_population(train.churn_lookback_days)
    )
    # Both probabilities computed once and the plan cut here: each reason re-scores a union of one
    # variant per input, and without the cut every variant carried the whole lineage (the portrait
    # read and both models' pipelines), the churn reasons the purchase reasons' union too: a plan
    # that took minutes to optimise and ran a 1 GiB driver out of heap.
    rows = truncate(rows)
    churn_reasons = with_reasons(
        rows, churn_model, probability="churn_propensity", output="churn_reasons", inputs=score.reason_inputs
    ).select("person_id", "churn_reasons")
    rows = with_reasons(
        rows, prop_model, probability="purchase_propensity", output="purchase_reasons", inputs=score.reason_inputs
    ).join(churn_reasons, on="person_id")
    rows = _segments(rows, train)
    tags = (
        lake.read(catalog.GOLD_TAGS).where(F.col("as_of_date") == F.lit(date))
        if lake.exists(catalog.GOLD_TAGS)
        else None
    )
    rows = _recommendations(lake, rows, train, date)
    return with_tags(rows, tags).withColumns(
        {
            "date": F.lit(date),
            "propensity_model_version": F.lit(prop_version),
            "churn_model_version": F.lit(churn_version).cast("string"),
            "horizon_days": F.lit(train.horizon_days),
            "churn_days": F.lit(train.churn_days),
        }
    )


def _history(lake: Lakehouse, date: dt.date) -> DataFrame:
    """The contacts that cap `date`'s actions, as of the versions listed now: the daily ones of the
    days before `date` (a rerun of `date` replaces its own rows, so they never cap it) and every
    live one of `gold.live_actions` through `date` itself (a reminder sent during the day quiets the
    daily action decided from that day). Call `with_next_action` with `include_date=True`. The
    pinned reads keep the decided frame cached across this run's write of `gold.actions_sent` (a
    latest-version read would be cleared by it and rebuilt for the three daily tables:
    `Lakehouse.read_at`)."""
    sent = (
        lake.read_at(catalog.GOLD_ACTIONS_SENT, lake.version(catalog.GOLD_ACTIONS_SENT))
        if lake.exists(catalog.GOLD_ACTIONS_SENT)
        else lake.spark.createDataFrame([], catalog.GOLD_ACTIONS_SENT.ddl)
    ).where(F.col("date") < F.lit(date))
    if not lake.exists(catalog.GOLD_LIVE_ACTIONS):  # no live job ran on this lake
        return sent
    live = lake.read_at(catalog.GOLD_LIVE_ACTIONS, lake.version(catalog.GOLD_LIVE_ACTIONS))
    return with_live_contacts(sent, live)


def previous_date(lake: Lakehouse, table: catalog.Table, date: dt.date) -> dt.date | None:
    """The latest date before `date` in `table` (None before the first). Score looks it up once, in
    gold.propensity_daily, for the gate and the segment movement: the published tables are written
    together, so segments_daily holds the same dates."""
    if not lake.exists(table):
        return None
    return lake.read(table).where(F.col("date") < F.lit(date)).agg(F.max("date")).first()[0]


def check_gate(
    lake: Lakehouse, batch: DataFrame, gate: GateConfig, date: dt.date, previous: dt.date | None
) -> list[dict]:
    """Run the gate on `batch` against gold.propensity_daily's rows of `previous` (`previous_date`);
    raise `GateFailed` naming the failed checks. Returns the checks (a few rows)."""
    if previous is None:
        rows = batch.limit(0)  # nothing to compare with: the row count and PSI checks pass
    else:
        rows = lake.read(catalog.GOLD_PROPENSITY_DAILY).where(F.col("date") == F.lit(previous))
    checks = [r.asDict() for r in gate_checks(batch, rows, gate).collect()]
    failed = [c for c in checks if not c["passed"]]
    if failed:
        named = "; ".join(f"{c['check']} = {c['value']:.4g} > {c['threshold']:.4g}" for c in failed)
        raise GateFailed(
            f"score {date}: the batch failed the quality gate and was not published "
            f"(readers keep the previous day): {named}"
        )
    return checks


def publish(lake: Lakehouse, decided: DataFrame, gate: GateConfig, date: dt.date) -> dict[str, int | float]:
    """Gate, then write gold.actions_sent, the published tables, the publication marker and
    gold.segment_movement for `date`; counts from the commits, and the segments' share moved."""
    previous = previous_date(lake, catalog.GOLD_PROPENSITY_DAILY, date)  # the gate's and the movement's
    if gate.enabled:
        check_gate(lake, decided, gate, date, previous)
    # Before the writes, from the cached frame: segments_daily's rows of `date` will be exactly these,
    # and its snapshot is still the one the write loads anyway (no read-back of the new version).
    movement = segment_movement_row(lake, date, previous, catalog.GOLD_SEGMENTS_DAILY.conform(decided))
    counts: dict[str, int | float] = {}
    commits = {}  # the publication marker names the versions these commits made
    sent = catalog.GOLD_ACTIONS_SENT.conform(sent_rows(decided, date=date))
    counts["actions_sent"] = lake.replace_range(sent, catalog.GOLD_ACTIONS_SENT, start=date).rows_new
    for table in catalog.PUBLISHED:
        lake.add_columns(table)  # a table written before its contract grew
        commits[table] = lake.replace_range(table.conform(decided), table, start=date)
        counts[table.name] = commits[table].rows_new
    publication.publish(lake, date, commits)  # written last: readers see the date from now on
    counts.update(write_segment_movement(lake, movement, date))
    return counts


def segment_movement_row(
    lake: Lakehouse, date: dt.date, previous: dt.date | None, current: DataFrame | None = None
) -> Movement | None:
    """gold.segment_movement's row of `date` and its schema, computed now (one action): `current`
    (person_id, segment_id, segment_name; default: gold.segments_daily's rows of `date`) against
    gold.segments_daily's rows of `previous`; None when there is no previous date."""
    if previous is None:
        return None
    segments = lake.read(catalog.GOLD_SEGMENTS_DAILY)
    on = lambda d: segments.where(F.col("date") == F.lit(d))  # noqa: E731 - one date of the table
    current = on(date) if current is None else current
    movement = segmentation.segment_movement(current, on(previous), date=date, previous_date=previous)
    (row,) = movement.collect()  # one row: two global aggregates, cross-joined
    return row, movement.schema


def write_segment_movement(lake: Lakehouse, movement: Movement | None, date: dt.date) -> dict[str, float]:
    """Replace `date` in gold.segment_movement with the row computed (`segment_movement_row`), as
    computed and with its schema: nothing is read back. Nothing to record for None."""
    if movement is None:
        return {}
    row, schema = movement
    lake.replace_range(lake.spark.createDataFrame([row], schema), catalog.GOLD_SEGMENT_MOVEMENT, start=date)
    moved, compared = row["persons_moved"], row["persons_compared"]
    log.info("segments %s vs %s: %d of %d persons moved", date, row["previous_date"], moved, compared)
    return {"segment_share_moved": row["share_moved"]}


def record_segment_movement(lake: Lakehouse, date: dt.date, current: DataFrame | None = None) -> dict[str, float]:
    """Both steps at once, against gold.segments_daily's latest date before `date` (`publish` computes
    the row before its writes, against `previous_date`, and writes it after them)."""
    previous = previous_date(lake, catalog.GOLD_SEGMENTS_DAILY, date)
    return write_segment_movement(lake, segment_movement_row(lake, date, previous, current), date)


@dataclass(frozen=True)
class RunConf:
    """What scoring takes from the configuration (`RunConf.of(cfg)`)."""

    score: ScoreConfig  # the `score` section (reason inputs, holdout share, gate thresholds)
    train: TrainConfig  # the `train` section (model names, horizons, churn lookback)
    policy: Policy  # the action policy (`score.policy_file`, relative to the conf folder)
    mlflow: MlflowConfig  # the tracking / registry settings the champions are loaded from

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.score, cfg.train, load_policy(cfg.conf_dir / cfg.score.policy_file), cfg.mlflow)


def run(lake: Lakehouse, conf: RunConf, date: dt.date) -> dict[str, int | float]:
    """Score `date`, choose the next actions, gate and publish.

    Args:
        lake: the lakehouse.
        conf: the `score` and `train` sections, the loaded action policy and the MLflow settings.
        date: the scoring date.

    Raises:
        GateFailed: the batch failed the quality gate; nothing was written.
    """
    score, train = conf.score, conf.train
    registry.configure(conf.mlflow)
    rows = clv_columns(lake, score_rows(lake, score, train, date), date=date, horizon_days=train.horizon_days)
    scored = rows.persist(StorageLevel.MEMORY_AND_DISK)
    # Equal-sized deciles of the published score, a tie split by person_id (models.deciles).
    rows = with_decile(scored, "purchase_propensity", output="propensity_decile", key="person_id")
    decided = with_next_action(
        rows,
        conf.policy.daily(),
        history=_history(lake, date),
        date=date,
        holdout_share=score.holdout_fraction,
        include_date=True,  # the history holds no daily row of `date` (`_history`), only live ones
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = publish(lake, decided, score.gate, date)
    finally:
        decided.unpersist()
        scored.unpersist()  # the persisted frame: `rows` was rebound to the uncached deciles
    log.info("score %s: %s", date, counts)
    return counts
