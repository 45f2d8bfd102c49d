"""The silver inputs of the features stage, read once here: daily activity and portraits from silver.

Training reads the same inputs (`daily_from_silver`, `portraits`), so both see the same rows.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import catalog as tables  # `catalog` is the feature-catalog submodule here
from portrait.config import FeaturesConfig
from portrait.features.daily import daily_activity
from portrait.features.portrait import build_portrait
from portrait.io import Lakehouse

# (table, timestamp column) of the silver sources of daily activity.
SOURCES = ((tables.SILVER_EVENTS, "ts"), (tables.SILVER_ORDERS, "order_ts"), (tables.SILVER_SOCIAL, "ts"))


def silver_daily(lake: Lakehouse, conf: FeaturesConfig, where: dict[tables.Table, Column]) -> DataFrame:
    """`daily_activity` over the silver rows matching `where[table]` (text signals joined when present)."""
    events, orders, social = (lake.read(t).where(where[t]) for t, _ in SOURCES)
    if lake.exists(tables.SILVER_SOCIAL_SIGNALS):  # written by the `text` job; without it text features are 0/null
        signals = lake.read(tables.SILVER_SOCIAL_SIGNALS).select("post_id", "sentiment", "sentiment_score", "topic")
        social = social.join(signals, on="post_id", how="left")
    return daily_activity(events, orders, social, categories=conf.categories)


def daily_from_silver(
    lake: Lakehouse, conf: FeaturesConfig, *, upto: dt.date, landed_by: dt.date | None = None
) -> DataFrame:
    """Daily activity per person from the silver tables, for days up to `upto`.

    `landed_by` also drops rows that landed (silver `date`) after it: what a run on that date saw.
    """

    def ok(ts: str) -> Column:
        day_ok = F.to_date(ts) <= F.lit(upto)
        return day_ok if landed_by is None else day_ok & (F.col("date") <= F.lit(landed_by))

    return silver_daily(lake, conf, {t: ok(ts) for t, ts in SOURCES})


def portraits(
    lake: Lakehouse,
    conf: FeaturesConfig,
    as_of_dates: list[dt.date],
    *,
    upto: dt.date | None = None,
    daily: DataFrame | None = None,
) -> DataFrame:
    """Portraits at several as-of dates (training uses this; the daily run uses one date).

    `daily` is the `daily_from_silver` frame when the caller already has it (training keeps it
    for the labels too), so the silver tables are aggregated once.
    """
    if daily is None:
        daily = daily_from_silver(lake, conf, upto=upto or max(as_of_dates))
    return build_portrait(
        daily,
        lake.read(tables.SILVER_CUSTOMERS),
        as_of_dates,
        categories=conf.categories,
        history_days=conf.history_days,
    )


def signals_version(lake: Lakehouse) -> str | None:
    """The model version of the text signals (`silver.social_signals`), None without them."""
    if not lake.exists(tables.SILVER_SOCIAL_SIGNALS):
        return None
    row = lake.read(tables.SILVER_SOCIAL_SIGNALS).agg(F.max(F.col("model_version").cast("string"))).first()
    return row[0]
