"""Incremental features: moving the state of D-1 on to D equals a full build of D, and reruns change nothing.

A tiny silver layer over a year and two days, written twice: as the identity run of D-1 left it,
then as the run of D rewrote it (a merge of two persons, a row that landed late, new data).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from helpers import make_config
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, features, keys
from portrait.io import Lakehouse

D = dt.date(2026, 11, 1)
CATS = ["toys", "books"]
EVENTS = (
    "person_id string, session_id string, event_type string, ts timestamp, category string, "
    "device_type string, channel string, dwell_ms long, date date"
)
ORDERS = (
    "person_id string, order_id string, order_ts timestamp, quantity int, unit_price decimal(12,2), "
    "discount_amount decimal(12,2), coupon_code string, status string, category string, date date"
)
SOCIAL = (
    "person_id string, post_id string, post_type string, rating int, likes int, shares int, ts timestamp, date date"
)
CUSTOMERS = (
    "person_id string, account_id string, gender string, birth_year int, city_tier int, signup_date date, "
    "consent_sms boolean, consent_email boolean, consent_push boolean, consent_wechat boolean, "
    "consent_updated_at timestamp, as_of_date date"
)
HISTORY = (
    "as_of_date date, change string, person_id string, related_person_ids array<string>, "
    "identifiers_added long, identifiers_removed long"
)


def ago(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def _event(person, session, kind, day, category=None, landed=None):
    return (person, session, kind, at(day), category, "mobile", "app", 1500, landed or day)


def _order(person, order, day, qty, price, discount=None, status="completed", category="toys", landed=None):
    return (
        person,
        order,
        at(day, 3),
        qty,
        Decimal(price),
        None if discount is None else Decimal(discount),
        None,
        status,
        category,
        landed or day,
    )


def _silver(spark, *, merged: bool):
    """Silver as identity left it on D-1 (`merged=False`) or on D: then pM2 is pM1 everywhere, and D's data is in."""
    m2 = "pM1" if merged else "pM2"
    events = [
        _event("pA", "a1", "product_view", ago(40), "books"),
        _event("pA", "a2", "product_view", ago(7), "toys"),  # leaves the 7-day window on D
        _event("pA", "a2", "add_to_cart", ago(7), "toys"),
        _event("pM1", "m1", "page_view", ago(20)),
        _event(m2, "m2", "product_view", ago(3), "books"),
        _event(m2, "m3", "search", ago(60)),
        _event("pOld", "o1", "page_view", ago(366)),  # leaves the history window on D
        _event("pY", "y1", "product_view", ago(365), "toys"),  # leaves the 365-day sums on D, not the history
        _event("pB", "b1", "page_view", ago(1)),
        _event("pB", "b2", "page_view", ago(2)),
    ]
    orders = [
        _order("pA", "oA1", ago(7), 3, "19.99", "0.50"),  # 59.47 leaving the 7-day revenue: back to 0 exactly
        _order("pA", "oA2", ago(90), 1, "10.10"),
        _order(m2, "oM2", ago(30), 2, "5.55", category="books"),
        _order("pM1", "oM1", ago(2), 1, "7.77", status="returned"),
        _order("pY", "oY", ago(365), 1, "3.33"),
    ]
    social = [
        ("pB", "sB1", "review", 5, 2, 1, at(ago(1)), ago(1)),
        (m2, "sM", "post", None, 1, 0, at(ago(10)), ago(10)),
    ]
    customers = [
        ("pA", "A1", "F", 1990, 1, dt.date(2024, 1, 1), True, False, True, False, at(ago(3)), ago(1)),
        ("pOld", "A2", "M", 1970, 2, None, False, False, False, False, at(ago(300)), ago(1)),
    ]
    if merged:
        events += [
            _event("pA", "a3", "checkout", D),
            _event("pN", "n1", "product_view", D, "toys"),  # a new person
            _event("pM1", "m4", "add_to_cart", D, "books"),
            _event("pL", "l1", "page_view", ago(3), landed=D),  # landed a few days late
            _event("pB", "b3", "page_view", D, landed=ago(1)),  # landed the day before its timestamp
        ]
        orders += [_order("pN", "oN", D, 1, "1.01"), _order("pB", "oB", D, 2, "2.50", "0.25", category="books")]
        social += [("pN", "sN", "review", 3, 0, 0, at(D), D)]
        customers += [("pC", "A3", None, None, None, D, True, True, True, True, at(D), D)]  # CRM only
    return (
        spark.createDataFrame(events, EVENTS),
        spark.createDataFrame(orders, ORDERS),
        spark.createDataFrame(social, SOCIAL),
        spark.createDataFrame(customers, CUSTOMERS),
    )


