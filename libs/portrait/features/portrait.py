"""The point-in-time portrait: every window feature at every as-of date in one pass.

Daily activity rows and one empty "as-of" row per (person, as-of date) are stacked; a per-person
window over the day number with `rangeBetween(-(n-1), 0)` then gives each n-day feature at each
as-of row in one shuffle. The frames end at the as-of day itself, so nothing after the end of
the as-of date can reach a feature.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait.features.daily import EVENT_METRICS, ORDER_METRICS, SOCIAL_METRICS, category_column

# metric -> the windows (days) it is summed over.
WINDOWS: dict[str, tuple[int, ...]] = {
    "orders": (7, 30, 60, 90, 365),
    "revenue": (7, 30, 60, 90, 365),
    "sessions": (7, 30, 90),
    "page_views": (30, 90),
    "product_views": (30, 90),
    "searches": (30,),
    "cart_adds": (30, 90),
    "checkouts": (30,),
    "sessions_with_cart": (30,),
    "sessions_with_cart_checkout": (30,),
    "dwell_ms": (30,),
    "mobile_events": (30,),
    "events": (30,),
    "items": (90,),
    "discount": (90,),
    "coupon_lines": (90,),
    "order_lines": (90,),
    "returned_lines": (90,),
    "posts": (90,),
    "reviews": (90,),
    "rating_sum": (90,),
    "likes_received": (90,),
    "shares_received": (90,),
}
CONSENT_CHANNELS = ("sms", "email", "push", "wechat")


def _day_num(c: Column) -> Column:
    return F.datediff(c, F.lit("1970-01-01"))


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den)


def as_of_rows(daily: DataFrame, customers: DataFrame, as_of_dates: list[dt.date]) -> DataFrame:
    """(person_id, as_of_date) for every person known by each as-of date (first activity or signup)."""
    first_seen = daily.groupBy("person_id").agg(F.min("day").alias("first_day")).unionByName(
        customers.where(F.col("person_id").isNotNull()).select("person_id", F.col("signup_date").alias("first_day"))
    ).groupBy("person_id").agg(F.min("first_day").alias("first_day"))
    dates = daily.sparkSession.createDataFrame([(d,) for d in as_of_dates], "as_of_date date")
    return first_seen.crossJoin(F.broadcast(dates)).where(
        F.col("first_day").isNull() | (F.col("first_day") <= F.col("as_of_date"))
    ).select("person_id", "as_of_date")


def window_features(daily: DataFrame, markers: DataFrame, *, categories: list[str]) -> DataFrame:
    """Sum every metric over its windows ending at each marker's as-of date."""
    cats = [category_column(c) for c in categories]
    metrics = list(EVENT_METRICS) + cats + list(ORDER_METRICS) + list(SOCIAL_METRICS)
    activity = daily.select(
        "person_id", _day_num(F.col("day")).alias("day_num"), F.lit(None).cast("date").alias("as_of_date"), *metrics
    )
    marks = markers.select(
        "person_id", _day_num(F.col("as_of_date")).alias("day_num"), "as_of_date", *[F.lit(0.0).alias(m) for m in metrics]
    )
    w = Window.partitionBy("person_id").orderBy("day_num")
    sums = [
        F.sum(m).over(w.rangeBetween(-(n - 1), 0)).alias(f"{m}_{n}d")
        for m, windows in WINDOWS.items() for n in windows
    ] + [F.sum(c).over(w.rangeBetween(-89, 0)).alias(f"{c}_90d") for c in cats]
    ever = w.rangeBetween(Window.unboundedPreceding, 0)
    last = [
        F.max(F.when(F.col("orders") > 0, F.col("day_num"))).over(ever).alias("last_order_day"),
        F.max(F.when(F.col("events") > 0, F.col("day_num"))).over(ever).alias("last_visit_day"),
        F.sum("orders").over(ever).alias("orders_ever"),
    ]
    stacked = activity.unionByName(marks)
    return stacked.select("person_id", "as_of_date", "day_num", *sums, *last).where(F.col("as_of_date").isNotNull())


