"""The analysts' marts (issue 30): each builder on a few hand-made rows whose answer is known. The
stage itself runs on the tiny lake (helpers.build_tiny_lake): its declaration and delta-rs reads are
checked with every other stage's in test_end_to_end."""

from __future__ import annotations

import datetime as dt

import pytest

from portrait.marts import funnel, paths, rfm_grid, session_paths, tag_coverage

D = dt.date(2026, 11, 1)
EVENTS = (
    "session_id string, event_id string, ts timestamp, event_type string, category string, channel string, "
    "device_type string, person_id string, order_id string"
)
ORDERS = "order_id string, category string, status string, quantity int, unit_price decimal(12,2), discount_amount decimal(12,2)"


def _t(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 1, 10, minute)


def _events(spark, rows):
    return spark.createDataFrame(rows, EVENTS)


def test_funnel_counts_each_step_per_channel_device_and_category(spark):
    from decimal import Decimal

    events = _events(
        spark,
        [
            # s1: web on mobile (its first event's), views and carts shoes, orders o1
            ("s1", "e1", _t(0), "product_view", "shoes", "web", "mobile", "p1", None),
            ("s1", "e2", _t(1), "add_to_cart", "shoes", "app", "desktop", "p1", None),
            ("s1", "e3", _t(2), "checkout", None, "app", "desktop", "p1", "o1"),
            # s2: app on desktop, a page and a bag view, no cart
            ("s2", "e4", _t(0), "page_view", None, "app", "desktop", "p2", None),
            ("s2", "e5", _t(1), "product_view", "bags", "app", "desktop", "p2", None),
            # no session: not in the funnel
            (None, "e6", _t(3), "product_view", "bags", "web", "mobile", "p3", None),
        ],
    )
    orders = spark.createDataFrame(
        [
            ("o1", "shoes", "completed", 2, Decimal("10.00"), Decimal("1.00")),
            ("o1", "bags", "cancelled", 1, Decimal("50.00"), None),  # not a sale
            ("o9", "shoes", "completed", 1, Decimal("99.00"), None),  # placed outside any session
        ],
        ORDERS,
    )
    rows = {(r.channel, r.device_type, r.category): r for r in funnel(events, orders, D).collect()}

    assert set(rows) == {
        ("web", "mobile", "shoes"),
        ("web", "mobile", "(none)"),
        ("web", "mobile", "(all)"),
        ("app", "desktop", "(none)"),
        ("app", "desktop", "bags"),
        ("app", "desktop", "(all)"),
    }
    shoes = rows[("web", "mobile", "shoes")]
    assert (shoes.sessions, shoes.viewing_sessions, shoes.carting_sessions, shoes.ordering_sessions) == (1, 1, 1, 1)
    assert (shoes.product_views, shoes.cart_adds, shoes.orders, shoes.revenue) == (1, 1, 1, 19.0)
    assert (shoes.view_to_cart_rate, shoes.cart_to_order_rate, shoes.date) == (1.0, 1.0, D)
    web = rows[("web", "mobile", "(all)")]
    assert (web.sessions, web.persons, web.orders, web.revenue, web.session_to_order_rate) == (1, 1, 1, 19.0, 1.0)
    app = rows[("app", "desktop", "(all)")]
    assert (app.sessions, app.viewing_sessions, app.carting_sessions, app.orders, app.revenue) == (1, 1, 0, 0, 0.0)
    assert app.view_to_cart_rate == 0.0 and app.cart_to_order_rate is None  # no cart: no rate, not 0


def test_a_session_path_is_its_steps_before_the_checkout_repeats_collapsed_and_cut(spark):
    events = _events(
        spark,
        [
            ("s1", "a", _t(0), "page_view", None, "web", "mobile", "p1", None),
            ("s1", "b", _t(1), "page_view", None, "web", "mobile", "p1", None),
            ("s1", "c", _t(2), "product_view", "shoes", "web", "mobile", "p1", None),
            ("s1", "d", _t(3), "add_to_cart", "shoes", "web", "mobile", "p1", None),
            ("s1", "e", _t(4), "checkout", None, "web", "mobile", "p1", "o1"),
            ("s1", "f", _t(5), "page_view", None, "web", "mobile", "p1", None),  # after the checkout
            ("s2", "g", _t(0), "checkout", None, "web", "mobile", "p2", "o2"),
            *[
                ("s3", f"h{i}", _t(i), kind, None, "web", "mobile", "p3", None)
                for i, kind in enumerate(["search", "page_view", "search", "page_view", "search"])
            ],
        ],
    )
    got = {r.session_id: (r.outcome, r.path) for r in session_paths(events, steps=3).collect()}
    assert got == {
        "s1": ("ordered", "page_view > product_view > add_to_cart"),
        "s2": ("ordered", "(direct)"),
        "s3": ("not_ordered", "search > page_view > search > …"),
    }


