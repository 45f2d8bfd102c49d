"""Pure builders of the orders-only portrait: purchase lines, order features as of a date, labels.

The customers of a mapped orders export are its `account_id`s; only `product` lines count
(postage, fees, manual adjustments, stock write-offs are not purchases). What predicts a repeat
purchase from orders alone is in the order history itself: frequency, recency against the
customer's own rhythm (inter-purchase time statistics), spend, basket breadth, returns, trend,
and the customer's own seasonality (what they bought in the same weeks a year before). Every
feature uses lines on or before the as-of date only; the BG/NBD inputs are added by
`models.btyd` from a fit at the same as-of date.

Population: customers with at least one purchase on or before the as-of date (as BG/NBD and the
RFM references). Label: a purchase in (as_of, as_of + horizon_days].
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

WINDOWS = (30, 60, 90, 180, 365)


def customer_lines(orders: DataFrame) -> DataFrame:
    """Product lines of known customers of a mapped orders table.

    Returns:
        `person_id`, `order_id`, `day`, `product_id`, `quantity`, `amount` (the line total; returns
        keep their negative quantity and amount) and `is_return`.
    """
    amount = F.col("line_total") if "line_total" in orders.columns else F.lit(None)
    return orders.where(F.col("account_id").isNotNull() & (F.col("line_class") == F.lit("product"))).select(
        F.col("account_id").alias("person_id"),
        "order_id",
        F.to_date("order_ts").alias("day"),
        "product_id",
        F.col("quantity").cast("long").alias("quantity"),
        F.coalesce(amount, F.col("quantity") * F.col("unit_price")).cast("double").alias("amount"),
        (F.col("status") == F.lit("returned")).alias("is_return"),
    )


def _is_purchase() -> Column:
    return ~F.col("is_return") & (F.col("quantity") > 0)


def purchase_days(lines: DataFrame) -> DataFrame:
    """One row per (person_id, day) with a purchase and the day's `amount` (the BTYD unit)."""
    return lines.where(_is_purchase()).groupBy("person_id", "day").agg(F.sum("amount").alias("amount"))


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den)


def _interval_stats(days: DataFrame) -> DataFrame:
    """Inter-purchase time statistics per person from purchase days: mean, sd, min, max, last gap."""
    w = Window.partitionBy("person_id").orderBy("day")
    gaps = days.withColumn("gap", F.datediff("day", F.lag("day").over(w)).cast("double"))
    last = Window.partitionBy("person_id").orderBy(F.col("day").desc())
    gaps = gaps.withColumn("_latest", F.row_number().over(last) == 1)
    return gaps.groupBy("person_id").agg(
        F.stddev_samp("gap").alias("sd_days_between_orders"),
        F.min("gap").alias("min_days_between_orders"),
        F.max("gap").alias("max_days_between_orders"),
        F.max(F.when(F.col("_latest"), F.col("gap"))).alias("last_days_between_orders"),
    )


def _seasonality(days: DataFrame, *, as_of: dt.date, horizon_days: int) -> DataFrame:
    """The customer's own seasonality: purchase days in the coming window's weeks one year before,
    and the share of their purchase days that fell in those calendar weeks (any year)."""
    year_ago = as_of - dt.timedelta(days=365)
    same_window = (F.col("day") > F.lit(year_ago)) & (F.col("day") <= F.lit(year_ago + dt.timedelta(days=horizon_days)))
    week = F.weekofyear("day")
    start_week = as_of.isocalendar()[1]
    end_week = (as_of + dt.timedelta(days=horizon_days)).isocalendar()[1]
    in_weeks = (
        (week > start_week) & (week <= end_week) if end_week > start_week else (week > start_week) | (week <= end_week)
    )
    return days.groupBy("person_id").agg(
        F.count(F.when(same_window, True)).cast("double").alias("orders_same_window_last_year"),
        _ratio(F.count(F.when(in_weeks, True)).cast("double"), F.count("*")).alias("share_in_coming_weeks"),
    )


def _per_order(purchases: DataFrame, *, as_of: dt.date) -> DataFrame:
    """Per person, from their orders (purchase lines grouped by order): counts, days, spend, basket
    size and the windowed counts and revenue as of `as_of`."""
    orders = purchases.groupBy("person_id", "order_id").agg(
        F.min("day").alias("day"),
        F.sum("amount").alias("amount"),
        F.sum("quantity").alias("items"),
        F.count("*").alias("lines"),
    )
    ago = F.datediff(F.lit(as_of), F.col("day"))
    in_days = lambda n: ago < F.lit(n)  # noqa: E731 - the last n days, as_of included
    return orders.groupBy("person_id").agg(
        F.count("*").alias("orders_ever"),
        F.countDistinct("day").alias("purchase_days_ever"),
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.sum("amount").alias("revenue_ever"),
        F.avg("amount").alias("avg_order_value"),
        F.expr("percentile_approx(amount, 0.5)").alias("median_order_value"),
        F.avg("items").alias("items_per_order"),
        F.avg("lines").alias("lines_per_order"),
        F.countDistinct(F.date_trunc("month", F.col("day"))).alias("active_months"),
        *[F.count(F.when(in_days(n), True)).alias(f"orders_{n}d") for n in WINDOWS],
        *[F.sum(F.when(in_days(n), F.col("amount")).otherwise(0.0)).alias(f"revenue_{n}d") for n in (90, 365)],
        F.count(F.when((ago >= 90) & (ago < 180), True)).alias("orders_prev_90d"),
    )


