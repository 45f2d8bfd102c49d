"""The daily identity run equals the rebuild: N days merged one at a time give the same persons,
the same person ids, the same history and the same silver rows as a full rebuild run each day."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import make_config
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, identity
from portrait.identity import incremental
from portrait.io import Lakehouse

D1 = dt.date(2026, 3, 1)
DAYS = [D1 + dt.timedelta(days=i) for i in range(4)]
CLICKS = "date date, event_id string, anonymous_id string, user_id string, order_id string"
ORDERS = (
    "date date, order_id string, line_no int, account_id string, phone_hash string, email_hash string, "
    "product_id string, quantity int, unit_price double, discount_amount double"
)
SOCIAL = "date date, post_id string, wechat_id_hash string, author_id string, account_id string"
CRM = (
    "date date, account_id string, phone_hash string, email_hash string, wechat_id_hash string, "
    "consent_updated_at timestamp, source_file string"
)

# Per day: clicks (cookie, account, order), order lines (order, account, phone, email, quantity),
# social (post, wechat, author, account), CRM (account, phone).
STORY = {
    # A1 with a cookie and a phone; a guest order O9; a kiosk k used by A2.
    DAYS[0]: (
        [("c1", "A1", None), ("c2", None, None), ("k", "A2", None)],
        [("O1", "A1", "ph1", "em1", 1), ("O2", "A1", "ph1", None, 1), ("O9", None, "ph9", "em9", 1)],
        [],
        [("A1", "ph1")],
    ),
    # c2 logs in as A3; A3 orders with A1's phone (A1 and A3 merge); c5 checks out the guest order of
    # day 1 (linked across days); the kiosk k is used by A6 too (k stitches A2 and A6: 2 links allowed).
    DAYS[1]: (
        [("c2", "A3", None), ("c5", None, "O9"), ("k", "A6", None)],
        [("O3", "A3", "ph1", None, 1), ("O4", "A2", "ph2", None, 1)],
        [],
        [],
    ),
    # k is used by A7: three accounts, a hub from now on; A2, A6 and A7 are apart again (a split).
    # c8 checks out an order that lands the next day.
    DAYS[2]: (
        [("k", "A7", None), ("c8", None, "O8"), ("c1", "A1", None)],
        [("O5", "A1", "ph1", None, 1), ("O6", "A1", None, "em1", 1)],
        [("s1", "wx1", "au1", "A1")],
        [("A3", "ph3")],
    ),
    # The guest order O8 of c8's checkout; A1 buys 40 at once (an anomaly against A1's usual).
    DAYS[3]: (
        [("c9", None, None)],
        [("O8", None, "ph8", "em8", 1), ("O7", "A1", "ph1", None, 40)],
        [("s2", None, "au1", None)],
        [("A1", "ph1")],
    ),
}


def _write_day(spark, lake: Lakehouse, day: dt.date) -> None:
    clicks, orders, social, crm = STORY[day]
    n = day.day
    lake.replace_range(
        spark.createDataFrame([(day, f"e{n}-{i}", c, u, o) for i, (c, u, o) in enumerate(clicks)], CLICKS),
        catalog.BRONZE_CLICKSTREAM,
        start=day,
    )
    lake.replace_range(
        spark.createDataFrame([(day, o, 1, a, ph, em, "P1", q, 10.0, None) for o, a, ph, em, q in orders], ORDERS),
        catalog.BRONZE_ORDERS,
        start=day,
    )
    lake.replace_range(spark.createDataFrame([(day, *s) for s in social], SOCIAL), catalog.BRONZE_SOCIAL, start=day)
    lake.replace_range(
        spark.createDataFrame([(day, a, ph, None, None, dt.datetime(2026, 1, 1), "crm.csv") for a, ph in crm], CRM),
        catalog.BRONZE_CRM,
        start=day,
    )


def _tables(lake: Lakehouse) -> dict:
    no_date = {catalog.SILVER_IDENTITY_MAP, catalog.SILVER_CUSTOMERS, catalog.SILVER_IDENTITY_EXCLUDED}
    tables = (
        catalog.SILVER_IDENTITY_MAP,
        catalog.SILVER_IDENTITY_HISTORY,
        catalog.SILVER_IDENTITY_EXCLUDED,
        catalog.SILVER_IDENTITY_LINKS,
        catalog.SILVER_EVENTS,
        catalog.SILVER_ORDERS,
        catalog.SILVER_SOCIAL,
        catalog.SILVER_CUSTOMERS,
    )
    # The daily run stamps a map row with the date its person last changed; the rebuild stamps every row.
    return {t.full_name: lake.read(t).drop(*(["as_of_date"] if t in no_date else [])) for t in tables}


def test_a_new_link_touches_its_ends_and_a_new_hub_its_neighbours(spark):
    links = spark.createDataFrame(
        [
            ("cookie", "k", "account", "A2"),
            ("cookie", "k", "account", "A6"),
            ("cookie", "c1", "account", "A1"),
        ],
        "type_a string, value_a string, type_b string, value_b string",
    )
    added = spark.createDataFrame(
        [("cookie", "c9", "account", "A1")], "type_a string, value_a string, type_b string, value_b string"
    )
    before = spark.createDataFrame([], "id_type string, id_value string")
    now = spark.createDataFrame([("cookie", "k")], "id_type string, id_value string")
    changed = incremental.status_changed(before, now)
    got = incremental.touched_identifiers(added, changed, links)
    want = [("cookie", "c9"), ("account", "A1"), ("cookie", "k"), ("account", "A2"), ("account", "A6")]
    assertDataFrameEqual(got, spark.createDataFrame(want, "id_type string, id_value string"))


def test_map_delta_upserts_moved_and_new_identifiers_and_deletes_the_excluded(spark):
    before = spark.createDataFrame(
        [("account", "A2", "p1"), ("cookie", "k", "p1"), ("account", "A6", "p1")],
        "id_type string, id_value string, person_id string",
    )
    after = spark.createDataFrame(
        [("account", "A2", "p1"), ("account", "A6", "p6"), ("account", "A7", "p7")],
        "id_type string, id_value string, person_id string",
    )
    got = incremental.map_delta(before, after)
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                ("account", "A6", "p6", False),
                ("account", "A7", "p7", False),
                ("cookie", "k", None, True),
            ],
            "id_type string, id_value string, person_id string, _delete boolean",
        ),
    )
    assertDataFrameEqual(incremental.moved_persons(got, before), spark.createDataFrame([("p1",)], "person_id string"))


@pytest.fixture(scope="module")
def story(spark, tmp_path_factory):
    """The four days of STORY run daily on one lake and rebuilt every day on another (identity's
    costliest suite: one fixture for both promises below)."""
    tmp = tmp_path_factory.mktemp("story")
    cfg = make_config(tmp, **{"identity.max_persons_per_identifier": 2})
    daily = Lakehouse(spark, str(tmp / "daily"))
    rebuilt = Lakehouse(spark, str(tmp / "rebuilt"))
    summaries = []
    for day in DAYS:
        for lake in (daily, rebuilt):
            _write_day(spark, lake, day)
        summaries.append(identity.run(daily, identity.RunConf.of(cfg), day))
        identity.run(rebuilt, identity.RunConf.of(cfg), day, rebuild=True)
    return cfg, daily, rebuilt, summaries


@pytest.mark.slow
def test_daily_identity_days_equal_a_rebuild_every_day(story):
    """The daily path equals a rebuild after each of several days: only a sequence of days exercises links, hubs and splits arriving over time."""
    _, daily, rebuilt, summaries = story
    assert [s["mode"] for s in summaries] == ["rebuild", "daily", "daily", "daily"]  # day 1 has no graph yet

    got, want = _tables(daily), _tables(rebuilt)
    for name in want:
        assertDataFrameEqual(got[name], want[name])
    # The story happened: a merge on day 2, the kiosk's split on day 3.
    changes = {(r.as_of_date, r.change) for r in want["silver.identity_history"].collect()}  # a dozen rows
    assert (DAYS[1], "merge") in changes and (DAYS[2], "split") in changes
    assert want["silver.orders"].where(F.col("order_id") == "O7").first()["quantity_anomaly"]


@pytest.mark.slow
def test_a_daily_run_rewrites_only_the_rows_of_persons_that_changed(story):
    cfg, lake, _, summaries = story
    got = summaries[-1]
    assert got["mode"] == "daily"
    assert got["events_rows_new"] == 1  # day 4's one event; no older event moved
    assert got["events_moved_rows_new"] == 0
    assert got["identity_links_rows_new"] >= 1  # the guest order O8 names c8's checkout of day 3
    # A rerun of the day writes the same tables.
    before = {k: v.localCheckpoint(eager=True) for k, v in _tables(lake).items()}
    identity.run(lake, identity.RunConf.of(cfg), DAYS[3])
    for name, df in _tables(lake).items():
        assertDataFrameEqual(df, before[name])
    # A date before the last run is refused, naming the later run, and changes nothing.
    with pytest.raises(ValueError, match=f"identity already ran for {DAYS[3]}, after {DAYS[1]}"):
        identity.run(lake, identity.RunConf.of(cfg), DAYS[1])
    assert lake.read(catalog.SILVER_IDENTITY_RUNS).count() == len(DAYS)