def with_derived(df: DataFrame, *, categories: list[str]) -> DataFrame:
    """Ratios, recency, trends and the preferred category from the window sums."""
    view_cols = [f"{category_column(c)}_90d" for c in categories]
    best = F.greatest(*[F.col(c) for c in view_cols]) if view_cols else F.lit(None)
    preferred = F.coalesce(*[F.when((F.col(v) == best) & (best > 0), F.lit(c)) for v, c in zip(view_cols, categories)])
    return df.select(
        "*",
        (F.col("day_num") - F.col("last_order_day")).alias("days_since_last_order"),
        (F.col("day_num") - F.col("last_visit_day")).alias("days_since_last_visit"),
        _ratio(F.col("revenue_90d"), F.col("orders_90d")).alias("avg_order_value_90d"),
        _ratio(F.col("coupon_lines_90d"), F.col("order_lines_90d")).alias("coupon_share_90d"),
        _ratio(F.col("discount_90d"), F.col("revenue_90d") + F.col("discount_90d")).alias("discount_share_90d"),
        _ratio(F.col("returned_lines_90d"), F.col("order_lines_90d") + F.col("returned_lines_90d")).alias("return_rate_90d"),
        (1 - _ratio(F.col("sessions_with_cart_checkout_30d"), F.col("sessions_with_cart_30d"))).alias("cart_abandonment_rate_30d"),
        _ratio(F.col("mobile_events_30d"), F.col("events_30d")).alias("mobile_share_30d"),
        _ratio(F.col("dwell_ms_30d") / 1000.0, F.col("sessions_30d")).alias("dwell_seconds_per_session_30d"),
        (F.col("orders_30d") - (F.col("orders_60d") - F.col("orders_30d"))).alias("orders_trend_30d"),
        (F.col("revenue_30d") - (F.col("revenue_60d") - F.col("revenue_30d"))).alias("revenue_trend_30d"),
        _ratio(F.col("rating_sum_90d"), F.col("reviews_90d")).alias("avg_review_rating_90d"),
        preferred.alias("preferred_category_90d"),
        _ratio(best, F.col("product_views_90d")).alias("preferred_category_share_90d"),
    ).drop("day_num", "last_order_day", "last_visit_day")


def person_profile(customers: DataFrame) -> DataFrame:
    """One CRM profile per person (the most recently updated of their accounts)."""
    w = Window.partitionBy("person_id").orderBy(F.col("consent_updated_at").desc_nulls_last(), F.col("account_id"))
    return (
        customers.where(F.col("person_id").isNotNull())
        .withColumn("_rn", F.row_number().over(w))
        .where(F.col("_rn") == 1)
        .select(
            "person_id", "gender", "birth_year", "city_tier", "signup_date",
            *[F.coalesce(F.col(f"consent_{c}"), F.lit(False)).alias(f"consent_{c}") for c in CONSENT_CHANNELS],
        )
    )


def build_portrait(
    daily: DataFrame, customers: DataFrame, as_of_dates: list[dt.date], *, categories: list[str], history_days: int
) -> DataFrame:
    """The portrait of every known person at each as-of date.

    Args:
        daily: `daily.daily_activity` output (may hold days after some as-of dates: frames stop at each).
        customers: `silver.customers`.
        as_of_dates: the dates to compute (a few; one for the daily run).
        categories: the product categories with an affinity feature.
        history_days: how far back any window may look.

    Returns:
        One row per (person_id, as_of_date): window features, derived features, profile and consent.
    """
    lo = min(as_of_dates) - dt.timedelta(days=history_days)
    hi = max(as_of_dates)
    recent = daily.where(F.col("day").between(F.lit(lo), F.lit(hi)))
    markers = as_of_rows(recent, customers, as_of_dates)
    windows = with_derived(window_features(recent, markers, categories=categories), categories=categories)
    profile = person_profile(customers)
    with_profile = windows.join(profile, on="person_id", how="left")
    return with_profile.select(
        *[c for c in windows.columns],
        F.col("gender"),
        (F.year("as_of_date") - F.col("birth_year")).alias("age"),
        F.col("city_tier"),
        F.when(F.col("signup_date") <= F.col("as_of_date"), F.datediff("as_of_date", "signup_date")).alias("tenure_days"),
        *[F.coalesce(F.col(f"consent_{c}"), F.lit(False)).alias(f"consent_{c}") for c in CONSENT_CHANNELS],
    )


NUMERIC_EXCLUDE = {"person_id", "as_of_date", "gender", "preferred_category_90d"}


def numeric_feature_columns(portrait: DataFrame) -> list[str]:
    """The portrait's numeric features, in table order (what the models use)."""
    return [f.name for f in portrait.schema.fields
            if f.name not in NUMERIC_EXCLUDE and f.dataType.typeName() in ("double", "long", "integer", "boolean")]
