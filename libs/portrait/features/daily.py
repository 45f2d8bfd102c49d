"""Per (person, day) activity: the one aggregation every window feature is computed from.

Each source is aggregated once to (person_id, day); the portrait's windows then move over these
rows. A new day of data only adds rows here, which is what makes an incremental run cheap.

Days are UTC days (the as-of date D ends at 24:00 UTC); hour-of-day and day-of-week habits use
the customers' local clock (`LOCAL_TIMEZONE`), because "evening" means the evening where they live.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import order_lines

# The customers' clock for time-of-day and weekday habits (the generator's persons live in China time).
LOCAL_TIMEZONE = "Asia/Shanghai"
# Local hour ranges [start, end) of the four day parts.
DAY_PARTS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
# Values the tracking SDK sends (generator/catalog.py); any other value counts only in the totals.
CHANNELS = ("app", "web", "mini_program")
DEVICES = ("mobile", "desktop", "tablet")

EVENT_METRICS = (
    "events",
    "page_views",
    "product_views",
    "searches",
    "cart_adds",
    "cart_removes",
    "checkouts",
    "sessions",
    "sessions_with_view",
    "sessions_with_cart",
    "sessions_with_cart_checkout",
    "dwell_ms",
    "visit_days",
    "weekend_events",
    *[f"{part}_events" for part in DAY_PARTS],
    *[f"channel_{c}_events" for c in CHANNELS],
    *[f"device_{d}_events" for d in DEVICES],
)
ORDER_METRICS = ("orders", "revenue", "items", "discount", "coupon_lines", "order_lines", "returned_lines")
SOCIAL_METRICS = ("posts", "reviews", "ratings", "rating_sum", "likes_received", "shares_received")
# From `silver.social_signals` (the text model): records scored, by sentiment, and the score sum.
TEXT_METRICS = ("scored_posts", "positive_posts", "negative_posts", "sentiment_sum")


def category_column(category: str) -> str:
    """Daily product views of `category`."""
    return f"views_{category}"


def spend_column(category: str) -> str:
    """Daily completed spend on `category`."""
    return f"spend_{category}"


def topic_column(category: str) -> str:
    """Daily social records whose text the text model gives the topic `category`."""
    return f"topic_{category}_posts"


def daily_metrics(categories: list[str]) -> list[str]:
    """Every metric column of `daily_activity`, in order."""
    return [
        *EVENT_METRICS,
        *map(category_column, categories),
        *ORDER_METRICS,
        *map(spend_column, categories),
        *SOCIAL_METRICS,
        *TEXT_METRICS,
        *map(topic_column, categories),
    ]


def _count(condition: Column) -> Column:
    return F.sum(condition.cast("int"))


def event_days(events: DataFrame, *, categories: list[str], timezone: str = LOCAL_TIMEZONE) -> DataFrame:
    """Clickstream events -> one row per (person_id, day, session) folded to (person_id, day)."""
    # from_utc_timestamp shifts the instant so that hour()/dayofweek() in the UTC session read local time.
    local = F.from_utc_timestamp(F.col("ts"), timezone)
    e = events.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("ts"))
    is_type = lambda t: F.col("event_type") == t  # noqa: E731 - one-line predicate
    hour = F.hour(local)
    per_session = e.groupBy("person_id", "day", "session_id").agg(
        F.count("*").alias("events"),
        _count(is_type("page_view")).alias("page_views"),
        _count(is_type("product_view")).alias("product_views"),
        _count(is_type("search")).alias("searches"),
        _count(is_type("add_to_cart")).alias("cart_adds"),
        _count(is_type("remove_from_cart")).alias("cart_removes"),
        _count(is_type("checkout")).alias("checkouts"),
        F.sum(F.coalesce("dwell_ms", F.lit(0))).alias("dwell_ms"),
        _count(F.dayofweek(local).isin(1, 7)).alias("weekend_events"),
        *[_count((hour >= lo) & (hour < hi)).alias(f"{part}_events") for part, (lo, hi) in DAY_PARTS.items()],
        *[_count(F.col("channel") == c).alias(f"channel_{c}_events") for c in CHANNELS],
        *[_count(F.col("device_type") == d).alias(f"device_{d}_events") for d in DEVICES],
        *[_count(is_type("product_view") & (F.col("category") == c)).alias(category_column(c)) for c in categories],
    )
    summed = [
        m
        for m in EVENT_METRICS
        if m
        not in ("sessions", "sessions_with_view", "sessions_with_cart", "sessions_with_cart_checkout", "visit_days")
    ]
    has = lambda m: F.coalesce(F.col(m), F.lit(0)) > 0  # noqa: E731 - one-line predicate
    return per_session.groupBy("person_id", "day").agg(
        *[F.sum(m).alias(m) for m in summed],
        F.count("*").alias("sessions"),
        _count(has("product_views")).alias("sessions_with_view"),
        _count(has("cart_adds")).alias("sessions_with_cart"),
        _count(has("cart_adds") & has("checkouts")).alias("sessions_with_cart_checkout"),
        F.lit(1).alias("visit_days"),
        *[F.sum(category_column(c)).alias(category_column(c)) for c in categories],
    )


def order_days(orders: DataFrame, *, categories: list[str]) -> DataFrame:
    """Completed order lines -> (person_id, day) counts and amounts (returns counted apart)."""
    o = orders.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("order_ts"))
    completed = order_lines.is_completed()
    discount = order_lines.discount()
    amount = order_lines.net_amount()
    return o.groupBy("person_id", "day").agg(
        F.countDistinct(F.when(completed, F.col("order_id"))).alias("orders"),
        F.sum(F.when(completed, amount).otherwise(0.0)).alias("revenue"),
        F.sum(F.when(completed, F.col("quantity")).otherwise(0)).alias("items"),
        F.sum(F.when(completed, discount).otherwise(0.0)).alias("discount"),
        _count(completed & F.col("coupon_code").isNotNull()).alias("coupon_lines"),
        _count(completed).alias("order_lines"),
        _count(F.col("status") == "returned").alias("returned_lines"),
        *[
            F.sum(F.when(completed & (F.col("category") == c), amount).otherwise(0.0)).alias(spend_column(c))
            for c in categories
        ],
    )


def social_days(social: DataFrame, *, categories: list[str] = ()) -> DataFrame:  # type: ignore[assignment]
    """Social records -> (person_id, day) posts, reviews, ratings, engagement received and text signals.

    The text signals (`sentiment`, `sentiment_score`, `topic` from `silver.social_signals`) are
    optional columns: without them (no text model yet) their metrics are 0.
    """
    s = social.where(F.col("person_id").isNotNull()).withColumn("day", F.to_date("ts"))
    for name, kind in (("sentiment", "string"), ("sentiment_score", "double"), ("topic", "string")):
        if name not in s.columns:
            s = s.withColumn(name, F.lit(None).cast(kind))
    return s.groupBy("person_id", "day").agg(
        F.count("sentiment").alias("scored_posts"),
        _count(F.col("sentiment") == "positive").alias("positive_posts"),
        _count(F.col("sentiment") == "negative").alias("negative_posts"),
        F.sum("sentiment_score").alias("sentiment_sum"),
        *[_count(F.col("topic") == c).alias(topic_column(c)) for c in categories],
        F.count("*").alias("posts"),
        _count(F.col("post_type") == "review").alias("reviews"),
        F.count("rating").alias("ratings"),
        F.sum("rating").alias("rating_sum"),
        F.sum(F.coalesce("likes", F.lit(0))).alias("likes_received"),
        F.sum(F.coalesce("shares", F.lit(0))).alias("shares_received"),
    )


def daily_activity(
    events: DataFrame, orders: DataFrame, social: DataFrame, *, categories: list[str], timezone: str = LOCAL_TIMEZONE
) -> DataFrame:
    """One row per (person_id, day) with every daily metric (0 where a source had nothing).

    A row exists only for a day with at least one event, order line or social record: the portrait
    reads "has a row in the window" as "was active".
    """
    parts = [
        event_days(events, categories=categories, timezone=timezone),
        order_days(orders, categories=categories),
        social_days(social, categories=categories),
    ]
    metrics = daily_metrics(categories)
    # Union with typed zero-filled columns instead of two full outer joins: one shuffle, no row blow-up.
    aligned = [
        p.select(
            "person_id",
            "day",
            *[
                F.coalesce(F.col(m).cast("double"), F.lit(0.0)).alias(m) if m in p.columns else F.lit(0.0).alias(m)
                for m in metrics
            ],
        )
        for p in parts
    ]
    stacked = reduce(DataFrame.unionByName, aligned)
    return stacked.groupBy("person_id", "day").agg(*[F.sum(m).alias(m) for m in metrics])
