"""Segments: k by silhouette, stable ids across retrains, descriptions, movement and the ARI."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import ROOT
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog
from portrait.config import ConfigError, load_config
from portrait.models import segmentation as seg

D = dt.date(2026, 11, 1)


# --- adjusted Rand index -------------------------------------------------------------------


def test_ari_matches_a_hand_computed_example(spark):
    # a: {0,0,0 | 1,1,1}; b: {0,0 | 1,1 | 2,2} cut across. Contingency [[2,1,0],[0,1,2]]:
    # index = C(2,2)+C(2,2) = 2; rows 2*C(3,2) = 6; cols 3*C(2,2) = 3; C(6,2) = 15;
    # expected = 6*3/15 = 1.2; max = (6+3)/2 = 4.5; ARI = (2-1.2)/(4.5-1.2) = 8/33.
    df = spark.createDataFrame([(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (1, 2), (None, 2), (1, None)], "a int, b int")
    assert seg.adjusted_rand_index(df, "a", "b") == pytest.approx(8 / 33)


def test_ari_is_one_for_the_same_partition_under_other_labels_and_about_zero_for_a_cut_across(spark):
    same = spark.createDataFrame([("x", 5), ("x", 5), ("y", 7), ("y", 7), ("z", 9)], "a string, b int")
    assert seg.adjusted_rand_index(same, "a", "b") == pytest.approx(1.0)
    # a splits by halves, b alternates: every cell holds one pair's worth less than chance -> negative.
    across = spark.createDataFrame([(0, 0), (0, 1), (1, 0), (1, 1)], "a int, b int")
    assert seg.adjusted_rand_index(across, "a", "b") == pytest.approx(-0.5)


def test_ari_needs_two_labelled_rows(spark):
    with pytest.raises(ValueError, match="at least two rows"):
        seg.adjusted_rand_index(spark.createDataFrame([(1, None)], "a int, b int"), "a", "b")


# --- stable ids ---------------------------------------------------------------------------


def test_assignment_is_the_exact_minimum_not_the_greedy_one():
    # Greedy takes row 0 -> col 0 (1.0) and then row 1 -> col 1 (10.0): 11. Best is 2 + 2 = 4.
    assert seg._min_cost_assignment([[1.0, 2.0], [2.0, 10.0]]) == {0: 1, 1: 0}
    assert seg._min_cost_assignment([[5.0], [1.0]]) == {1: 0}  # more rows than columns


def test_new_centroids_keep_the_ids_of_the_previous_ones_they_match():
    previous = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    previous_ids = {0: 4, 1: 2, 2: 0}
    new = [[0.2, 9.5], [0.1, -0.3], [9.0, 0.5], [20.0, 20.0]]  # a permutation of them, and one more
    assert seg.match_segments(new, previous, previous_ids, scale=[1.0, 1.0]) == {0: 0, 1: 4, 2: 2, 3: 5}
    assert seg.match_segments(new[:3], [], {}, scale=[1.0, 1.0]) == {0: 0, 1: 1, 2: 2}


def test_with_segment_id_maps_clusters(spark):
    df = spark.createDataFrame([("p1", 0.0), ("p2", 1.0), ("p3", 2.0)], "person_id string, prediction double")
    assertDataFrameEqual(
        seg.with_segment_id(df, {0: 2, 1: 0, 2: 1}).select("person_id", "segment_id"),
        spark.createDataFrame([("p1", 2), ("p2", 0), ("p3", 1)], "person_id string, segment_id int"),
    )


def _portrait(spark, groups: list[tuple[int, int, float, float, int | None, int]]):
    """Rows (visit_days_90d, visit_days_30d, cart_to_purchase, coupon, tenure, copies)."""
    rows, i = [], 0
    for v90, v30, c2p, coupon, tenure, copies in groups:
        for j in range(copies):
            i += 1
            rows.append(
                (
                    f"p{i:03d}",
                    v90 + j % 3,
                    v30 + j % 2,
                    c2p,
                    coupon,
                    tenure,
                    j % 4,
                    float(j % 5 * 10),
                    j % 3,
                    5 + j % 4,
                    30 + j,
                    2 + j % 2,
                    v90,
                    3,
                    0.0,
                    1,
                )
            )
    return spark.createDataFrame(
        rows,
        (
            "person_id string, visit_days_90d int, visit_days_30d int, cart_to_purchase_rate_90d double, "
            "coupon_share_90d double, tenure_days int, orders_90d int, revenue_90d double, orders_365d int, "
            "days_since_last_order int, days_since_last_visit int, sessions_30d int, sessions_90d int, "
            "product_views_90d int, orders_trend_30d double, cart_adds_90d int"
        ),
    )


def test_fit_picks_k_by_silhouette_and_a_refit_keeps_ids(spark):
    portrait = _portrait(spark, [(40, 14, 0.6, 0.0, 900, 12), (2, 0, 0.0, 0.0, 900, 12), (20, 10, 0.3, 0.9, 10, 12)])
    model, metrics, curve = seg.fit_segments(portrait, ks=[2, 3, 4], seed=7)
    assert sorted(curve) == [2, 3, 4] and metrics["k"] == 3.0  # three well separated groups
    assert metrics["silhouette"] == max(curve.values())

    mapping, note = seg.stable_segment_ids(model, None, {})
    assert mapping == {0: 0, 1: 1, 2: 2} and note.startswith("fresh")
    again, _, _ = seg.fit_segments(portrait, ks=[3], seed=99)
    same, note = seg.stable_segment_ids(again, model, {}, previous_version="1")
    # Each new cluster gets the id of the old cluster holding the same persons.
    old = model.transform(portrait).select("person_id", F.col("prediction").cast("int").alias("old"))
    pairs = (
        again.transform(portrait)
        .select("person_id", F.col("prediction").cast("int").alias("prediction"))
        .join(old, on="person_id", how="inner")
        .select("prediction", "old")
        .distinct()
        .collect()
    )
    assert {int(r["prediction"]): int(r["old"]) for r in pairs} == same
    assert note.startswith("identity") == (same == {0: 0, 1: 1, 2: 2})

    profiles = [r.asDict() for r in seg.profile_segments(model, portrait, mapping).collect()]
    assert sorted(p["size"] for p in profiles) == [12, 12, 12]
    assert sum(p["share"] for p in profiles) == pytest.approx(1.0)
    names = seg.name_segments(profiles)
    assert len(set(names.values())) == 3
    table = seg.profiles_markdown(profiles, names)
    assert table.count("\n") == 5 and "| segment_id | name | size | share |" in table


def test_names_follow_the_rules():
    base = {
        "revenue_90d": 10.0,
        "days_since_last_visit": 5.0,
        "tenure_days": 400.0,
        "days_since_last_order": 20.0,
        "orders_365d": 2.0,
        "sessions_30d": 3.0,
    }
    profiles = [
        {**base, "segment_id": 0, "revenue_90d": 900.0},
        {**base, "segment_id": 3, "days_since_last_visit": 80.0},
        {**base, "segment_id": 5, "tenure_days": 10.0},
        {**base, "segment_id": 1, "days_since_last_order": 70.0},
        {**base, "segment_id": 2, "orders_365d": 6.0},
        {**base, "segment_id": 4, "sessions_30d": 9.0},
        {**base, "segment_id": 6},
    ]
    assert seg.name_segments(profiles) == {
        0: "champions",
        3: "hibernating",
        5: "new",
        1: "at_risk",
        2: "loyal",
        4: "promising",
        6: "promising_2",
    }


# --- movement -----------------------------------------------------------------------------


def test_movement_counts_persons_on_both_dates_and_their_moves(spark):
    cols = "person_id string, segment_id int, segment_name string"
    today = spark.createDataFrame(
        [("a", 1, "loyal"), ("b", 2, "at_risk"), ("c", 2, "at_risk"), ("d", 0, "new"), ("e", 3, "hibernating")], cols
    )
    before = spark.createDataFrame(
        [("a", 1, "loyal"), ("b", 1, "loyal"), ("c", 1, "loyal"), ("d", 4, "promising"), ("z", 3, "hibernating")], cols
    )
    got = seg.segment_movement(today, before, date=D, previous_date=D - dt.timedelta(days=1))
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [(D, D - dt.timedelta(days=1), 4, 3, 0.75, {"loyal->at_risk": 2, "promising->new": 1})],
            "date date, previous_date date, persons_compared long, persons_moved long, share_moved double, "
            "moves map<string,bigint>",
        ),
    )
    nobody = seg.segment_movement(today.limit(0), before, date=D, previous_date=D).first()
    assert (nobody["persons_compared"], nobody["persons_moved"], nobody["share_moved"], nobody["moves"]) == (
        0,
        0,
        None,
        {},
    )


# --- config -------------------------------------------------------------------------------


def test_k_range_and_fixed_k(tmp_path):
    conf = ROOT / "conf" / "local.yaml"
    assert load_config(conf).train.kmeans_ks == [4, 5, 6, 7, 8]
    assert load_config(conf, overrides={"train.kmeans_k": 5}).train.kmeans_ks == [5]
    with pytest.raises(ConfigError, match=r"train\.kmeans_k_range: must be \[low, high\] with low <= high"):
        load_config(conf, overrides={"train.kmeans_k_range": [6, 3]})
    with pytest.raises(ConfigError, match=r"train\.kmeans_k: must be >= 2, got 1"):
        load_config(conf, overrides={"train.kmeans_k": 1})


def test_scoring_records_movement_against_the_latest_earlier_date(spark, tmp_path):
    from portrait.io import Lakehouse
    from portrait.scoring import _record_segment_movement

    lake = Lakehouse(spark, str(tmp_path / "lake"))
    cols = "person_id string, segment_id int, segment_name string, date date, segment_model_version string"
    day0, day1 = D - dt.timedelta(days=1), D
    lake.replace_range(
        spark.createDataFrame([("a", 1, "loyal", day0, "1"), ("b", 1, "loyal", day0, "1")], cols),
        catalog.GOLD_SEGMENTS_DAILY,
        start=day0,
    )
    assert _record_segment_movement(lake, day0) == {}  # nothing before the first date
    lake.replace_range(
        spark.createDataFrame([("a", 1, "loyal", day1, "1"), ("b", 2, "at_risk", day1, "1")], cols),
        catalog.GOLD_SEGMENTS_DAILY,
        start=day1,
    )
    # Score passes its own frame of the date (its cached rows, before writing them): that frame is
    # compared, not the table's rows of the date (here both persons moved in it, one in the table).
    current = spark.createDataFrame(
        [("a", 2, "at_risk"), ("b", 2, "at_risk")], "person_id string, segment_id int, segment_name string"
    )
    assert _record_segment_movement(lake, day1, current) == {"segment_share_moved": 1.0}
    for _ in range(2):  # a rerun replaces the date's row
        assert _record_segment_movement(lake, day1) == {"segment_share_moved": 0.5}
    assertDataFrameEqual(
        lake.read(catalog.GOLD_SEGMENT_MOVEMENT).select("date", "previous_date", "persons_moved", "moves"),
        spark.createDataFrame(
            [(day1, day0, 1, {"loyal->at_risk": 1})],
            "date date, previous_date date, persons_moved long, moves map<string,bigint>",
        ),
    )
