"""Features: window sums at as-of dates, derived families, the catalog, and nothing after D reaches a feature of D."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.features.catalog import catalog, to_markdown
from portrait.features.daily import daily_activity
from portrait.features.point_in_time import assert_point_in_time, label_start_after, leaking_rows
from portrait.features.portrait import build_portrait, numeric_feature_columns

ROOT = Path(__file__).resolve().parents[1]
D = dt.date(2026, 11, 1)  # a Sunday
CATS = ["toys", "books"]


def _events(spark, rows):
    return spark.createDataFrame(
        rows,
        "person_id string, session_id string, event_type string, ts timestamp, "
        "category string, device_type string, channel string, dwell_ms long",
    )


def _orders(spark, rows):
    rows = [(*r[:4], Decimal(r[4]), None if r[5] is None else Decimal(r[5]), *r[6:]) for r in rows]
    return spark.createDataFrame(
        rows,
        "person_id string, order_id string, order_ts timestamp, quantity int, "
        "unit_price decimal(12,2), discount_amount decimal(12,2), coupon_code string, "
        "status string, category string",
    )


def _social(spark, rows=()):
    return spark.createDataFrame(
        list(rows), "person_id string, post_type string, rating int, likes int, shares int, ts timestamp"
    )


def _customers(spark, rows=()):
    return spark.createDataFrame(
        list(rows),
        "person_id string, account_id string, gender string, birth_year int, "
        "city_tier int, signup_date date, consent_sms boolean, consent_email boolean, "
        "consent_push boolean, consent_wechat boolean, consent_updated_at timestamp",
    )


def ts(day: dt.date, hour: int = 12) -> dt.datetime:
    """A UTC timestamp; 12:00 UTC is 20:00 (evening) in Shanghai, 01:00 UTC is 09:00 (morning)."""
    return dt.datetime.combine(day, dt.time(hour))


def days_ago(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


def _inputs(spark):
    events = _events(
        spark,
        [
            ("p1", "s1", "product_view", ts(days_ago(0)), "toys", "mobile", "app", 1000),
            ("p1", "s1", "add_to_cart", ts(days_ago(0)), "toys", "mobile", "app", 500),
            ("p1", "s2", "product_view", ts(days_ago(10), 1), "books", "desktop", "web", 2000),
            ("p1", "s3", "product_view", ts(days_ago(40)), "books", "desktop", "mini_program", 2000),
            ("p1", "s3", "add_to_cart", ts(days_ago(40)), "books", "desktop", "mini_program", 100),
            ("p1", "s3", "checkout", ts(days_ago(40)), "books", "desktop", "mini_program", 100),
            ("p2", "s9", "page_view", ts(days_ago(100)), None, "mobile", "app", 300),
            ("p4", "s4", "page_view", ts(days_ago(380)), None, "mobile", "app", 300),  # older than the history window
        ],
    )
    orders = _orders(
        spark,
        [
            ("p1", "o1", ts(days_ago(5)), 2, 10, 1, None, "completed", "toys"),  # 19.00
            ("p1", "o2", ts(days_ago(40)), 1, 50, None, "SAVE", "completed", "books"),  # 50.00 with a coupon
            ("p1", "o3", ts(days_ago(3)), 1, 99, None, None, "cancelled", "toys"),  # not revenue
        ],
    )
    social = _social(
        spark,
        [
            ("p1", "review", 4, 3, 1, ts(days_ago(2))),
            ("p1", "post", None, 5, 0, ts(days_ago(100))),
            ("p2", "comment", None, 0, 0, ts(days_ago(1))),
        ],
    )
    customers = _customers(
        spark,
        [
            ("p1", "A1", "F", 1990, 1, dt.date(2020, 1, 1), True, False, None, True, ts(days_ago(1))),
            ("p3", "A3", None, None, 2, dt.date(2026, 10, 30), False, False, False, False, ts(days_ago(2))),
        ],
    )
    return events, orders, social, customers


def _portrait(inputs, dates, history_days=365):
    events, orders, social, customers = inputs
    daily = daily_activity(events, orders, social, categories=CATS)
    return build_portrait(daily, customers, dates, categories=CATS, history_days=history_days)


@pytest.fixture(scope="module")
def at_d(spark):
    """The portrait as of D, computed once for the module and kept as local rows."""
    df = _portrait(_inputs(spark), [D])
    return df.schema, df.collect()


@pytest.fixture()
def portrait_d(spark, at_d):
    schema, rows = at_d
    return spark.createDataFrame(rows, schema)


def test_window_features_and_profile(spark, portrait_d):
    got = portrait_d.select(
        "person_id",
        "orders_7d",
        "orders_90d",
        "revenue_30d",
        "revenue_90d",
        "days_since_last_order",
        "days_since_last_visit",
        "sessions_30d",
        "cart_adds_30d",
        "cart_abandonment_rate_30d",
        "coupon_share_90d",
        "preferred_category_90d",
        "age",
        "tenure_days",
        "consent_sms",
        "consent_push",
    )
    want = spark.createDataFrame(
        [
            (
                "p1",
                1.0,
                2.0,
                19.0,
                69.0,
                5,
                0,
                2.0,
                1.0,
                1.0,
                0.5,
                "books",
                36,
                (D - dt.date(2020, 1, 1)).days,
                True,
                False,
            ),
            ("p2", 0.0, 0.0, 0.0, 0.0, None, 100, 0.0, 0.0, None, None, None, None, None, False, False),
            ("p3", 0.0, 0.0, 0.0, 0.0, None, None, 0.0, 0.0, None, None, None, None, 2, False, False),
        ],
        "person_id string, orders_7d double, orders_90d double, revenue_30d double, revenue_90d double, "
        "days_since_last_order int, days_since_last_visit int, sessions_30d double, cart_adds_30d double, "
        "cart_abandonment_rate_30d double, coupon_share_90d double, preferred_category_90d string, age int, "
        "tenure_days int, consent_sms boolean, consent_push boolean",
    )
    assertDataFrameEqual(got, want)  # p4 was only active before the history window: not a row


def test_funnel_affinity_habits_and_trends(spark, portrait_d):
    cols = (
        "view_to_cart_rate_90d",
        "cart_to_purchase_rate_90d",
        "view_to_purchase_rate_90d",
        "view_share_toys_90d",
        "view_share_books_90d",
        "spend_share_toys_365d",
        "spend_share_books_365d",
        "top_spend_category_365d",
        "evening_share_90d",
        "morning_share_90d",
        "night_share_90d",
        "weekend_share_90d",
        "channel_share_app_90d",
        "channel_share_mini_program_90d",
        "device_share_desktop_90d",
        "device_share_tablet_90d",
        "orders_trend_30d",
        "revenue_trend_30d",
        "sessions_trend_30d",
        "dwell_seconds_per_session_30d",
        "visit_days_30d",
    )
    got = portrait_d.where(F.col("person_id").isin("p1", "p2")).select("person_id", *cols)
    want = spark.createDataFrame(
        [
            (
                "p1",
                2 / 3,
                0.5,
                1 / 3,
                1 / 3,
                2 / 3,
                19 / 69,
                50 / 69,
                "books",
                5 / 6,
                1 / 6,
                0.0,
                2 / 6,
                2 / 6,
                3 / 6,
                4 / 6,
                0.0,
                0.0,
                -31.0,
                1.0,
                1.75,
                2.0,
            ),
            # p2's only visit is 100 days old: shares of nothing are null, not 0.
            (
                "p2",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                0.0,
                0.0,
                0.0,
                None,
                0.0,
            ),
        ],
        "person_id string, "
        + ", ".join(f"{c} {'string' if c == 'top_spend_category_365d' else 'double'}" for c in cols),
    )
    assertDataFrameEqual(got, want)


def test_social_and_unknown_demographic_buckets(spark, portrait_d):
    got = portrait_d.select(
        "person_id",
        "posts_90d",
        "likes_received_90d",
        "avg_review_rating_90d",
        "days_since_last_post",
        "gender",
        "age",
        "age_band",
        "city_tier",
        "city_tier_band",
    )
    want = spark.createDataFrame(
        [
            ("p1", 1.0, 3.0, 4.0, 2, "F", 36, "35_44", 1, "tier_1"),
            ("p2", 1.0, 0.0, None, 1, "unknown", None, "unknown", None, "unknown"),  # no CRM account
            ("p3", 0.0, 0.0, None, None, "unknown", None, "unknown", 2, "tier_2"),  # account without demographics
        ],
        "person_id string, posts_90d double, likes_received_90d double, avg_review_rating_90d double, "
        "days_since_last_post int, gender string, age int, age_band string, city_tier int, city_tier_band string",
    )
    assertDataFrameEqual(got, want)


def test_the_catalog_lists_exactly_the_portrait_columns(portrait_d):
    rows = catalog(CATS)
    assert [r["name"] for r in rows] == portrait_d.columns
    assert [r["type"] for r in rows] == [f.dataType.simpleString() for f in portrait_d.schema.fields]
    assert all(r["family"] and r["definition"] and r["unit"] for r in rows)


def test_the_committed_catalog_is_the_generated_one():
    committed = (ROOT / "docs" / "feature_catalog.md").read_text(encoding="utf-8")
    assert committed == to_markdown(catalog()), (
        "regenerate: python -m portrait.features.catalog --out docs/feature_catalog.md"
    )


def test_model_inputs_are_numeric_and_known_at_the_as_of_date(portrait_d):
    cols = numeric_feature_columns(portrait_d)
    assert {"orders_90d", "days_since_last_order", "age", "city_tier", "view_share_books_90d"} <= set(cols)
    assert not {
        "person_id",
        "as_of_date",
        "gender",
        "age_band",
        "city_tier_band",
        "preferred_category_90d",
        "latest_input_date",
        "consent_sms",
    } & set(cols)
    assert cols == [c for c in portrait_d.columns if c in cols]  # table order


def _plant_after(spark, inputs, day):
    """Extreme activity from the first second after D, in every source, for known and new persons."""
    events, orders, social, customers = inputs
    new_events = [
        (p, f"x{p}{t}", t, ts(day, h), c, dev, ch, 10**9)
        for p in ("p1", "p2", "p3", "p9")
        for t in ("page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout")
        for h, c, dev, ch in ((0, "toys", "tablet", "web"), (18, "books", "mobile", "app"))
    ]
    new_orders = [
        (p, f"big{p}{s}", ts(day, 0), 1000, "99999", "500", "X", s, c)
        for p in ("p1", "p2", "p9")
        for s, c in (("completed", "toys"), ("returned", "books"))
    ]
    new_social = [(p, t, 1, 10**6, 10**6, ts(day, 0)) for p in ("p1", "p2", "p9") for t in ("review", "post")]
    new_customers = [("p9", "A9", "M", 1950, 3, day, True, True, True, True, ts(day))]
    return (
        events.unionByName(_events(spark, new_events)),
        orders.unionByName(_orders(spark, new_orders)),
        social.unionByName(_social(spark, new_social)),
        customers.unionByName(_customers(spark, new_customers)),
    )


def test_nothing_after_the_as_of_date_changes_any_feature(spark, portrait_d):
    later = D + dt.timedelta(days=1)
    planted = _plant_after(spark, _inputs(spark), later)
    both = _portrait(planted, [D, later]).cache()
    # Every column of every row as of D is unchanged, and nobody first seen after D appears.
    assertDataFrameEqual(both.where(F.col("as_of_date") == D), portrait_d)
    # The planted rows are real input: as of the next day they do change features of every source.
    p1_next = both.where((F.col("person_id") == "p1") & (F.col("as_of_date") == later)).first()
    p1_d = portrait_d.where(F.col("person_id") == "p1").first()
    changed = {c for c in portrait_d.columns if c != "as_of_date" and p1_next[c] != p1_d[c]}
    assert {
        "orders_7d",
        "returned_lines_90d",
        "sessions_7d",
        "night_share_90d",
        "device_share_tablet_90d",
        "spend_share_toys_365d",
        "posts_90d",
        "likes_received_90d",
        "latest_input_date",
    } <= changed
    assert both.where((F.col("person_id") == "p9") & (F.col("as_of_date") == later)).count() == 1


def test_many_as_of_dates_in_one_pass_equal_one_at_a_time(spark):
    inputs = _inputs(spark)
    dates = [D, days_ago(7), days_ago(30)]
    together = _portrait(inputs, dates)
    one_by_one = _portrait(inputs, [dates[0]])
    for d in dates[1:]:
        one_by_one = one_by_one.unionByName(_portrait(inputs, [d]))
    assertDataFrameEqual(together, one_by_one)
    keys = [(r.person_id, r.as_of_date) for r in together.select("person_id", "as_of_date").collect()]
    # A person appears from their first activity on, and drops out once it is older than the history window.
    assert ("p1", days_ago(30)) in keys and [k for k in keys if k[0] == "p3"] == [("p3", D)]
    assert [k for k in keys if k[0] == "p4"] == [("p4", days_ago(30))]


def test_history_shorter_than_the_longest_window_is_refused(spark):
    with pytest.raises(ValueError, match="history_days is 90"):
        _portrait(_inputs(spark), [D], history_days=90)


def test_point_in_time_check_passes_real_rows_and_catches_leaks(spark, portrait_d):
    assert leaking_rows(portrait_d).count() == 0
    assert_point_in_time(portrait_d)
    # Features of D labelled as the day before (an off-by-one in the as-of date): p1 was active on D.
    shifted = portrait_d.withColumn("as_of_date", F.date_sub("as_of_date", 1))
    with pytest.raises(ValueError, match="p1 as of 2026-10-31: latest input 2026-11-01"):
        assert_point_in_time(shifted)
    # A label window starting on the as-of date overlaps the features' last day.
    got = leaking_rows(portrait_d, label_start=label_start_after(0)).select("person_id", "leak")
    want = spark.createDataFrame(
        [(p, "label window starts on or before as_of_date") for p in ("p1", "p2", "p3")],
        "person_id string, leak string",
    )
    assertDataFrameEqual(got, want)


def test_daily_changes_replace_the_day_and_the_redone_persons_rows(spark):
    """The incremental day's MERGE on real Delta tables: which rows a commit rewrites is only visible on a table that has history."""
    from portrait.features.recompute import DELETE, daily_changes

    schema = "person_id string, day date, sessions long"
    d1, d2 = D - dt.timedelta(days=2), D - dt.timedelta(days=1)
    current = spark.createDataFrame(
        [
            ("pA", d1, 1),
            ("pA", D, 1),  # pA: day D recomputed, day d1 untouched
            ("pR", d1, 2),
            ("pR", d2, 3),  # pR redone: d1 changes, d2 vanished (moved to another person)
            ("pX", D, 5),  # pX's row of D is gone from silver
            ("pR", D + dt.timedelta(days=1), 9),  # after D: never touched
        ],
        schema,
    )
    changed = spark.createDataFrame([("pA", D, 2), ("pR", d1, 4), ("pN", D, 1)], schema)
    redo = spark.createDataFrame([("pR",)], "person_id string")
    got = daily_changes(changed, current, redo, date=D)
    want = spark.createDataFrame(
        [
            ("pA", D, 2, False),
            ("pR", d1, 4, False),
            ("pN", D, 1, False),
            ("pR", d2, 3, True),
            ("pX", D, 5, True),
        ],
        f"{schema}, {DELETE} boolean",
    )
    assertDataFrameEqual(got, want)


