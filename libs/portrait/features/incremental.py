"""The incremental step: the window state of day D from the state of D-1 and two kinds of daily rows.

A window state row (`portrait.state_columns`) holds, per person and as-of date, every `Sum` and
`Last` input of the registry and `latest_input_day`. Moving it one day on needs no history:

- `Sum(metric, n)` at D = at D-1 + metric on day D - metric on day D-n (the day leaving the window);
- `Last(metric)` at D = D if metric > 0 on day D, else the value at D-1 unless it is older than
  the history window (then null); `latest_input_day` likewise with any activity;
- a person stays while their `latest_input_day` is in the history window.

Sums are exact fixed-point longs (`portrait.UNITS` per unit of the metric, see
`features.portrait`): adding and subtracting them day after day cannot drift, so a window that
empties returns to exactly 0 and the state equals a full build's.

Which persons must be recomputed from silver instead (identity changes, late rows) is decided by
the caller (`features.run`): this module only holds pure transforms.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.features.portrait import to_units
from portrait.features.registry import Feature, window_inputs

STATE_SUM_TYPE = "long"


def _day_num(d: dt.date) -> Column:
    return F.lit((d - dt.date(1970, 1, 1)).days)


def leaving_days(feats: list[Feature], as_of: dt.date) -> list[dt.date]:
    """The days whose daily rows leave some window when the state moves from as_of - 1 to as_of."""
    return sorted({as_of - dt.timedelta(days=s.days) for s in window_inputs(feats)[0]})


def as_state_table(state: DataFrame, feats: list[Feature], *, signals_version: str | None) -> DataFrame:
    """State rows in the `gold.portrait_state` contract: sums as long units, the text model version.

    `signals_version` is the `silver.social_signals` model version the text metrics came from
    (null without text signals): a state built from another version cannot be moved on.
    """
    sums, lasts = window_inputs(feats)
    return state.select(
        "person_id",
        F.col("as_of_date").cast("date").alias("as_of_date"),
        F.col("latest_input_day").cast("int").alias("latest_input_day"),
        *[F.col(s.name).cast(STATE_SUM_TYPE).alias(s.name) for s in sums],
        *[F.col(last.name).cast("int").alias(last.name) for last in lasts],
        F.lit(signals_version).cast("string").alias("signals_version"),
    )


def advance_state(
    previous: DataFrame,
    today: DataFrame,
    leaving: DataFrame,
    *,
    as_of: dt.date,
    feats: list[Feature],
    history_days: int,
) -> DataFrame:
    """The window state at `as_of` from the state at `as_of` - 1 and the daily rows that move.

    Args:
        previous: state rows (`as_state_table` contract) as of `as_of` - 1.
        today: daily activity rows of day `as_of` (person_id, day and the metrics).
        leaving: daily activity rows of the days in `leaving_days(feats, as_of)` (other days are ignored).
        as_of: the new as-of date.
        feats: the registry's features (their `Sum` and `Last` inputs are the state's columns).
        history_days: the history window (`features.history_days`).

    Returns:
        State rows as of `as_of` in the `as_state_table` contract (without `signals_version`), one
        per person with activity in the history window. The rows are stacked and summed in one
        `groupBy(person_id)`: one shuffle, no joins.
    """
    sums, lasts = window_inputs(feats)
    at, oldest = _day_num(as_of), _day_num(as_of - dt.timedelta(days=history_days))
    zero = F.lit(0).cast(STATE_SUM_TYPE)
    null_day = F.lit(None).cast("int")

    def kept(c: str) -> Column:  # a day number still inside the history window at as_of
        return F.when(F.col(c) >= oldest, F.col(c))

    carried = previous.select(
        "person_id",
        kept("latest_input_day").alias("latest_input_day"),
        *[F.col(s.name).cast(STATE_SUM_TYPE).alias(s.name) for s in sums],
        *[kept(last.name).alias(last.name) for last in lasts],
    )
    entering = today.where(F.col("day") == F.lit(as_of)).select(
        "person_id",
        at.alias("latest_input_day"),
        *[to_units(F.col(s.metric)).alias(s.name) for s in sums],
        *[F.when(F.col(last.metric) > 0, at).alias(last.name) for last in lasts],
    )
    day = F.col("day")
    leaving_rows = leaving.where(day.isin(*leaving_days(feats, as_of))).select(
        "person_id",
        null_day.alias("latest_input_day"),
        *[
            F.when(day == F.lit(as_of - dt.timedelta(days=s.days)), -to_units(F.col(s.metric)))
            .otherwise(zero)
            .alias(s.name)
            for s in sums
        ],
        *[null_day.alias(last.name) for last in lasts],
    )
    return (
        carried.unionByName(entering)
        .unionByName(leaving_rows)
        .groupBy("person_id")
        .agg(
            F.max("latest_input_day").alias("latest_input_day"),
            *[F.sum(s.name).cast(STATE_SUM_TYPE).alias(s.name) for s in sums],
            *[F.max(last.name).alias(last.name) for last in lasts],
        )
        .where(F.col("latest_input_day").isNotNull())
        .select(
            "person_id",
            F.lit(as_of).alias("as_of_date"),
            "latest_input_day",
            *[s.name for s in sums],
            *[last.name for last in lasts],
        )
    )
