"""Identity: connected components in Spark, hub exclusion, stable person ids."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.identity import graph, resolve
from portrait.identity.components import connected_components


def test_components_of_a_chain_a_star_and_a_pair(spark):
    chain = [(i, i + 1) for i in range(10, 30)]          # a long path: many rounds of label propagation
    star = [(100, 101), (102, 100), (100, 103)]
    pair = [(7, 8), (8, 7), (8, 8)]                         # duplicates and a self-loop
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
        [("c1", "A1"), ("c2", "A1"), ("tablet", "A2"), ("tablet", "A3"), ("c3", None), ("c4", "A3")],
        "anonymous_id string, user_id string",
    )
    orders = spark.createDataFrame(
        [("A1", "ph1", "em1"), ("A2", "ph2", "placeholder"), ("A3", "ph3", "placeholder"), (None, "ph9", "em9")],
        "account_id string, phone_hash string, email_hash string",
    )
    crm = spark.createDataFrame([("A1", "ph1", "em1", "wx1")],
                                "account_id string, phone_hash string, email_hash string, wechat_id_hash string")
    social = spark.createDataFrame([("wx1", None), (None, "weibo_7")], "wechat_id_hash string, author_id string")
    return clicks, orders, crm, social


def test_shared_device_and_placeholder_email_do_not_stitch_persons(spark):
    clicks, orders, crm, social = _frames(spark)
    pairs = graph.links(clicks, orders, crm)
    placeholders = spark.createDataFrame([("email", "placeholder")], "id_type string, id_value string")
    excluded = graph.hubs(pairs, max_links=1, placeholders=placeholders)
    assertDataFrameEqual(
        excluded.select("id_type", "id_value", "reason"),
        spark.createDataFrame([("email", "placeholder", "placeholder_value"),
                               ("cookie", "tablet", "links_too_many_identifiers")],
                              "id_type string, id_value string, reason string"),
    )
    ids = graph.identifiers(clicks, orders, social, crm)
    mapping = resolve(ids, pairs, excluded, max_iterations=10)
    person = {(r.id_type, r.id_value): r.person_id for r in mapping.collect()}  # a dozen rows
    # A1's cookies, phone, email and WeChat id are one person.
    assert len({person[k] for k in [("account", "A1"), ("cookie", "c1"), ("cookie", "c2"), ("phone", "ph1"),
                                    ("email", "em1"), ("wechat_id", "wx1")]}) == 1
    # A2 and A3 share a tablet and a placeholder email, and stay apart.
    assert person[("account", "A2")] != person[("account", "A3")]
    assert person[("cookie", "c4")] == person[("account", "A3")]
    assert ("cookie", "tablet") not in person and ("email", "placeholder") not in person
    # A guest order links its phone and email; an anonymous cookie is a person alone.
    assert person[("phone", "ph9")] == person[("email", "em9")]
    assert person[("cookie", "c3")] not in {person[("account", a)] for a in ("A1", "A2", "A3")}


def test_person_id_is_anchored_on_the_account_and_survives_new_identifiers(spark):
    clicks, orders, crm, social = _frames(spark)
    none = spark.createDataFrame([], "id_type string, id_value string, links long, reason string")

    def person_of_a1(clicks_df):
        ids = graph.identifiers(clicks_df, orders, social, crm)
        m = resolve(ids, graph.links(clicks_df, orders, crm), none, max_iterations=10)
        return m.where((F.col("id_type") == "account") & (F.col("id_value") == "A1")).first()["person_id"]

    before = person_of_a1(clicks)
    more = clicks.unionByName(spark.createDataFrame([("c0000", "A1")], "anonymous_id string, user_id string"))
    assert person_of_a1(more) == before


def test_pairwise_quality_counts_over_and_under_stitching(spark):
    from portrait.identity.quality import pairwise_quality

    truth = spark.createDataFrame([
        ("cookie", "c1", 1), ("account", "A1", 1), ("phone", "h1", 1),   # person 1: 3 identifiers, 3 true pairs
        ("cookie", "c2", 2), ("account", "A2", 2),                       # person 2: 1 true pair
        ("cookie", "shared", 1), ("cookie", "shared", 2),                 # shared: not judged
    ], "id_type string, id_value string, person_key long")
    resolved = spark.createDataFrame([
        ("cookie", "c1", "pA"), ("account", "A1", "pA"),                 # phone h1 missed (recall)
        ("phone", "h1", "pB"),
        ("cookie", "c2", "pA"), ("account", "A2", "pC"),                 # c2 stitched into pA (precision)
        ("cookie", "shared", "pA"),
    ], "id_type string, id_value string, person_id string")
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
    assertDataFrameEqual(excluded.select("id_type", "id_value", "links"),
                         spark.createDataFrame([("phone", "cc", 7)], "id_type string, id_value string, links long"))
