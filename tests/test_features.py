"""Features: window sums at as-of dates, recency, ratios, and nothing after D reaches a feature of D."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.features.daily import daily_activity
from portrait.features.portrait import build_portrait

D = dt.date(2026, 11, 1)
CATS = ["toys", "books"]


def _events(spark, rows):
    return spark.createDataFrame(rows, "person_id string, session_id string, event_type string, ts timestamp, "
                                       "category string, device_type string, dwell_ms long")


def _orders(spark, rows):
    from decimal import Decimal

    rows = [(*r[:4], Decimal(r[4]), None if r[5] is None else Decimal(r[5]), *r[6:]) for r in rows]
    return spark.createDataFrame(rows, "person_id string, order_id string, order_ts timestamp, quantity int, "
                                       "unit_price decimal(12,2), discount_amount decimal(12,2), coupon_code string, "
                                       "status string")


def _social(spark, rows=()):
    return spark.createDataFrame(list(rows), "person_id string, post_type string, rating int, likes int, shares int, ts timestamp")


def _customers(spark, rows=()):
    return spark.createDataFrame(list(rows), "person_id string, account_id string, gender string, birth_year int, "
                                             "city_tier int, signup_date date, consent_sms boolean, consent_email boolean, "
                                             "consent_push boolean, consent_wechat boolean, consent_updated_at timestamp")


def ts(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def days_ago(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


@pytest.fixture()
def inputs(spark):
    events = _events(spark, [
        ("p1", "s1", "product_view", ts(days_ago(0)), "toys", "mobile", 1000),
        ("p1", "s1", "add_to_cart", ts(days_ago(0)), "toys", "mobile", 500),
        ("p1", "s2", "product_view", ts(days_ago(10)), "books", "desktop", 2000),
        ("p1", "s3", "product_view", ts(days_ago(40)), "books", "desktop", 2000),
        ("p1", "s3", "add_to_cart", ts(days_ago(40)), "books", "desktop", 100),
        ("p1", "s3", "checkout", ts(days_ago(40)), "books", "desktop", 100),
        ("p2", "s9", "page_view", ts(days_ago(100)), None, "mobile", 300),
    ])
    orders = _orders(spark, [
        ("p1", "o1", ts(days_ago(5)), 2, 10, 1, None, "completed"),       # 19.00
        ("p1", "o2", ts(days_ago(40)), 1, 50, None, "SAVE", "completed"),  # 50.00 with a coupon
        ("p1", "o3", ts(days_ago(3)), 1, 99, None, None, "cancelled"),      # not revenue
    ])
    customers = _customers(spark, [
        ("p1", "A1", "F", 1990, 1, dt.date(2020, 1, 1), True, False, None, True, ts(days_ago(1))),
        ("p3", "A3", None, None, 2, dt.date(2026, 10, 30), False, False, False, False, ts(days_ago(2))),
    ])
    return events, orders, _social(spark), customers


def _portrait(inputs, dates):
    events, orders, social, customers = inputs
    daily = daily_activity(events, orders, social, categories=CATS)
    return build_portrait(daily, customers, dates, categories=CATS, history_days=365)


def test_window_features_and_profile(spark, inputs):
    got = _portrait(inputs, [D]).select(
        "person_id", "orders_7d", "orders_90d", "revenue_30d", "revenue_90d", "days_since_last_order",
        "days_since_last_visit", "sessions_30d", "cart_adds_30d", "cart_abandonment_rate_30d",
        "coupon_share_90d", "preferred_category_90d", "age", "tenure_days", "consent_sms", "consent_push",
    )
    want = spark.createDataFrame([
        ("p1", 1.0, 2.0, 19.0, 69.0, 5, 0, 2.0, 1.0, 1.0, 0.5, "books", 36, (D - dt.date(2020, 1, 1)).days, True, False),
        ("p2", 0.0, 0.0, 0.0, 0.0, None, 100, 0.0, 0.0, None, None, None, None, None, False, False),
        ("p3", 0.0, 0.0, 0.0, 0.0, None, None, 0.0, 0.0, None, None, None, None, 2, False, False),
    ], "person_id string, orders_7d double, orders_90d double, revenue_30d double, revenue_90d double, "
       "days_since_last_order int, days_since_last_visit int, sessions_30d double, cart_adds_30d double, "
       "cart_abandonment_rate_30d double, coupon_share_90d double, preferred_category_90d string, age int, "
       "tenure_days int, consent_sms boolean, consent_push boolean")
    assertDataFrameEqual(got, want)


def test_nothing_after_the_as_of_date_changes_its_features(spark, inputs):
    events, orders, social, customers = inputs
    later = D + dt.timedelta(days=1)
    extreme_orders = orders.unionByName(_orders(spark, [("p1", "big", ts(later), 1000, 99999, None, None, "completed")]))
    extreme_events = events.unionByName(_events(spark, [("p2", "x", "add_to_cart", ts(later, 0), "toys", "mobile", 10**9)]))
    before = _portrait(inputs, [D])
    after = _portrait((extreme_events, extreme_orders, social, customers), [D])
    assertDataFrameEqual(after, before)


def test_many_as_of_dates_in_one_pass_equal_one_at_a_time(spark, inputs):
    dates = [D, days_ago(7), days_ago(30)]
    together = _portrait(inputs, dates)
    one_by_one = _portrait(inputs, [dates[0]])
    for d in dates[1:]:
        one_by_one = one_by_one.unionByName(_portrait(inputs, [d]))
    assertDataFrameEqual(together, one_by_one)
    # A person appears only from their first activity on.
    assert together.where((F.col("person_id") == "p1") & (F.col("as_of_date") == days_ago(30))).count() == 1
    assert together.where(F.col("person_id") == "p3").select("as_of_date").collect() == [(D,)]
