"""Features: the point-in-time portrait of every person as of date D -> `gold.portrait`.

`run` computes D incrementally when it can: from the window state of D-1 (`gold.portrait_state`),
the daily activity of day D and of the days leaving a window (`silver.daily_activity`), see
`features.incremental`. Persons whose past silver rows may have changed are recomputed from
silver: those in a merge, split, shrink or gone of `silver.identity_history` on D (with their
related persons), those with rows that landed on D for an earlier day and those with rows in a
landing date that ingest re-ingested on D (a late file, `bronze.ingest_audit.late_dates`). Everything else falls
back to a full build over all history: no state of D-1, no identity history, or text signals of
another model version. `backfill` builds a date range in one pass and leaves a state for each date.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from portrait.config import Config
from portrait.features.daily import daily_activity, daily_metrics
from portrait.features.incremental import STATE_SUM_TYPE, advance_state, as_state_table, leaving_days
from portrait.features.portrait import build_portrait, checked_features, portrait_from_state, window_state
from portrait.features.registry import window_inputs
from portrait.io import Lakehouse
from portrait import catalog as tables  # `catalog` is the feature-catalog submodule here

log = logging.getLogger(__name__)

DAILY = tables.SILVER_DAILY_ACTIVITY
STATE = tables.GOLD_PORTRAIT_STATE
BEGINNING = dt.date(1900, 1, 1)
# identity_history changes that move rows of past days between persons. `new` and `grow` only add
# identifiers unseen before, whose rows landed on the run date (read anyway) or late (caught as late).
REASSIGNING = ("merge", "split", "shrink", "gone")
# (table, timestamp column) of the silver sources of daily activity.
SOURCES = ((tables.SILVER_EVENTS, "ts"), (tables.SILVER_ORDERS, "order_ts"), (tables.SILVER_SOCIAL, "ts"))


def _silver(lake: Lakehouse, cfg: Config, where: dict[str, Column]) -> DataFrame:
    """`daily_activity` over the silver rows matching `where[table]` (text signals joined when present)."""
    events, orders, social = (lake.read(t).where(where[t]) for t, _ in SOURCES)
    if lake.exists(tables.SILVER_SOCIAL_SIGNALS):  # written by the `text` job; without it text features are 0/null
        signals = lake.read(tables.SILVER_SOCIAL_SIGNALS).select("post_id", "sentiment", "sentiment_score", "topic")
        social = social.join(signals, on="post_id", how="left")
    return daily_activity(events, orders, social, categories=cfg.features.categories)


def daily_from_silver(lake: Lakehouse, cfg: Config, *, upto: dt.date, landed_by: dt.date | None = None) -> DataFrame:
    """Daily activity per person from the silver tables, for days up to `upto`.

    `landed_by` also drops rows that landed (silver `date`) after it: what a run on that date saw.
    """
    def ok(ts: str) -> Column:
        day_ok = F.to_date(ts) <= F.lit(upto)
        return day_ok if landed_by is None else day_ok & (F.col("date") <= F.lit(landed_by))

    return _silver(lake, cfg, {t: ok(ts) for t, ts in SOURCES})


def portraits(lake: Lakehouse, cfg: Config, as_of_dates: list[dt.date], *, upto: dt.date | None = None,
              daily: DataFrame | None = None) -> DataFrame:
    """Portraits at several as-of dates (training uses this; the daily run uses one date).

    `daily` is the `daily_from_silver` frame when the caller already has it (training keeps it
    for the labels too), so the silver tables are aggregated once.
    """
    if daily is None:
        daily = daily_from_silver(lake, cfg, upto=upto or max(as_of_dates))
    return build_portrait(
        daily, lake.read(tables.SILVER_CUSTOMERS), as_of_dates,
        categories=cfg.features.categories, history_days=cfg.features.history_days,
    )


def run(spark: SparkSession, cfg: Config, date: dt.date, *, start: dt.date | None = None,
        incremental: bool = True) -> dict:
    """Compute the portrait as of `date` (or every date from `start` to `date`) into `gold.portrait`.

    Replaces those dates in `gold.portrait` and `gold.portrait_state`, and the daily rows it
    computed in `silver.daily_activity`. One date goes incrementally from the state of the day
    before when there is one (`incremental=False` forces a full build).

    Returns:
        `persons` (portrait rows of `date`) and `mode`: incremental, full or backfill.
    """
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    signals = _signals_version(lake)  # read once: the state records it, the incremental check compares it
    feats = checked_features(cfg.features.categories, cfg.features.history_days)
    if start is not None and start < date:
        mode = "backfill"
        _full(lake, cfg, [start + dt.timedelta(days=i) for i in range((date - start).days + 1)], feats, signals)
    else:
        reason = _why_not_incremental(lake, date, signals, feats) if incremental else "incremental=False"
        mode = "full" if reason else "incremental"
        if reason:
            log.info("features %s: full build (%s)", date, reason)
            _full(lake, cfg, [date], feats, signals)
        else:
            _incremental(lake, cfg, date, feats, signals)
    persons = lake.read(tables.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date)).count()
    log.info("portrait as of %s (%s): %d persons", date, mode, persons)
    return {"persons": persons, "mode": mode}


def backfill(spark: SparkSession, cfg: Config, start: dt.date, end: dt.date) -> dict:
    """`run` for every date from `start` to `end` in one pass (one window over all dates)."""
    return run(spark, cfg, end, start=start)


def _signals_version(lake: Lakehouse) -> str | None:
    if not lake.exists(tables.SILVER_SOCIAL_SIGNALS):
        return None
    row = lake.read(tables.SILVER_SOCIAL_SIGNALS).agg(F.max(F.col("model_version").cast("string"))).first()
    return row[0]


def _why_not_incremental(lake: Lakehouse, date: dt.date, signals: str | None, feats: list) -> str | None:
    """Why the state of `date` - 1 cannot be moved on to `date` (None when it can)."""
    if not lake.exists(STATE) or not lake.exists(DAILY):
        return f"no {STATE} or {DAILY} yet"
    if not lake.exists(tables.SILVER_IDENTITY_HISTORY):
        return "no silver.identity_history: persons whose past rows moved cannot be told apart"
    if _state_layout_changed(lake.read(STATE).schema, feats):
        return f"{STATE} was written by an older version (window sums not in long units)"
    previous = lake.read(STATE).where(F.col("as_of_date") == F.lit(date - dt.timedelta(days=1)))
    row = previous.select("signals_version").limit(1).collect()
    if not row:
        return f"no state as of {date - dt.timedelta(days=1)}"
    if row[0][0] != signals:
        return f"text signals changed model version ({row[0][0]} -> {signals})"
    return None


def _state_layout_changed(schema: T.StructType, feats: list) -> bool:
    """Whether a `gold.portrait_state` schema keeps the registry's window sums in another type than now."""
    sums = window_inputs(feats)[0]
    return any(s.name in schema.names and schema[s.name].dataType.typeName() != STATE_SUM_TYPE for s in sums)


