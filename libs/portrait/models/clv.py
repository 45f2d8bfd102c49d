"""Customer lifetime value columns of `gold.propensity_daily` (BG/NBD + Gamma-Gamma, `models.btyd`).

Scoring calls `clv_columns(lake, scored, date=D, horizon_days=...)`: it reads the persons'
completed orders in `silver.orders`, fits both models on the history up to D (aggregated
statistics only) and adds `p_alive`, `expected_purchases` and `expected_spend` over the horizon
with the pure `btyd.with_clv`. Persons without a completed order get nulls.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog, order_lines
from portrait.io import Lakehouse
from portrait.models import btyd
from portrait.spark import truncate

log = logging.getLogger(__name__)
CLV_COLUMNS = ("p_alive", "expected_purchases", "expected_spend")


def purchase_days_of_orders(orders: DataFrame) -> DataFrame:
    """(person_id, day, amount) of the completed order lines of `silver.orders` (net of discounts)."""
    return (
        orders.where(order_lines.is_completed() & F.col("person_id").isNotNull())
        .groupBy("person_id", F.to_date("order_ts").alias("day"))
        .agg(F.sum(order_lines.net_amount()).alias("amount"))
    )


def clv_columns(lake: Lakehouse, scored: DataFrame, *, date: dt.date, horizon_days: int) -> DataFrame:
    """`scored` (one row per person_id) with the CLV columns as of `date` (null without history)."""
    # One pass over every order line, its plan cut: both fit collects and the join of `with_clv`
    # read these rows (about one per buyer) instead of each aggregating all of silver.orders again.
    stats = truncate(btyd.purchase_stats(purchase_days_of_orders(lake.read(catalog.SILVER_ORDERS)), as_of=date))
    try:
        params = btyd.fit(stats)
    except btyd.NoPurchaseHistory as exc:
        log.warning("CLV columns left null on %s: %s", date, exc)
        return scored.withColumns({c: F.lit(None).cast("double") for c in CLV_COLUMNS})
    log.info("CLV fit on %s: %s", date, params.as_dict())
    return btyd.with_clv(scored, stats, params=params, horizon_days=horizon_days)
