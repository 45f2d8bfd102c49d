"""Features: the point-in-time portrait of every person as of date D -> `gold.portrait`."""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait.config import Config
from portrait.features.daily import daily_activity
from portrait.features.portrait import build_portrait
from portrait.io import Lakehouse

log = logging.getLogger(__name__)


def daily_from_silver(lake: Lakehouse, cfg: Config, *, upto: dt.date) -> DataFrame:
    """Daily activity per person from the silver tables, for days up to `upto`."""
    day_ok = lambda ts: F.to_date(ts) <= F.lit(upto)  # noqa: E731 - one-line predicate
    events = lake.read("silver.events").where(day_ok(F.col("ts")))
    orders = lake.read("silver.orders").where(day_ok(F.col("order_ts")))
    social = lake.read("silver.social").where(day_ok(F.col("ts")))
    if lake.exists("silver.social_signals"):  # written by the `text` job; without it text features are 0/null
        signals = lake.read("silver.social_signals").select("post_id", "sentiment", "sentiment_score", "topic")
        social = social.join(signals, on="post_id", how="left")
    return daily_activity(events, orders, social, categories=cfg.features.categories)


def portraits(lake: Lakehouse, cfg: Config, as_of_dates: list[dt.date], *, upto: dt.date | None = None,
              daily: DataFrame | None = None) -> DataFrame:
    """Portraits at several as-of dates (training uses this; the daily run uses one date).

    `daily` is the `daily_from_silver` frame when the caller already has it (training keeps it
    for the labels too), so the silver tables are aggregated once.
    """
    if daily is None:
        daily = daily_from_silver(lake, cfg, upto=upto or max(as_of_dates))
    return build_portrait(
        daily, lake.read("silver.customers"), as_of_dates,
        categories=cfg.features.categories, history_days=cfg.features.history_days,
    )


def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, int]:
    """Compute the portrait as of `date` and replace that date in `gold.portrait`."""
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    lake.replace_range(portraits(lake, cfg, [date]), "gold.portrait", start=date)
    persons = lake.read("gold.portrait").where(F.col("as_of_date") == F.lit(date)).count()
    log.info("portrait as of %s: %d persons", date, persons)
    return {"persons": persons}