def _per_line(past: DataFrame) -> DataFrame:
    """Per person, from all their lines (returns included): distinct products bought, lines and
    amount returned."""
    return past.groupBy("person_id").agg(
        F.countDistinct(F.when(~F.col("is_return"), F.col("product_id"))).alias("distinct_products"),
        F.count(F.when(F.col("is_return"), True)).alias("returned_lines"),
        F.count(F.when(~F.col("is_return"), True)).alias("bought_lines"),
        F.sum(F.when(F.col("is_return"), -F.col("amount")).otherwise(0.0)).alias("returned_amount"),
    )


def with_order_features(lines: DataFrame, *, as_of: dt.date, horizon_days: int) -> DataFrame:
    """One row per customer with a purchase on or before `as_of`: RFM, rhythm, basket, returns,
    trend, seasonality.

    Returns:
        `person_id`, `as_of_date` and the numeric features of `FEATURES`; nulls mean "not defined"
        (e.g. no interval with a single purchase day) and are imputed by the model's inputs.
    """
    past = lines.where(F.col("day") <= F.lit(as_of))
    purchases = past.where(_is_purchase())
    per_order = _per_order(purchases, as_of=as_of)
    per_line = _per_line(past)
    days = purchases.select("person_id", "day").distinct()
    recency = F.datediff(F.lit(as_of), F.col("last_day")).cast("double")
    age = F.datediff(F.lit(as_of), F.col("first_day")).cast("double")
    interval = _ratio(F.datediff(F.col("last_day"), F.col("first_day")).cast("double"), F.col("purchase_days_ever") - 1)
    sd = F.col("sd_days_between_orders")
    return (
        per_order.join(per_line, on="person_id", how="left")
        .join(_interval_stats(days), on="person_id", how="left")
        .join(_seasonality(days, as_of=as_of, horizon_days=horizon_days), on="person_id", how="left")
        .select(
            "person_id",
            F.lit(as_of).alias("as_of_date"),
            F.col("orders_ever").cast("double"),
            F.col("purchase_days_ever").cast("double"),
            recency.alias("days_since_last_order"),
            age.alias("days_since_first_order"),
            interval.alias("mean_days_between_orders"),
            _ratio(recency, interval).alias("recency_over_interval"),
            _ratio(F.col("purchase_days_ever") - 1, age).alias("repeat_rate_per_day"),
            F.col("active_months").cast("double"),
            *[F.col(f"orders_{n}d").cast("double") for n in WINDOWS],
            (F.col("orders_90d") - F.col("orders_prev_90d")).cast("double").alias("orders_trend_90d"),
            F.col("revenue_ever"),
            F.col("revenue_90d"),
            F.col("revenue_365d"),
            "avg_order_value",
            "median_order_value",
            "items_per_order",
            "lines_per_order",
            F.col("distinct_products").cast("double"),
            _ratio(F.col("returned_lines").cast("double"), F.col("returned_lines") + F.col("bought_lines")).alias(
                "return_line_share"
            ),
            _ratio(F.col("returned_amount"), F.col("revenue_ever")).alias("return_amount_share"),
            sd,
            F.col("min_days_between_orders"),
            F.col("max_days_between_orders"),
            F.col("last_days_between_orders"),
            _ratio(sd, interval).alias("cv_days_between_orders"),
            F.when(sd > 0, (recency - interval) / sd).alias("recency_z"),
            _ratio(recency, F.col("max_days_between_orders")).alias("recency_over_max_interval"),
            F.col("orders_same_window_last_year"),
            F.col("share_in_coming_weeks"),
        )
    )


BASE_FEATURES = [
    "orders_ever",
    "purchase_days_ever",
    "days_since_last_order",
    "days_since_first_order",
    "mean_days_between_orders",
    "recency_over_interval",
    "repeat_rate_per_day",
    "active_months",
    *[f"orders_{n}d" for n in WINDOWS],
    "orders_trend_90d",
    "revenue_ever",
    "revenue_90d",
    "revenue_365d",
    "avg_order_value",
    "median_order_value",
    "items_per_order",
    "lines_per_order",
    "distinct_products",
    "return_line_share",
    "return_amount_share",
]
INTERVAL_FEATURES = [
    "sd_days_between_orders",
    "min_days_between_orders",
    "max_days_between_orders",
    "last_days_between_orders",
    "cv_days_between_orders",
    "recency_z",
    "recency_over_max_interval",
]
SEASONAL_FEATURES = ["orders_same_window_last_year", "share_in_coming_weeks"]
BTYD_FEATURES = ["p_alive", "expected_purchases"]
# Feature groups tried on top of BASE_FEATURES (kept when they help on validation persons).
GROUPS = {"intervals": INTERVAL_FEATURES, "seasonality": SEASONAL_FEATURES, "btyd": BTYD_FEATURES}
RFM_FEATURES = ["days_since_last_order", "orders_ever", "revenue_ever"]
SIGNED = {"orders_trend_90d", "recency_z"}  # may be negative: left out of the log-scaled logistic baseline


def with_purchase_label(features: DataFrame, lines: DataFrame, *, as_of: dt.date, horizon_days: int) -> DataFrame:
    """`label` 1.0 when the customer buys (a product line, not a return) in (as_of, as_of + horizon],
    and `future_spend`: what they spent on purchases in that window (0 when nothing)."""
    end = as_of + dt.timedelta(days=horizon_days)
    window = lines.where(_is_purchase() & (F.col("day") > F.lit(as_of)) & (F.col("day") <= F.lit(end)))
    buyers = window.groupBy("person_id").agg(F.sum("amount").alias("future_spend"))
    return features.join(buyers, on="person_id", how="left").select(
        *features.columns,
        F.when(F.col("future_spend").isNotNull(), F.lit(1.0)).otherwise(F.lit(0.0)).alias("label"),
        F.coalesce(F.col("future_spend"), F.lit(0.0)).alias("future_spend"),
    )