def _write_silver(lake: Lakehouse, frames, *, upto: dt.date) -> None:
    events, orders, social, customers = frames
    for name, df in ((catalog.SILVER_EVENTS, events), (catalog.SILVER_ORDERS, orders), (catalog.SILVER_SOCIAL, social)):
        lake.replace_range(df.where(F.col("date") <= F.lit(upto)), name, start=keys.BEGINNING, end=upto)
    lake.overwrite(customers, catalog.SILVER_CUSTOMERS)


def _full_build(lake: Lakehouse, cfg, date: dt.date, landed_by: dt.date | None = None):
    daily = features.daily_from_silver(lake, cfg.features, upto=date, landed_by=landed_by or date)
    return features.portraits(lake, cfg.features, [date], daily=daily)


@pytest.fixture(scope="module")
def lake_after_d(spark, tmp_path_factory):
    """Runs D-2 (full), D-1 (incremental), then identity's rewrite of silver, D and D again."""
    cfg = make_config(tmp_path_factory.mktemp("incremental"), **{"features.categories": CATS})
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    _write_silver(lake, _silver(spark, merged=False), upto=ago(1))
    history = [(ago(1), "grow", "pB", [], 1, 0)]
    lake.replace_range(spark.createDataFrame(history, HISTORY), catalog.SILVER_IDENTITY_HISTORY, start=ago(1))
    runs = [features.run(lake, cfg.features, ago(2)), features.run(lake, cfg.features, ago(1))]
    before = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == ago(1))
    full = _full_build(lake, cfg, ago(1))  # D-1 moves no person and has no late row
    at_d_minus_1 = (
        spark.createDataFrame(before.collect(), before.schema),
        spark.createDataFrame(full.collect(), full.schema),
    )

    _write_silver(lake, _silver(spark, merged=True), upto=D)
    history = [(D, "merge", "pM1", ["pM2"], 3, 0), (D, "new", "pN", [], 1, 0)]
    lake.replace_range(spark.createDataFrame(history, HISTORY), catalog.SILVER_IDENTITY_HISTORY, start=D)
    runs.append(features.run(lake, cfg.features, D))
    first = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == D)
    first = spark.createDataFrame(first.collect(), first.schema)
    runs.append(features.run(lake, cfg.features, D))
    return cfg, lake, [r["mode"] for r in runs], at_d_minus_1, first, runs


def test_incremental_day_equals_a_full_build(spark, lake_after_d):
    """The incremental features of a day equal a full build on the same lake: both need a lake with history."""
    cfg, lake, modes, _, _, _ = lake_after_d
    assert modes[:3] == ["full", "incremental", "incremental"]
    got = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == D)
    # Window sums are exact integers in both (features.portrait.UNITS): equal to the last bit.
    assertDataFrameEqual(got, _full_build(lake, cfg, D), rtol=0, atol=0)


def test_a_day_without_recomputed_persons_equals_a_full_build(spark, lake_after_d):
    """D-1 moves no person and has no late row: its daily rows replace the day's partition (no
    MERGE), and the portrait equals a full build of D-1 from the silver of that day."""
    _, _, modes, (got, full), _, _ = lake_after_d
    assert modes[1] == "incremental"
    assertDataFrameEqual(got, full, rtol=0, atol=0)