def test_persons_to_recompute_is_a_distinct_frame_of_moved_and_late_persons(spark):
    from portrait.features.recompute import persons_to_recompute, relanded_dates

    history = spark.createDataFrame(
        [
            (D, "merge", "pM1", ["pM2"]),
            (D, "new", "pN", None),
            (D - dt.timedelta(days=1), "split", "pOld", None),
        ],
        "as_of_date date, change string, person_id string, related_person_ids array<string>",
    )
    early = dt.datetime.combine(D - dt.timedelta(days=3), dt.time(9))
    events = spark.createDataFrame(
        [
            ("pL", early, D),  # landed on D for an earlier day
            ("pT", dt.datetime.combine(D, dt.time(9)), D),  # on time
            ("pF", early, D - dt.timedelta(days=3)),  # its landing date was re-ingested on D
            (None, early, D),
        ],
        "person_id string, ts timestamp, date date",
    )
    relanded = relanded_dates([[D - dt.timedelta(days=3), D], None, [D - dt.timedelta(days=3)]], date=D)
    assert relanded == [D - dt.timedelta(days=3)]  # earlier dates only, once, from every source's row
    got = persons_to_recompute(history, [(events, "ts")], relanded, date=D)
    assertDataFrameEqual(got, spark.createDataFrame([("pM1",), ("pM2",), ("pL",), ("pF",)], "person_id string"))
    # Nothing re-ingested: no landing date is selected, pF is not recomputed.
    got = persons_to_recompute(history, [(events, "ts")], [], date=D)
    assertDataFrameEqual(got, spark.createDataFrame([("pM1",), ("pM2",), ("pL",)], "person_id string"))
