"""Per (person, day) activity: the one aggregation every window feature is computed from.

Each source is aggregated once to (person_id, day); the portrait's windows then move over these
rows. A new day of data only adds rows here, which is what makes an incremental run cheap.
"""
from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

EVENT_METRICS = (
    "events", "page_views", "product_views", "searches", "cart_adds", "checkouts", "sessions",
    "sessions_with_cart", "sessions_with_cart_checkout", "dwell_ms", "mobile_events",
)
ORDER_METRICS = ("orders", "revenue", "items", "discount", "coupon_lines", "order_lines", "returned_lines")
SOCIAL_METRICS = ("posts", "reviews", "rating_sum", "likes_received", "shares_received")


def category_column(category: str) -> str:
    return f"views_{category}"


def event_days(events: DataFrame, *, categories: list[str]) -> DataFrame:
    """Clickstream events -> one row per (person_id, day, session) folded to (person_id, day)."""
    e = events.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("ts"))
    is_type = {t: (F.col("event_type") == t).cast("int") for t in
               ("page_view", "product_view", "search", "add_to_cart", "checkout")}
    per_session = e.groupBy("person_id", "day", "session_id").agg(
        F.count("*").alias("events"),
        F.sum(is_type["page_view"]).alias("page_views"),
        F.sum(is_type["product_view"]).alias("product_views"),
        F.sum(is_type["search"]).alias("searches"),
        F.sum(is_type["add_to_cart"]).alias("cart_adds"),
        F.sum(is_type["checkout"]).alias("checkouts"),
        F.sum(F.coalesce("dwell_ms", F.lit(0))).alias("dwell_ms"),
        F.sum((F.col("device_type") == "mobile").cast("int")).alias("mobile_events"),
        *[
            F.sum(((F.col("event_type") == "product_view") & (F.col("category") == c)).cast("int")).alias(category_column(c))
            for c in categories
        ],
    )
    return per_session.groupBy("person_id", "day").agg(
        *[F.sum(m).alias(m) for m in ("events", "page_views", "product_views", "searches", "cart_adds",
                                      "checkouts", "dwell_ms", "mobile_events")],
        F.count("*").alias("sessions"),
        F.sum((F.col("cart_adds") > 0).cast("int")).alias("sessions_with_cart"),
        F.sum(((F.col("cart_adds") > 0) & (F.col("checkouts") > 0)).cast("int")).alias("sessions_with_cart_checkout"),
        *[F.sum(category_column(c)).alias(category_column(c)) for c in categories],
    )


def order_days(orders: DataFrame) -> DataFrame:
    """Completed order lines -> (person_id, day) counts and amounts (returns counted apart)."""
    o = orders.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("order_ts"))
    completed = F.col("status") == "completed"
    amount = F.col("quantity") * F.col("unit_price").cast("double") - F.coalesce(F.col("discount_amount").cast("double"), F.lit(0.0))
    return o.groupBy("person_id", "day").agg(
        F.countDistinct(F.when(completed, F.col("order_id"))).alias("orders"),
        F.sum(F.when(completed, amount).otherwise(0.0)).alias("revenue"),
        F.sum(F.when(completed, F.col("quantity")).otherwise(0)).alias("items"),
        F.sum(F.when(completed, F.coalesce(F.col("discount_amount").cast("double"), F.lit(0.0))).otherwise(0.0)).alias("discount"),
        F.sum((completed & F.col("coupon_code").isNotNull()).cast("int")).alias("coupon_lines"),
        F.sum(completed.cast("int")).alias("order_lines"),
        F.sum((F.col("status") == "returned").cast("int")).alias("returned_lines"),
    )


def social_days(social: DataFrame) -> DataFrame:
    """Social records -> (person_id, day) posts, reviews, ratings and engagement received."""
    s = social.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("ts"))
    return s.groupBy("person_id", "day").agg(
        F.count("*").alias("posts"),
        F.sum((F.col("post_type") == "review").cast("int")).alias("reviews"),
        F.sum(F.coalesce("rating", F.lit(0))).alias("rating_sum"),
        F.sum(F.coalesce("likes", F.lit(0))).alias("likes_received"),
        F.sum(F.coalesce("shares", F.lit(0))).alias("shares_received"),
    )


def daily_activity(events: DataFrame, orders: DataFrame, social: DataFrame, *, categories: list[str]) -> DataFrame:
    """One row per (person_id, day) with every daily metric (0 where a source had nothing)."""
    parts = [event_days(events, categories=categories), order_days(orders), social_days(social)]
    metrics = list(EVENT_METRICS) + [category_column(c) for c in categories] + list(ORDER_METRICS) + list(SOCIAL_METRICS)
    # Union with typed zero-filled columns instead of two full outer joins: one shuffle, no row blow-up.
    aligned = [
        p.select("person_id", "day", *[(F.col(m) if m in p.columns else F.lit(0)).cast("double").alias(m) for m in metrics])
        for p in parts
    ]
    stacked = reduce(DataFrame.unionByName, aligned)
    return stacked.groupBy("person_id", "day").agg(*[F.sum(m).alias(m) for m in metrics])