def _write(lake: Lakehouse, cfg: Config, state: DataFrame, dates: list[dt.date], feats: list,
           signals: str | None) -> None:
    """Write the state of `dates`, then the portrait computed from the written state.

    A state table of an older layout is replaced whole (it is derived data: the states of other
    dates are dropped, and the next day moves on from the one written here).
    """
    start, end = min(dates), max(dates)
    rows = as_state_table(state, feats, signals_version=signals)
    if lake.exists(STATE) and _state_layout_changed(lake.read(STATE).schema, feats):
        log.warning("%s has an older layout: replaced by the state of %s..%s", STATE, start, end)
        lake.overwrite(rows, STATE, replace_schema=True)
    else:
        lake.replace_range(rows, STATE, start=start, end=end)
    written = lake.read(STATE).where(F.col("as_of_date").between(F.lit(start), F.lit(end))).drop("signals_version")
    portrait = portrait_from_state(written, lake.read(tables.SILVER_CUSTOMERS), dates, feats)
    lake.replace_range(portrait, tables.GOLD_PORTRAIT, start=start, end=end)


def _full(lake: Lakehouse, cfg: Config, dates: list[dt.date], feats: list, signals: str | None) -> None:
    """Full build of `dates` from silver: daily activity of every day, state and portrait."""
    end = max(dates)
    # One file per day instead of one per day and shuffle partition: the incremental run reads a few days.
    daily = daily_from_silver(lake, cfg, upto=end, landed_by=end).repartition("day")
    lake.replace_range(daily, DAILY, start=BEGINNING, end=end)
    daily = lake.read(DAILY).where(F.col("day") <= F.lit(end))
    state = window_state(daily, dates, feats, metrics=daily_metrics(cfg.features.categories),
                         history_days=cfg.features.history_days)
    _write(lake, cfg, state, dates, feats, signals)


