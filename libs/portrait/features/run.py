"""Features: the point-in-time portrait of every person as of date D -> `gold.portrait`.

`run` computes D incrementally when it can: from the window state of D-1 (`gold.portrait_state`),
the daily activity of day D and of the days leaving a window (`silver.daily_activity`), see
`features.incremental`. Persons whose past silver rows may have changed are recomputed from
silver (`features.recompute`): those in a merge, split, shrink or gone of
`silver.identity_history` on D (with their related persons), those with rows that landed on D for
an earlier day and those with rows in a landing date that ingest re-ingested on D (a late file,
`bronze.ingest_audit.late_dates`). Everything else falls back to a full build over all history: no
state of D-1, no identity history, or text signals of another model version. With `start`, every
date from `start` to D is built in one pass and leaves a state for each date.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from portrait import catalog as tables  # `catalog` is the feature-catalog submodule here
from portrait.config import FeaturesConfig
from portrait.features.daily import daily_metrics
from portrait.features.incremental import STATE_SUM_TYPE, advance_state, as_state_table, leaving_days
from portrait.features.portrait import checked_features, portrait_from_state, window_state
from portrait.features.recompute import DELETE, daily_changes, persons_to_recompute, relanded_dates
from portrait.features.registry import Feature, window_inputs
from portrait.features.sources import SOURCES, daily_from_silver, signals_version, silver_daily
from portrait.io import Commit, Lakehouse
from portrait.keys import BEGINNING

log = logging.getLogger(__name__)

DAILY = tables.SILVER_DAILY_ACTIVITY
STATE = tables.GOLD_PORTRAIT_STATE
INPUTS = (
    tables.SILVER_EVENTS,
    tables.SILVER_ORDERS,
    tables.SILVER_SOCIAL,
    tables.SILVER_SOCIAL_SIGNALS,
    tables.SILVER_CUSTOMERS,
    tables.SILVER_IDENTITY_HISTORY,
    tables.BRONZE_INGEST_AUDIT,
)
OUTPUTS = (DAILY, STATE, tables.GOLD_PORTRAIT)


def run(
    lake: Lakehouse, conf: FeaturesConfig, date: dt.date, *, start: dt.date | None = None, full: bool = False
) -> dict:
    """Compute the portrait as of `date` (or every date from `start` to `date`) into `gold.portrait`.

    Replaces those dates in `gold.portrait` and `gold.portrait_state`, and the daily rows it
    computed in `silver.daily_activity`. One date goes incrementally from the state of the day
    before when there is one (`full=True` forces a full build over all history).

    Returns:
        `mode` (incremental, full or backfill), `dates` built and `rows` written to `gold.portrait`
        (from the commit's metrics); for one date, `persons` too (its portrait rows).
    """
    signals = signals_version(lake)  # read once: the state records it, the incremental check compares it
    feats = checked_features(conf.categories, conf.history_days)
    if start is not None and start < date:
        mode, dates = "backfill", [start + dt.timedelta(days=i) for i in range((date - start).days + 1)]
        written = _full(lake, conf, dates, feats, signals)
    else:
        dates = [date]
        reason = "full=True" if full else _why_not_incremental(lake, date, signals, feats)
        mode = "full" if reason else "incremental"
        if reason:
            log.info("features %s: full build (%s)", date, reason)
            written = _full(lake, conf, dates, feats, signals)
        else:
            written = _incremental(lake, conf, date, feats, signals)
    summary = {"mode": mode, "dates": len(dates), "rows": written.rows_new}
    if mode != "backfill":
        summary["persons"] = written.rows_new
    log.info("portrait as of %s: %s", date, summary)
    return summary


def _why_not_incremental(lake: Lakehouse, date: dt.date, signals: str | None, feats: list[Feature]) -> str | None:
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


def _state_layout_changed(schema: T.StructType, feats: list[Feature]) -> bool:
    """Whether a `gold.portrait_state` schema keeps the registry's window sums in another type than now."""
    sums = window_inputs(feats)[0]
    return any(s.name in schema.names and schema[s.name].dataType.typeName() != STATE_SUM_TYPE for s in sums)


def _write(
    lake: Lakehouse, state: DataFrame, dates: list[dt.date], feats: list[Feature], signals: str | None
) -> Commit:
    """Write the state of `dates`, then the portrait computed from the written state; return the portrait's commit.

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
    return lake.replace_range(portrait, tables.GOLD_PORTRAIT, start=start, end=end)


def _full(
    lake: Lakehouse, conf: FeaturesConfig, dates: list[dt.date], feats: list[Feature], signals: str | None
) -> Commit:
    """Full build of `dates` from silver: daily activity of every day, state and portrait."""
    end = max(dates)
    # One file per day instead of one per day and shuffle partition: the incremental run reads a few days.
    daily = daily_from_silver(lake, conf, upto=end, landed_by=end).repartition("day")
    lake.replace_range(daily, DAILY, start=BEGINNING, end=end)
    daily = lake.read(DAILY).where(F.col("day") <= F.lit(end))
    state = window_state(daily, dates, feats, metrics=daily_metrics(conf.categories), history_days=conf.history_days)
    return _write(lake, state, dates, feats, signals)


def _redo(lake: Lakehouse, date: dt.date) -> DataFrame:
    """The persons recomputed from silver on `date` (`recompute.persons_to_recompute`), persisted."""
    relanded = None
    if lake.exists(tables.BRONZE_INGEST_AUDIT):
        audit = lake.read(tables.BRONZE_INGEST_AUDIT)
        if "late_dates" in audit.columns:  # older lakes' audits lack it
            # One row per source and run of `date`: a few dates, collected instead of joined.
            of_date = audit.where(F.col("date") == F.lit(date)).select("late_dates").collect()
            relanded = relanded_dates((r["late_dates"] for r in of_date), date=date)
    sources = [(lake.read(t), ts) for t, ts in SOURCES]
    return persons_to_recompute(lake.read(tables.SILVER_IDENTITY_HISTORY), sources, relanded, date=date).persist()


def _incremental(
    lake: Lakehouse, conf: FeaturesConfig, date: dt.date, feats: list[Feature], signals: str | None
) -> Commit:
    """State of `date` from the state of `date` - 1; persons whose past rows moved are recomputed."""
    redo = _redo(lake, date)
    any_redo = not redo.isEmpty()  # one boolean: skips reading all of silver on a day without any

    # Daily rows that change: day `date` of everyone (rows that landed on date - 1 or date; ingest
    # quarantines a timestamp 2+ days after its landing date), and every day of the redone persons.
    today = {
        t: F.col("date").between(F.lit(date - dt.timedelta(days=1)), F.lit(date)) & (F.to_date(ts) == F.lit(date))
        for t, ts in SOURCES
    }

    def without_redo(df: DataFrame) -> DataFrame:
        return df.join(redo, on="person_id", how="left_anti") if any_redo else df

    changed = silver_daily(lake, conf, today)
    if any_redo:
        redone = (
            silver_daily(lake, conf, {t: F.col("date") <= F.lit(date) for t, _ in SOURCES})
            .join(redo, on="person_id", how="left_semi")
            .where(F.col("day") <= F.lit(date))
        )
        changed = without_redo(changed).unionByName(redone)
        merged = daily_changes(changed, lake.read(DAILY), redo, date=date)
        lake.merge(merged, DAILY, on=("person_id", "day"), delete=DELETE)
    else:
        # Only day `date` changes: its partition is replaced by the day's rows, as `_full` writes
        # every day. The MERGE leaves the same rows, after a keys-only copy of the day, a scan of
        # the whole table and its joins (≈ 15 Spark jobs; docs/features-daily-cost.md P1).
        lake.replace_range(changed, DAILY, start=date)

    daily = lake.read(DAILY)
    moving = without_redo(daily.where(F.col("day").isin(date, *leaving_days(feats, date))))
    previous = without_redo(lake.read(STATE).where(F.col("as_of_date") == F.lit(date - dt.timedelta(days=1))))
    state = advance_state(previous, moving, moving, as_of=date, feats=feats, history_days=conf.history_days)
    if any_redo:
        redo_state = window_state(
            daily.join(redo, on="person_id", how="left_semi"),
            [date],
            feats,
            metrics=daily_metrics(conf.categories),
            history_days=conf.history_days,
        )
        state = state.unionByName(redo_state.select(*state.columns))
    written = _write(lake, state, [date], feats, signals)
    redo.unpersist()
    return written