def test_what_moved_between_the_two_days(spark, lake_after_d):
    _, lake, _, (before, _), _, _ = lake_after_d
    cols = [
        "person_id",
        "sessions_7d",
        "revenue_7d",
        "orders_90d",
        "revenue_365d",
        "days_since_last_visit",
        "latest_input_date",
        "gender",
    ]
    schema = (
        "person_id string, sessions_7d double, revenue_7d double, orders_90d double, revenue_365d double, "
        "days_since_last_visit int, latest_input_date date, gender string"
    )
    assertDataFrameEqual(
        before.select(*cols).where(F.col("person_id").isin("pA", "pOld", "pY")),
        spark.createDataFrame(
            [
                ("pA", 1.0, 59.47, 2.0, 69.57, 6, ago(7), "F"),
                ("pOld", 0.0, 0.0, 0.0, 0.0, 365, ago(366), "M"),
                ("pY", 0.0, 0.0, 0.0, 3.33, 364, ago(365), "unknown"),
            ],
            schema,
        ),
    )
    got = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == D).select(*cols)
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                ("pA", 1.0, 0.0, 1.0, 69.57, 0, D, "F"),  # day -7 left the 7-day window, day -90 the 90-day one
                ("pB", 3.0, 4.75, 1.0, 4.75, 0, D, "unknown"),  # D's event landed on D-1
                ("pC", 0.0, 0.0, 0.0, 0.0, None, None, "unknown"),  # CRM only
                ("pL", 1.0, 0.0, 0.0, 0.0, 3, ago(3), "unknown"),  # a late row: recomputed from silver
                ("pM1", 2.0, 0.0, 1.0, 11.1, 0, D, "unknown"),  # pM2's past is now pM1's
                ("pN", 1.0, 1.01, 1.0, 1.01, 0, D, "unknown"),
                ("pOld", 0.0, 0.0, 0.0, 0.0, None, None, "M"),  # out of the history window, kept by its CRM account
                ("pY", 0.0, 0.0, 0.0, 0.0, 365, ago(365), "unknown"),
            ],
            schema,
        ),
    )


def test_daily_activity_is_kept_equal_to_silver(spark, lake_after_d):
    cfg, lake, _, _, _, _ = lake_after_d
    assertDataFrameEqual(lake.read(features.DAILY), features.daily_from_silver(lake, cfg.features, upto=D, landed_by=D))


def test_the_summary_counts_the_portrait_rows_written(spark, lake_after_d):
    *_, runs = lake_after_d
    for summary, day in zip(runs, (ago(2), ago(1), D, D), strict=False):
        persons = lake_after_d[1].read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == day).count()
        assert summary["persons"] == summary["rows"] == persons and summary["dates"] == 1


def test_a_rerun_of_d_changes_nothing(spark, lake_after_d):
    _, lake, modes, _, first, _ = lake_after_d
    assert modes[3] == "incremental"
    assertDataFrameEqual(lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == D), first)
    # State rows are persons with activity in the history window: not pC (CRM only), nor pOld any more.
    assert lake.read(features.STATE).where(F.col("as_of_date") == D).count() == 6


def test_a_backfilled_range_equals_day_by_day_builds(spark, lake_after_d):
    cfg, lake, _, _, _, _ = lake_after_d
    features.run(lake, cfg.features, D, start=ago(2))
    for day in (ago(2), D):
        got = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == day)
        # A backfill reads what landed by its last date (pL's late row reaches day -2 too).
        assertDataFrameEqual(got, _full_build(lake, cfg, day, landed_by=D), rtol=0, atol=0)


def test_a_state_of_an_older_layout_is_rebuilt_not_moved_on(spark, tmp_path):
    """A state table whose sums are decimals (before long units) gives a full build that replaces it."""
    cfg = make_config(tmp_path, **{"features.categories": CATS})
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    _write_silver(lake, _silver(spark, merged=True), upto=D)
    lake.replace_range(spark.createDataFrame([], HISTORY), catalog.SILVER_IDENTITY_HISTORY, start=D)
    features.run(lake, cfg.features, ago(1), full=True)
    state = lake.read(features.STATE)
    sums = [f.name for f in state.schema.fields if f.dataType.typeName() == "long"]
    old = state.select(*[F.col(c).cast("decimal(30,10)").alias(c) if c in sums else F.col(c) for c in state.columns])
    lake.overwrite(spark.createDataFrame(old.collect(), old.schema), features.STATE, replace_schema=True)

    assert features.run(lake, cfg.features, D)["mode"] == "full"
    assert {lake.read(features.STATE).schema[c].dataType.typeName() for c in sums} == {"long"}
    assert lake.read(features.STATE).select("as_of_date").distinct().collect() == [(D,)]
    assert features.run(lake, cfg.features, D + dt.timedelta(days=1))["mode"] == "incremental"