def test_paths_keep_the_most_frequent_per_outcome_with_their_share(spark):
    rows = []
    for n, (kind, sessions) in enumerate((("search", 3), ("page_view", 1))):
        rows += [
            (f"{kind}{i}", f"{kind}{i}", _t(n), kind, None, "web", "mobile", f"p{i}", None) for i in range(sessions)
        ]
    rows.append(("buy", "x", _t(0), "checkout", None, "web", "mobile", "p0", "o1"))
    got = paths(_events(spark, rows), D, steps=5, top=1).collect()
    assert sorted((r.outcome, r.rank, r.path, r.sessions, r.persons, r.share) for r in got) == [
        ("not_ordered", 1, "search", 3, 3, 0.75),
        ("ordered", 1, "(direct)", 1, 1, 1.0),
    ]


def test_rfm_scores_fifths_of_the_buyers_and_compares_with_the_day_before(spark):
    schema = "person_id string, days_since_last_order int, orders_365d long, revenue_365d double"
    # Ten buyers: p0 the most recent, most frequent and highest spending; one person never bought.
    buyers = [(f"p{i}", i, 10 - i, 100.0 * (10 - i)) for i in range(10)]
    portrait = spark.createDataFrame([*buyers, ("never", None, 0, 0.0)], schema)
    previous = spark.createDataFrame(buyers[:5], schema)  # five buyers the day before
    grid = rfm_grid(portrait, previous, D).collect()

    assert sum(r.persons for r in grid) == 10  # the person who never bought is in no cell
    assert sum(r.revenue for r in grid) == pytest.approx(sum(b[3] for b in buyers))
    top = next(r for r in grid if (r.r_score, r.f_score, r.m_score) == (5, 5, 5))
    bottom = next(r for r in grid if (r.r_score, r.f_score, r.m_score) == (1, 1, 1))
    assert top.persons == 2 and bottom.persons == 2  # fifths of ten distinct values: two persons each
    assert sum(r.persons_previous for r in grid) == 5
    assert all(r.persons_change == r.persons - r.persons_previous and r.date == D for r in grid)


def test_tag_coverage_per_segment_with_the_day_before(spark):
    tags = spark.createDataFrame([("p1", "a"), ("p1", "b"), ("p2", "a")], "person_id string, tag string")
    segments = spark.createDataFrame([("p1", "loyal")], "person_id string, segment_name string")
    before_tags = spark.createDataFrame([("p1", "a")], "person_id string, tag string")
    got = {
        (r.tag, r.segment_name): (r.persons, r.persons_previous, r.persons_change)
        for r in tag_coverage(tags, segments, before_tags, segments, D).collect()
    }
    assert got == {
        ("a", "loyal"): (1, 1, 0),
        ("a", "(none)"): (1, 0, 1),  # p2 has no segment
        ("a", "(all)"): (2, 1, 1),
        ("b", "loyal"): (1, 0, 1),
        ("b", "(all)"): (1, 0, 1),
    }


def test_retention_cohorts_follow_each_first_week_to_the_date(spark):
    from portrait.marts import retention

    day = dt.date.fromisoformat
    activity = spark.createDataFrame(
        [
            ("a", day("2026-10-13"), 1, 0),
            ("a", day("2026-10-20"), 2, 0),
            ("a", day("2026-10-27"), 1, 1),
            ("b", day("2026-10-14"), 1, 0),
            ("c", day("2026-10-01"), 1, 0),  # active in the lookback weeks: not new on 2026-10-21
            ("c", day("2026-10-21"), 1, 0),
            ("d", day("2026-10-22"), 0, 1),  # an order without a session
            ("e", day("2026-09-01"), 1, 0),  # before the weeks read: back after a long quiet, new again
            ("e", day("2026-10-20"), 1, 0),
            ("f", day("2026-11-02"), 1, 1),  # after the date: not read
        ],
        "person_id string, day date, sessions long, orders long",
    )
    # 2026-11-01 is a Sunday: cohort weeks start on 10-12, 10-19 and 10-26; the lookback from 09-28.
    rows = retention(activity, D, weeks=3, lookback_weeks=2).collect()
    got = {(r.cohort, str(r.cohort_week), r.week_offset): (r.persons, r.active_persons, r.buying_persons) for r in rows}
    assert got == {
        ("first_visit", "2026-10-12", 0): (2, 2, 0),
        ("first_visit", "2026-10-12", 1): (2, 1, 0),
        ("first_visit", "2026-10-12", 2): (2, 1, 1),
        ("first_visit", "2026-10-19", 0): (1, 1, 0),
        ("first_visit", "2026-10-19", 1): (1, 0, 0),
        ("first_order", "2026-10-19", 0): (1, 0, 1),
        ("first_order", "2026-10-19", 1): (1, 0, 0),
        ("first_order", "2026-10-26", 0): (1, 1, 1),
    }
    assert all(r.active_share == r.active_persons / r.persons and r.date == D for r in rows)
