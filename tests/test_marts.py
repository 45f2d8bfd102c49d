"""The analysts' marts (issue 30): each builder on a few hand-made rows whose answer is known. The
stage itself runs on the tiny lake (helpers.build_tiny_lake): its declaration and delta-rs reads are
checked with every other stage's in test_end_to_end."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

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


# --- each mart of the tiny lake's day against the same question answered by DuckDB or pandas over
# the silver and gold tables (read with Spark: silver carries deletion vectors delta-rs refuses) ---


@pytest.fixture(scope="module")
def tiny(spark, tiny_lake):
    """(config, lakehouse, one date of a table as pandas, the marts' rows of the date as pandas)."""
    import pandas as pd

    from portrait.io import Lakehouse

    cfg, _, _ = tiny_lake
    lake = Lakehouse(spark, cfg.paths.lakehouse)

    def on(table, day=TINY_D, column=None) -> pd.DataFrame:
        rows = lake.read(table).where(F.col(column or table.date_column) == F.lit(day))
        return pd.DataFrame(rows.toPandas())

    return cfg, lake, on


TINY_D = dt.date(2026, 11, 1)


def _same(got, want, keys: list[str]) -> None:
    """Two pandas frames hold the same rows (doubles to 1e-9), whatever their order."""
    import pandas as pd

    got = got[list(want.columns)].sort_values(keys).reset_index(drop=True)
    want = want.sort_values(keys).reset_index(drop=True)
    assert len(got) == len(want) > 0, (len(got), len(want))
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.mark.slow  # the tiny lake: every job run once
def test_the_funnel_equals_duckdb_over_silver(tiny):
    import duckdb

    from portrait import catalog

    _, _, on = tiny
    events, orders = on(catalog.SILVER_EVENTS), on(catalog.SILVER_ORDERS)  # noqa: F841 - read by DuckDB
    want = duckdb.sql(
        """
        WITH ev AS (SELECT * FROM events WHERE session_id IS NOT NULL),
        s AS (
            SELECT session_id,
                   first(coalesce(channel, '(unknown)') ORDER BY ts, event_id) AS channel,
                   first(coalesce(device_type, '(unknown)') ORDER BY ts, event_id) AS device_type,
                   max(person_id) AS person_id
            FROM ev GROUP BY session_id),
        placed AS (SELECT DISTINCT session_id, order_id FROM ev WHERE event_type = 'checkout' AND order_id IS NOT NULL),
        lines AS (
            SELECT order_id, category,
                   quantity * CAST(unit_price AS DOUBLE) - coalesce(CAST(discount_amount AS DOUBLE), 0) AS amount
            FROM orders WHERE status = 'completed'),
        steps AS (
            SELECT session_id, category, CAST(event_type = 'product_view' AS INT) AS viewed,
                   CAST(event_type = 'add_to_cart' AS INT) AS carted, NULL::VARCHAR AS order_id, NULL::DOUBLE AS amount
            FROM ev
            UNION ALL
            SELECT p.session_id, l.category, 0, 0, l.order_id, l.amount FROM lines l JOIN placed p USING (order_id)),
        r AS (SELECT steps.*, coalesce(steps.category, '(none)') AS cat, s.channel, s.device_type, s.person_id
              FROM steps JOIN s USING (session_id))
        SELECT channel, device_type, coalesce(cat, '(all)') AS category,
               count(DISTINCT session_id) AS sessions, count(DISTINCT person_id) AS persons,
               count(DISTINCT CASE WHEN viewed = 1 THEN session_id END) AS viewing_sessions,
               count(DISTINCT CASE WHEN carted = 1 THEN session_id END) AS carting_sessions,
               count(DISTINCT CASE WHEN order_id IS NOT NULL THEN session_id END) AS ordering_sessions,
               sum(viewed) AS product_views, sum(carted) AS cart_adds,
               count(DISTINCT order_id) AS orders, coalesce(sum(amount), 0) AS revenue
        FROM r GROUP BY GROUPING SETS ((channel, device_type, cat), (channel, device_type))
        """
    ).df()
    got = on(catalog.GOLD_FUNNEL_DAILY)
    _same(got, want, ["channel", "device_type", "category"])
    assert (got["ordering_sessions"] > 0).any()  # the day has orders placed in sessions: not a vacuous check


@pytest.mark.slow  # the tiny lake: every job run once
def test_the_tag_coverage_equals_duckdb_over_gold(tiny):
    import duckdb

    from portrait import catalog

    _, _, on = tiny
    day_before = TINY_D - dt.timedelta(days=1)
    tags, segments = on(catalog.GOLD_TAGS), on(catalog.GOLD_SEGMENTS_DAILY)  # noqa: F841 - read by DuckDB
    tags_before, segments_before = on(catalog.GOLD_TAGS, day_before), on(catalog.GOLD_SEGMENTS_DAILY, day_before)  # noqa: F841
    query = """
        SELECT tag, coalesce(seg, '(all)') AS segment_name, count(DISTINCT person_id) AS persons
        FROM (SELECT t.tag, t.person_id, coalesce(s.segment_name, '(none)') AS seg
              FROM {tags} t LEFT JOIN {segments} s USING (person_id))
        GROUP BY GROUPING SETS ((tag, seg), (tag))"""
    now = duckdb.sql(query.format(tags="tags", segments="segments")).df()
    before = duckdb.sql(query.format(tags="tags_before", segments="segments_before")).df()
    want = now.merge(before, on=["tag", "segment_name"], how="outer", suffixes=("", "_previous")).fillna(0)
    want["persons_change"] = want["persons"] - want["persons_previous"]
    _same(on(catalog.GOLD_TAG_COVERAGE), want, ["tag", "segment_name"])


@pytest.mark.slow  # the tiny lake: every job run once
def test_the_paths_equal_pandas_over_silver(tiny):
    import pandas as pd

    from portrait import catalog

    cfg, _, on = tiny
    steps, top = cfg.marts.path_steps, cfg.marts.paths_top
    events = on(catalog.SILVER_EVENTS).dropna(subset=["session_id"]).sort_values(["ts", "event_id"])
    rows = []
    for session, group in events.groupby("session_id"):
        kinds = list(group["event_type"])
        ordered = "checkout" in kinds
        before = kinds[: kinds.index("checkout")] if ordered else kinds
        collapsed = [k for i, k in enumerate(before) if i == 0 or k != before[i - 1]]
        path = " > ".join(collapsed[:steps]) + (" > …" if len(collapsed) > steps else "")
        rows.append((session, group["person_id"].max(), "ordered" if ordered else "not_ordered", path or "(direct)"))
    sessions = pd.DataFrame(rows, columns=["session_id", "person_id", "outcome", "path"])
    want = (
        sessions.groupby(["outcome", "path"])
        .agg(sessions=("session_id", "size"), persons=("person_id", "nunique"))
        .reset_index()
    )
    want["share"] = want["sessions"] / want.groupby("outcome")["sessions"].transform("sum")
    want = want.sort_values(["outcome", "sessions", "path"], ascending=[True, False, True])
    want["rank"] = want.groupby("outcome").cumcount() + 1
    want = want[want["rank"] <= top][["outcome", "rank", "path", "sessions", "persons", "share"]]
    _same(on(catalog.GOLD_PATHS_TO_PURCHASE), want, ["outcome", "rank"])


def _scores(frame, cuts_of):
    """r, f and m scores of `frame` (pandas) by the fifths of `cuts_of`, as `rfm_grid` defines them."""
    import numpy as np

    out = frame.copy()
    for score, col, higher in (
        ("r_score", "days_since_last_order", False),
        ("f_score", "orders_365d", True),
        ("m_score", "revenue_365d", True),
    ):
        values = cuts_of[col].dropna().to_numpy()
        cuts = np.quantile(values, [0.2, 0.4, 0.6, 0.8], method="inverted_cdf") if len(values) else []
        above = (
            sum(np.where(frame[col].isna(), 0 if higher else 1, (frame[col] > c).astype(int)) for c in cuts)
            if len(cuts)
            else 0
        )
        out[score] = (above + 1) if higher else (5 - above)
    return out


@pytest.mark.slow  # the tiny lake: every job run once
def test_the_rfm_grid_equals_pandas_over_the_portrait(tiny):
    from portrait import catalog

    _, _, on = tiny
    cells = {}
    for name, day in (("persons", TINY_D), ("persons_previous", TINY_D - dt.timedelta(days=1))):
        buyers = on(catalog.GOLD_PORTRAIT, day)
        buyers = buyers[buyers["orders_365d"] > 0]
        scored = _scores(buyers, buyers)
        cells[name] = scored.groupby(["r_score", "f_score", "m_score"]).agg(
            **{name: ("person_id", "size"), f"revenue_{name}": ("revenue_365d", "sum")}
        )
    want = cells["persons"].join(cells["persons_previous"], how="outer").fillna(0).reset_index()
    want = want.rename(columns={"revenue_persons": "revenue"})[
        ["r_score", "f_score", "m_score", "persons", "revenue", "persons_previous"]
    ]
    want["persons_change"] = want["persons"] - want["persons_previous"]
    _same(on(catalog.GOLD_RFM_GRID), want, ["r_score", "f_score", "m_score"])


@pytest.mark.slow  # the tiny lake: every job run once
def test_the_retention_cohorts_equal_pandas_over_daily_activity(tiny):
    import pandas as pd

    from portrait import catalog

    cfg, lake, _ = tiny
    weeks, lookback = cfg.marts.cohort_weeks, cfg.marts.cohort_lookback_weeks
    monday = TINY_D - dt.timedelta(days=TINY_D.weekday())
    first_week = monday - dt.timedelta(weeks=weeks - 1)
    activity = pd.DataFrame(
        lake.read(catalog.SILVER_DAILY_ACTIVITY).select("person_id", "day", "sessions", "orders").toPandas()
    )
    activity = activity[(activity["day"] >= first_week - dt.timedelta(weeks=lookback)) & (activity["day"] <= TINY_D)]
    activity["week"] = activity["day"].map(lambda d: d - dt.timedelta(days=d.weekday()))
    activity["visited"] = activity["sessions"].fillna(0) > 0
    activity["bought"] = activity["orders"].fillna(0) > 0
    per_week = (
        activity[activity["visited"] | activity["bought"]].groupby(["person_id", "week"])[["visited", "bought"]].max()
    )
    per_week = per_week.reset_index()
    rows = []
    for cohort, act in (("first_visit", "visited"), ("first_order", "bought")):
        firsts = per_week[per_week[act]].groupby("person_id")["week"].min()
        members = firsts[firsts >= first_week]
        for week, persons in members.groupby(members):
            theirs = per_week[per_week["person_id"].isin(persons.index)]
            for offset in range((monday - week).days // 7 + 1):
                that = theirs[theirs["week"] == week + dt.timedelta(weeks=offset)]
                n = len(persons)
                rows.append((cohort, week, offset, n, int(that["visited"].sum()), int(that["bought"].sum())))
    want = pd.DataFrame(
        rows, columns=["cohort", "cohort_week", "week_offset", "persons", "active_persons", "buying_persons"]
    )
    want["active_share"] = want["active_persons"] / want["persons"]
    want["buying_share"] = want["buying_persons"] / want["persons"]
    got = tiny[2](catalog.GOLD_RETENTION_COHORTS)
    _same(got, want, ["cohort", "cohort_week", "week_offset"])