def _persons_to_recompute(lake: Lakehouse, date: dt.date) -> list[str]:
    """Persons whose rows of days before `date` may have changed since the run of `date` - 1.

    Identity: both sides of a merge, split, shrink or gone recorded on `date`. Late rows: rows
    that landed on `date` for an earlier day, and every row of an earlier landing date that the
    ingest run of `date` re-ingested because a file of it arrived late.
    """
    history = lake.read(tables.SILVER_IDENTITY_HISTORY).where(
        (F.col("as_of_date") == F.lit(date)) & F.col("change").isin(*REASSIGNING))
    moved = history.select(F.explode(F.array_union(F.array("person_id"), F.coalesce(
        "related_person_ids", F.array().cast("array<string>")))).alias("person_id"))
    relanded = _relanded_dates(lake, date)
    late = [lake.read(t).where(((F.col("date") == F.lit(date)) & (F.to_date(ts) < F.lit(date)))
                               | F.col("date").isin(*relanded)).select("person_id")
            for t, ts in SOURCES]
    persons = moved
    for part in late:
        persons = persons.unionByName(part)
    return sorted(r[0] for r in persons.where(F.col("person_id").isNotNull()).distinct().collect())


def _relanded_dates(lake: Lakehouse, date: dt.date) -> list[dt.date]:
    """Earlier landing dates that the ingest run of `date` re-ingested whole (late files, `bronze.ingest_audit`)."""
    if not lake.exists(tables.BRONZE_INGEST_AUDIT) or "late_dates" not in lake.read(tables.BRONZE_INGEST_AUDIT).columns:
        return []
    audit = lake.read(tables.BRONZE_INGEST_AUDIT).where(F.col("date") == F.lit(date))
    rows = audit.select(F.explode("late_dates").alias("d")).where(F.col("d") < F.lit(date)).distinct().collect()
    return sorted(r[0] for r in rows)


def _incremental(lake: Lakehouse, cfg: Config, date: dt.date, feats: list, signals: str | None) -> None:
    """State of `date` from the state of `date` - 1; persons whose past rows moved are recomputed."""
    spark = lake.spark
    redo = _persons_to_recompute(lake, date)
    redo_df = F.broadcast(spark.createDataFrame([(p,) for p in redo], "person_id string"))

    # Daily rows that change: day `date` of everyone (rows that landed on date - 1 or date; ingest
    # quarantines a timestamp 2+ days after its landing date), and every day of the redone persons.
    today = {t: F.col("date").between(F.lit(date - dt.timedelta(days=1)), F.lit(date)) & (F.to_date(ts) == F.lit(date))
             for t, ts in SOURCES}
    changed = _silver(lake, cfg, today).join(redo_df, on="person_id", how="left_anti")
    where = F.col("day") == F.lit(date)
    if redo:
        where = where | F.col("person_id").isin(*redo)
        redone = _silver(lake, cfg, {t: F.col("date") <= F.lit(date) for t, _ in SOURCES}).join(
            redo_df, on="person_id", how="left_semi").where(F.col("day") <= F.lit(date))
        changed = changed.unionByName(redone)
    lake.replace_range(changed.repartition("day"), DAILY, start=BEGINNING, end=date, where=where)

    daily = lake.read(DAILY)
    moving = daily.where(F.col("day").isin(date, *leaving_days(feats, date))).join(redo_df, on="person_id",
                                                                                   how="left_anti")
    previous = lake.read(STATE).where(F.col("as_of_date") == F.lit(date - dt.timedelta(days=1))).join(
        redo_df, on="person_id", how="left_anti")
    state = advance_state(previous, moving, moving, as_of=date, feats=feats, history_days=cfg.features.history_days)
    if redo:
        redo_state = window_state(daily.join(redo_df, on="person_id", how="left_semi"), [date], feats,
                                  metrics=daily_metrics(cfg.features.categories),
                                  history_days=cfg.features.history_days)
        state = state.unionByName(redo_state.select(*state.columns))
    _write(lake, cfg, state, [date], feats, signals)
