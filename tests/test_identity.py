"""Identity: connected components in Spark, hub exclusion, stable person ids."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog
from portrait.identity import graph, history, resolve
from portrait.identity.components import connected_components


def test_components_of_a_chain_a_star_and_a_pair(spark):
    chain = [(i, i + 1) for i in range(10, 30)]  # a long path: many rounds of label propagation
    star = [(100, 101), (102, 100), (100, 103)]
    pair = [(7, 8), (8, 7), (8, 8)]  # duplicates and a self-loop
    edges = spark.createDataFrame(chain + star + pair, "u long, v long")
    got = connected_components(edges)
    want = [(n, 10) for n in range(10, 31)] + [(n, 100) for n in (100, 101, 102, 103)] + [(7, 7), (8, 7)]
    assertDataFrameEqual(got, spark.createDataFrame(want, "node long, component long"))


def test_components_where_large_ids_bridge_small_ones(spark):
    # 1-9-2 and 3-9: everything joins through the large id 9.
    edges = spark.createDataFrame([(1, 9), (9, 2), (3, 9), (50, 40)], "u long, v long")
    got = connected_components(edges)
    want = [(1, 1), (2, 1), (3, 1), (9, 1), (40, 40), (50, 40)]
    assertDataFrameEqual(got, spark.createDataFrame(want, "node long, component long"))


def _frames(spark):
    clicks = spark.createDataFrame(
        [
            ("c1", "A1", None),
            ("c2", "A1", None),
            ("tablet", "A2", None),
            ("tablet", "A3", None),
            ("c3", None, None),
            ("c4", "A3", None),
            ("c5", None, "O9"),
        ],  # c5 checked out the guest order O9
        "anonymous_id string, user_id string, order_id string",
    )
    orders = spark.createDataFrame(
        [
            ("O1", "A1", "ph1", "em1"),
            ("O2", "A2", "ph2", "placeholder"),
            ("O3", "A3", "ph3", "placeholder"),
            ("O9", None, "ph9", "em9"),
        ],
        "order_id string, account_id string, phone_hash string, email_hash string",
    )
    crm = spark.createDataFrame(
        [("A1", "ph1", "em1", "wx1")], "account_id string, phone_hash string, email_hash string, wechat_id_hash string"
    )
    social = spark.createDataFrame(
        [("wx1", None, None), (None, "weibo_7", None)], "wechat_id_hash string, author_id string, account_id string"
    )
    return clicks, orders, crm, social


def test_shared_device_and_placeholder_email_do_not_stitch_persons(spark):
    clicks, orders, crm, social = _frames(spark)
    pairs = graph.links(clicks, orders, social, crm)
    placeholders = spark.createDataFrame([("email", "placeholder")], "id_type string, id_value string")
    excluded = graph.hubs(pairs, max_links=1, placeholders=placeholders)
    assertDataFrameEqual(
        excluded.select("id_type", "id_value", "reason"),
        spark.createDataFrame(
            [("email", "placeholder", "placeholder_value"), ("cookie", "tablet", "links_too_many_identifiers")],
            "id_type string, id_value string, reason string",
        ),
    )
    ids = graph.identifiers(clicks, orders, social, crm)
    mapping = resolve(ids, pairs, excluded, max_iterations=10)
    person = {(r.id_type, r.id_value): r.person_id for r in mapping.collect()}  # a dozen rows
    # A1's cookies, phone, email and WeChat id are one person.
    assert (
        len(
            {
                person[k]
                for k in [
                    ("account", "A1"),
                    ("cookie", "c1"),
                    ("cookie", "c2"),
                    ("phone", "ph1"),
                    ("email", "em1"),
                    ("wechat_id", "wx1"),
                ]
            }
        )
        == 1
    )
    # A2 and A3 share a tablet and a placeholder email, and stay apart.
    assert person[("account", "A2")] != person[("account", "A3")]
    assert person[("cookie", "c4")] == person[("account", "A3")]
    assert ("cookie", "tablet") not in person and ("email", "placeholder") not in person
    # A guest order links its phone and email, and the cookie whose checkout placed it.
    assert person[("phone", "ph9")] == person[("email", "em9")] == person[("cookie", "c5")]
    # An anonymous cookie is a person alone.
    assert person[("cookie", "c3")] not in {person[("account", a)] for a in ("A1", "A2", "A3")}


def test_person_id_is_anchored_on_the_account_and_survives_new_identifiers(spark):
    clicks, orders, crm, social = _frames(spark)
    none = spark.createDataFrame([], "id_type string, id_value string, links long, reason string")

    def person_of_a1(clicks_df):
        ids = graph.identifiers(clicks_df, orders, social, crm)
        m = resolve(ids, graph.links(clicks_df, orders, social, crm), none, max_iterations=10)
        return m.where((F.col("id_type") == "account") & (F.col("id_value") == "A1")).first()["person_id"]

    before = person_of_a1(clicks)
    more = clicks.unionByName(
        spark.createDataFrame([("c0000", "A1", None)], "anonymous_id string, user_id string, order_id string")
    )
    assert person_of_a1(more) == before


def test_pairwise_quality_counts_over_and_under_stitching(spark):
    from portrait.identity.quality import pairwise_quality

    truth = spark.createDataFrame(
        [
            ("cookie", "c1", 1),
            ("account", "A1", 1),
            ("phone", "h1", 1),  # person 1: 3 identifiers, 3 true pairs
            ("cookie", "c2", 2),
            ("account", "A2", 2),  # person 2: 1 true pair
            ("cookie", "shared", 1),
            ("cookie", "shared", 2),  # shared: not judged
        ],
        "id_type string, id_value string, person_key long",
    )
    resolved = spark.createDataFrame(
        [
            ("cookie", "c1", "pA"),
            ("account", "A1", "pA"),  # phone h1 missed (recall)
            ("phone", "h1", "pB"),
            ("cookie", "c2", "pA"),
            ("account", "A2", "pC"),  # c2 stitched into pA (precision)
            ("cookie", "shared", "pA"),
        ],
        "id_type string, id_value string, person_id string",
    )
    excluded = spark.createDataFrame([], "id_type string, id_value string")
    q = pairwise_quality(truth, resolved, excluded)
    # Predicted pairs: pA has c1, A1, c2 -> 3 pairs, of which 1 (c1-A1) is true. True pairs: 3 + 1 = 4.
    assert q["precision"] == pytest.approx(1 / 3)
    assert q["recall"] == pytest.approx(1 / 4)
    assert q["true_persons_whole"] == 0.0
    assert q["identifiers_judged"] == 5


def test_a_customer_next_to_a_call_centre_phone_is_not_a_hub(spark):
    # Guest orders pair each customer's email with their own phone and, sometimes, the call-centre phone.
    rows = [("phone", "own1", "email", "e1"), ("phone", "cc", "email", "e1")]
    rows += [("phone", "cc", "email", f"e{i}") for i in range(2, 8)]
    pairs = spark.createDataFrame(rows, "type_a string, value_a string, type_b string, value_b string")
    none = spark.createDataFrame([], "id_type string, id_value string")
    excluded = graph.hubs(pairs, max_links=1, placeholders=none)
    assertDataFrameEqual(
        excluded.select("id_type", "id_value", "links"),
        spark.createDataFrame([("phone", "cc", 7)], "id_type string, id_value string, links long"),
    )


# --- identity across runs: stable ids and the history of changes --------------------------------

MAP = "id_type string, id_value string, person_id string"
HISTORY = (
    "as_of_date date, change string, person_id string, related_person_ids array<string>, "
    "identifiers_added long, identifiers_removed long"
)
DAY = dt.date(2026, 1, 2)


def _pid(anchor_key: str) -> str:
    """The anchor-derived person id, computed independently of Spark."""
    return "p_" + hashlib.sha256(anchor_key.encode("utf-8")).hexdigest()[:20]


def _resolve_links(spark, links, *, previous=None, singles=()):
    pairs = spark.createDataFrame(
        [(ta, va, tb, vb) for (ta, va), (tb, vb) in links],
        "type_a string, value_a string, type_b string, value_b string",
    )
    ids = spark.createDataFrame(
        sorted({x for link in links for x in link} | set(singles)), "id_type string, id_value string"
    )
    none = spark.createDataFrame([], "id_type string, id_value string")
    return resolve(ids, pairs, none, max_iterations=10, previous=previous)


def test_changes_records_new_grow_shrink_merge_split_and_gone(spark):
    previous = spark.createDataFrame(
        [
            ("account", "A1", "p1"),
            ("cookie", "c1", "p1"),  # grows: + c2
            ("account", "A2", "p2"),
            ("cookie", "c3", "p2"),
            ("phone", "h2", "p2"),  # shrinks: h2 left
            ("account", "A3", "p3"),
            ("cookie", "c4", "p3"),
            ("account", "A4", "p4"),  # p3 absorbs p4
            ("account", "A5", "p5"),
            ("cookie", "c5", "p5"),
            ("cookie", "c6", "p5"),  # p5 splits: c6 to p6
            ("account", "A7", "p7"),  # gone
            ("account", "A8", "p8"),  # unchanged: no row
        ],
        MAP,
    )
    current = spark.createDataFrame(
        [
            ("account", "A1", "p1"),
            ("cookie", "c1", "p1"),
            ("cookie", "c2", "p1"),
            ("account", "A2", "p2"),
            ("cookie", "c3", "p2"),
            ("account", "A3", "p3"),
            ("cookie", "c4", "p3"),
            ("account", "A4", "p3"),
            ("account", "A5", "p5"),
            ("cookie", "c5", "p5"),
            ("cookie", "c6", "p6"),
            ("account", "A8", "p8"),
            ("account", "A9", "p9"),  # new
        ],
        MAP,
    )
    got = history.changes(previous, current, as_of=DAY)
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                (DAY, "grow", "p1", [], 1, 0),
                (DAY, "shrink", "p2", [], 0, 1),
                (DAY, "merge", "p3", ["p4"], 1, 0),
                (DAY, "split", "p5", ["p6"], 0, 1),
                (DAY, "gone", "p7", [], 0, 1),
                (DAY, "new", "p9", [], 1, 0),
            ],
            HISTORY,
        ),
    )


def test_changes_on_the_first_run_has_every_person_new(spark):
    current = spark.createDataFrame([("account", "A1", "p1"), ("cookie", "c1", "p1"), ("cookie", "c9", "p9")], MAP)
    got = history.changes(spark.createDataFrame([], MAP), current, as_of=DAY)
    assertDataFrameEqual(
        got, spark.createDataFrame([(DAY, "new", "p1", [], 2, 0), (DAY, "new", "p9", [], 1, 0)], HISTORY)
    )


def test_a_person_who_gains_a_better_anchor_keeps_their_id(spark):
    # Run 1: cookie c1 alone (named after the cookie), and A5-h5. Run 2: c1 logs into A1, c2 too; c9 is new.
    first = _resolve_links(spark, [(("account", "A5"), ("phone", "h5"))], singles=[("cookie", "c1")])
    links = [
        (("cookie", "c1"), ("account", "A1")),
        (("cookie", "c2"), ("account", "A1")),
        (("account", "A5"), ("phone", "h5")),
    ]
    second = _resolve_links(spark, links, previous=first, singles=[("cookie", "c9")])
    c1, a5 = _pid("cookie:c1"), _pid("account:A5")
    assertDataFrameEqual(
        second,
        spark.createDataFrame(
            [
                ("cookie", "c1", c1),
                ("account", "A1", c1),
                ("cookie", "c2", c1),
                ("account", "A5", a5),
                ("phone", "h5", a5),
                ("cookie", "c9", _pid("cookie:c9")),
            ],
            MAP,
        ),
    )
    # Without the previous map the person would be renamed after the account.
    assert _resolve_links(spark, links).where("id_value = 'c1'").first()["person_id"] == _pid("account:A1")
    assertDataFrameEqual(
        history.changes(first, second, as_of=DAY),
        spark.createDataFrame([(DAY, "grow", c1, [], 2, 0), (DAY, "new", _pid("cookie:c9"), [], 1, 0)], HISTORY),
    )


def test_a_merge_keeps_the_larger_persons_id_and_ties_keep_the_smallest_id(spark):
    previous = spark.createDataFrame(
        [
            ("account", "A1", "p_big"),
            ("cookie", "c1", "p_big"),
            ("cookie", "c2", "p_big"),
            ("account", "A2", "p_small"),
            ("cookie", "c3", "p_small"),
            ("account", "A7", "p_b"),
            ("account", "A8", "p_a"),  # equal sizes
        ],
        MAP,
    )
    links = [
        (("cookie", "c1"), ("account", "A1")),
        (("cookie", "c2"), ("account", "A1")),
        (("cookie", "c3"), ("account", "A2")),
        (("cookie", "c3"), ("account", "A1")),
        (("cookie", "c7"), ("account", "A7")),
        (("cookie", "c7"), ("account", "A8")),
    ]
    got = _resolve_links(spark, links, previous=previous)
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                (t, v, "p_big")
                for t, v in [("account", "A1"), ("cookie", "c1"), ("cookie", "c2"), ("account", "A2"), ("cookie", "c3")]
            ]
            + [(t, v, "p_a") for t, v in [("account", "A7"), ("account", "A8"), ("cookie", "c7")]],
            MAP,
        ),
    )
    assertDataFrameEqual(
        history.changes(previous, got, as_of=DAY),
        spark.createDataFrame(
            [(DAY, "merge", "p_big", ["p_small"], 2, 0), (DAY, "merge", "p_a", ["p_b"], 2, 0)], HISTORY
        ),
    )


def test_a_split_leaves_the_id_with_the_larger_part_and_the_other_part_a_new_unique_id(spark):
    # The previous person was named after A1; A1's part is now the smaller one, so its own
    # anchor-derived id is taken: it gets the id derived again with the `#split` suffix.
    a1 = _pid("account:A1")
    previous = spark.createDataFrame(
        [
            (t, v, a1)
            for t, v in [("account", "A1"), ("cookie", "c1"), ("account", "A2"), ("cookie", "c2"), ("cookie", "c3")]
        ],
        MAP,
    )
    links = [
        (("cookie", "c1"), ("account", "A1")),
        (("cookie", "c2"), ("account", "A2")),
        (("cookie", "c3"), ("account", "A2")),
    ]
    got = _resolve_links(spark, links, previous=previous)
    resplit = _pid("account:A1#split")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                ("account", "A1", resplit),
                ("cookie", "c1", resplit),
                ("account", "A2", a1),
                ("cookie", "c2", a1),
                ("cookie", "c3", a1),
            ],
            MAP,
        ),
    )
    assertDataFrameEqual(
        history.changes(previous, got, as_of=DAY), spark.createDataFrame([(DAY, "split", a1, [resplit], 0, 2)], HISTORY)
    )


def test_social_records_link_authors_to_bound_accounts_and_wechat_ids(spark):
    clicks = spark.createDataFrame([("c1", "A1", None)], "anonymous_id string, user_id string, order_id string")
    orders = spark.createDataFrame(
        [("O1", "A1", "ph1", None)], "order_id string, account_id string, phone_hash string, email_hash string"
    )
    crm = spark.createDataFrame([], "account_id string, phone_hash string, email_hash string, wechat_id_hash string")
    social = spark.createDataFrame(
        [
            ("wx1", "oW_1", "A1"),  # a WeChat record of a member who bound their account there
            (None, "wb_1", "A1"),  # the same member on Weibo, bound there too
            ("wx2", "oW_2", None),  # a WeChat record of an author who never bound: openid and WeChat id
            (None, "wb_2", None),  # a Weibo record of an author who never bound: nothing to link
        ],
        "wechat_id_hash string, author_id string, account_id string",
    )
    no_clicks = clicks.limit(0)
    no_orders = orders.limit(0)
    assertDataFrameEqual(
        graph.links(no_clicks, no_orders, social, crm),
        spark.createDataFrame(
            [
                ("social_author", "oW_1", "account", "A1"),
                ("social_author", "wb_1", "account", "A1"),
                ("social_author", "oW_1", "wechat_id", "wx1"),
                ("social_author", "oW_2", "wechat_id", "wx2"),
                ("account", "A1", "wechat_id", "wx1"),
            ],
            "type_a string, value_a string, type_b string, value_b string",
        ),
    )
    # CRM states the same WeChat link: one link, not a hub.
    crm = spark.createDataFrame(
        [("A1", None, None, "wx1")], "account_id string, phone_hash string, email_hash string, wechat_id_hash string"
    )
    pairs = graph.links(clicks, orders, social, crm)
    none = spark.createDataFrame([], "id_type string, id_value string")
    excluded = graph.hubs(pairs, max_links=1, placeholders=none)
    assert excluded.count() == 0
    ids = graph.identifiers(clicks, orders, social, crm)
    mapping = resolve(ids, pairs, excluded, max_iterations=10)
    person = {(r.id_type, r.id_value): r.person_id for r in mapping.collect()}  # nine rows
    member = person[("account", "A1")]
    assert {
        person[k]
        for k in [
            ("cookie", "c1"),
            ("phone", "ph1"),
            ("social_author", "oW_1"),
            ("social_author", "wb_1"),
            ("wechat_id", "wx1"),
        ]
    } == {member}
    assert person[("social_author", "oW_2")] == person[("wechat_id", "wx2")] != member
    assert person[("social_author", "wb_2")] not in {member, person[("wechat_id", "wx2")]}
    assert len(person) == 9


def _quality_frames(spark):
    truth = spark.createDataFrame(
        [
            ("cookie", "c1", 1),
            ("account", "A1", 1),
            ("phone", "h1", 1),
            ("cookie", "c2", 2),
            ("account", "A2", 2),
            ("cookie", "shared", 1),
            ("cookie", "shared", 2),
        ],
        "id_type string, id_value string, person_key long",
    )
    resolved = spark.createDataFrame(
        [
            ("cookie", "c1", "pA"),
            ("account", "A1", "pA"),
            ("phone", "h1", "pB"),
            ("cookie", "c2", "pA"),
            ("account", "A2", "pC"),
            ("cookie", "shared", "pA"),
        ],
        "id_type string, id_value string, person_id string",
    )
    excluded = spark.createDataFrame([], "id_type string, id_value string")
    return truth, resolved, excluded


def test_missed_pairs_and_stranded_identifiers_say_where_recall_is_lost(spark):
    from portrait.identity.quality import judged_cells, missed_pairs, stranded_identifiers

    cells = judged_cells(*_quality_frames(spark))
    # Person 1 (c1, A1, h1) lost h1 to pB; person 2 (c2, A2) is split between pA and pC.
    assertDataFrameEqual(
        missed_pairs(cells),
        spark.createDataFrame(
            [
                ("account", "cookie", 2, 1),
                ("account", "phone", 1, 1),
                ("cookie", "phone", 1, 1),
            ],
            "type_a string, type_b string, true_pairs long, missed_pairs long",
        ),
    )
    # Person 2's main resolved person is pA (a tie with pC, the smaller id wins): A2 is stranded.
    assertDataFrameEqual(
        stranded_identifiers(cells),
        spark.createDataFrame(
            [
                ("account", 2, 1, 1),
                ("cookie", 2, 0, 0),
                ("phone", 1, 1, 1),
            ],
            "id_type string, judged long, stranded long, alone long",
        ),
    )


# --- anomaly flags on order lines ----------------------------------------------------------------


def test_anomaly_flags_mark_lines_far_from_the_product_or_the_person_and_keep_every_row(spark):
    from portrait.identity.cleaning import with_anomaly_flags

    schema = (
        "order_id string, product_id string, person_id string, quantity int, unit_price double, discount_amount double"
    )
    orders = spark.createDataFrame(
        [
            ("o1", "P1", "u1", 1, 10.0, None),
            ("o2", "P1", "u1", 1, 10.0, 0.0),
            ("o3", "P1", "u1", 2, 10.0, None),  # twice the usual: not far
            ("o4", "P1", "u1", 1, 10.0, None),
            ("o5", "P1", "u1", -1, 10.0, None),  # a return of one: judged on |quantity|, not far
            ("o6", "P2", "u1", 1, 1000.0, None),  # P2 has 1 line: judged against u1's usual spend only
            ("o7", "P1", "u2", 40, 10.0, None),  # u2 has 2 lines: judged against P1 only
            ("o8", "P1", None, -30, 10.0, None),  # a guest returning 30: judged against P1 on |quantity|
            ("o9", "P1", "u2", 1, 10.0, None),
            ("o10", "P3", None, 500, 1.0, None),  # nothing to judge it against
            ("o11", "P1", "u1", None, None, None),  # nothing to judge
        ],
        schema,
    )
    got = with_anomaly_flags(orders)
    both = "quantity_vs_product,amount_vs_product"
    flags = {"o6": (False, True, "amount_vs_person"), "o7": (True, True, both), "o8": (True, True, both)}
    want = spark.createDataFrame(
        [(*r, *flags.get(r[0], (False, False, None))) for r in orders.collect()],  # 11 inline rows
        schema + ", quantity_anomaly boolean, amount_anomaly boolean, anomaly_reason string",
    )
    assertDataFrameEqual(got, want)
    assert got.columns == [*orders.columns, "quantity_anomaly", "amount_anomaly", "anomaly_reason"]


# --- the identity job across days: stable ids, history, reruns -----------------------------------


def _bronze(spark, lake, day, clicks, orders):
    lake.replace_range(
        spark.createDataFrame(
            [(day, f"e{day.day}{i}", c, u, None) for i, (c, u) in enumerate(clicks)],
            "date date, event_id string, anonymous_id string, user_id string, order_id string",
        ),
        catalog.BRONZE_CLICKSTREAM,
        start=day,
    )
    lake.replace_range(
        spark.createDataFrame(
            [(day, f"o{day.day}{i}", 1, a, ph, em, "P1", 1, 10.0, None) for i, (a, ph, em) in enumerate(orders)],
            "date date, order_id string, line_no int, account_id string, phone_hash string, email_hash string, "
            "product_id string, quantity int, unit_price double, discount_amount double",
        ),
        catalog.BRONZE_ORDERS,
        start=day,
    )
    lake.replace_range(
        spark.createDataFrame(
            [], "date date, post_id string, wechat_id_hash string, author_id string, account_id string"
        ),
        catalog.BRONZE_SOCIAL,
        start=day,
    )
    lake.replace_range(
        spark.createDataFrame(
            [(day, "A1", None, None, None, dt.datetime(2026, 1, 1), "f.csv")],
            "date date, account_id string, phone_hash string, email_hash string, wechat_id_hash string, "
            "consent_updated_at timestamp, source_file string",
        ),
        catalog.BRONZE_CRM,
        start=day,
    )


@pytest.mark.slow
def test_identity_history_across_days_and_a_rerun_of_the_same_day(spark, tmp_path):
    """Person ids stay stable across several daily runs and a rerun of one day: it needs the map of each run before it, so several runs."""
    from helpers import make_config

    from portrait import identity
    from portrait.io import Lakehouse

    cfg = make_config(tmp_path)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    # Day 1: A1 with two cookies and a phone; a guest order gives a second person (ph5, em5).
    _bronze(spark, lake, day1, [("c0", "A1"), ("c1", "A1")], [("A1", "ph1", None), (None, "ph5", "em5")])
    # Day 2: A1 on a new cookie, and an order of A1 with the guest's phone: the guest joins A1.
    _bronze(spark, lake, day2, [("c3", "A1")], [("A1", "ph5", None)])
    a1, guest = _pid("account:A1"), _pid("phone:ph5")

    def run(day):
        return identity.run(lake, identity.RunConf.of(cfg), day)

    run(day1)
    run(day2)
    first = lake.read(catalog.SILVER_IDENTITY_HISTORY).localCheckpoint(eager=True)
    mapped = lake.read(catalog.SILVER_IDENTITY_MAP).localCheckpoint(eager=True)
    run(day2)  # a rerun compares with day 1 again, not with its own output

    assertDataFrameEqual(
        first,
        spark.createDataFrame(
            [
                (day1, "new", a1, [], 4, 0),
                (day1, "new", guest, [], 2, 0),
                (day2, "merge", a1, [guest], 3, 0),
            ],
            HISTORY,
        ),
    )
    assertDataFrameEqual(lake.read(catalog.SILVER_IDENTITY_HISTORY), first)
    assertDataFrameEqual(lake.read(catalog.SILVER_IDENTITY_MAP), mapped)
    assertDataFrameEqual(mapped.select("person_id").distinct(), spark.createDataFrame([(a1,)], "person_id string"))


def test_linkable_recall_separates_pairs_no_record_links_from_pairs_the_resolver_missed(spark):
    from portrait.identity.quality import judged_cells, linkable_recall

    truth, resolved, excluded = _quality_frames(spark)
    # Records link c1-A1 (a login) and c2-A2; nothing names h1 with person 1's other identifiers,
    # and the c2-A2 link is one the resolver missed (c2 in pA, A2 in pC). A link across persons
    # (A1-c2, the shared cookie's doing) is not evidence for either person.
    evidence = spark.createDataFrame(
        [
            ("cookie", "c1", "account", "A1"),
            ("cookie", "c2", "account", "A2"),
            ("account", "A1", "cookie", "c2"),
        ],
        "type_a string, value_a string, type_b string, value_b string",
    )
    got = linkable_recall(judged_cells(truth, resolved, excluded), evidence)
    # Person 1: 3 true pairs, 1 linkable (c1-A1), found c1-A1 only. Person 2: 1 true pair (c2-A2), linkable, missed.
    assert (got["true_pairs"], got["linkable_pairs"], got["found_pairs"], got["found_linkable_pairs"]) == (4, 2, 1, 1)
    assert got["linkable_recall"] == 0.5 and got["recall"] == 0.25
    assert got["unlinkable_share_of_missed"] == pytest.approx(2 / 3)
