"""Product recommendations (portrait.models.recommend): ids, feedback, exclusion, metrics, ALS vs popularity."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from pyspark.sql import functions as F

from portrait.models import recommend

D = dt.date(2026, 11, 1)
CATS = ["sneakers", "apparel", "beauty", "electronics", "home", "books"]
WEIGHTS = {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
EVENTS = "person_id string, event_type string, product_id string, ts timestamp, date date"
ORDERS = "person_id string, status string, product_id string, order_ts timestamp, date date"


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12))


def test_dense_ids_number_every_key_once_from_zero(spark):
    keys = spark.range(0, 1000, numPartitions=7).select(
        F.concat(F.lit("p_"), (F.col("id") % 613).cast("string")).alias("k")
    )
    ids = recommend.dense_ids(keys, "k", "user")
    rows = ids.collect()
    assert len(rows) == 613
    assert sorted(r["user"] for r in rows) == list(range(613))
    assert len({r["k"] for r in rows}) == 613


def test_interactions_weigh_views_carts_and_completed_purchases_in_the_window(spark):
    old = D - dt.timedelta(days=40)
    events = spark.createDataFrame(
        [
            ("a", "product_view", "books", _at(D), D),
            ("a", "product_view", "books", _at(D), D),
            ("a", "add_to_cart", "books", _at(D), D),
            ("a", "search", "books", _at(D), D),  # not feedback
            ("a", "page_view", None, _at(D), D),  # no product
            ("a", "product_view", "home", _at(old), old),  # before the window
            (None, "product_view", "home", _at(D), D),  # no person
        ],
        EVENTS,
    )
    orders = spark.createDataFrame(
        [
            ("a", "completed", "books", _at(D), D),
            ("a", "returned", "home", _at(D), D),
            ("b", "completed", "home", _at(D), D),
        ],
        ORDERS,
    )
    got = recommend.interactions(events, orders, start=D - dt.timedelta(days=29), end=D, weights=WEIGHTS).collect()
    assert sorted((r["person_id"], r["product_id"], r["strength"]) for r in got) == [
        ("a", "books", 1 + 1 + 3 + 5.0),
        ("b", "home", 5.0),
    ]


def test_recommendations_leave_out_recent_purchases_and_fall_back_to_popularity(spark):
    rows = spark.createDataFrame([("a",), ("b",), ("c",)], "person_id string")
    ranked = spark.createDataFrame(
        [("a", ["books", "home", "beauty", "apparel"])], "person_id string, products array<string>"
    )
    recent = spark.createDataFrame([("a", ["home"]), ("c", ["sneakers"])], "person_id string, products array<string>")
    got = {
        r["person_id"]: r["recommendations"]
        for r in recommend.with_recommendations(
            rows, ranked, recent, fallback=["sneakers", "apparel", "books"], k=2
        ).collect()
    }
    assert got == {"a": ["books", "beauty"], "b": ["sneakers", "apparel"], "c": ["apparel", "books"]}
    none = recommend.with_recommendations(rows, None, recent.limit(0), fallback=[], k=2)
    assert none.where(F.col("recommendations").isNotNull()).isEmpty()


def test_precision_and_recall_at_k(spark):
    recs = spark.createDataFrame(
        [("a", ["books", "home"]), ("b", ["home", "beauty"]), ("c", ["books", "home"])],
        "person_id string, top array<string>",
    )
    truth = spark.createDataFrame(
        [("a", ["books"]), ("b", ["sneakers", "apparel", "home", "beauty"])],
        "person_id string, products array<string>",
    )
    m = recommend.precision_recall(recs, truth, 2)
    assert m["persons"] == 2  # c bought nothing in the test window
    assert m["precision"] == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert m["recall"] == pytest.approx((1 / 1 + 2 / 4) / 2)


def _planted(spark, persons: int = 150, seed: int = 3):
    """Products in 6 categories of 12 each, popular ones more often; every person has two favourite
    categories and browses and buys mostly in them. Returns events, orders."""
    rnd = random.Random(seed)
    products = {c: [f"{c[:2]}{j:02d}" for j in range(12)] for c in CATS}
    pick = lambda c: products[c][min(int(rnd.random() ** 2 * 12), 11)]  # noqa: E731 - popular first
    events, orders = [], []
    for i in range(persons):
        favourite = rnd.sample(CATS, 2)
        for day_back in range(0, 60):
            day = D - dt.timedelta(days=day_back)
            for _ in range(2):
                if rnd.random() < 0.4:
                    product = pick(rnd.choice(favourite) if rnd.random() < 0.85 else rnd.choice(CATS))
                    events.append((f"p{i}", "product_view", product, _at(day), day))
                    if rnd.random() < 0.3:
                        events.append((f"p{i}", "add_to_cart", product, _at(day), day))
            if rnd.random() < 0.12:
                product = pick(rnd.choice(favourite) if rnd.random() < 0.9 else rnd.choice(CATS))
                orders.append((f"p{i}", "completed", product, _at(day), day))
    return spark.createDataFrame(events, EVENTS), spark.createDataFrame(orders, ORDERS)


def test_als_beats_popularity_on_a_time_split_of_planted_tastes(spark):
    events, orders = _planted(spark)
    m = recommend.evaluate_split(
        events,
        orders,
        cut=D - dt.timedelta(days=14),
        end=D,
        lookback_days=45,
        exclude_days=7,
        weights=WEIGHTS,
        k=3,
        keep=20,
        als_params={"rank": 6, "max_iter": 8, "reg_param": 1.0, "alpha": 1.0, "seed": 7},
    )
    assert m["test_persons"] > 80
    assert m["als_precision_at_3"] > 1.5 * m["popularity_precision_at_3"]
    assert m["als_recall_at_3"] > m["popularity_recall_at_3"]
    assert 0 <= m["own_history_precision_at_3"] <= 1


def test_ranked_names_products_best_first(spark):
    events, orders = _planted(spark, persons=40)
    strengths = recommend.interactions(events, orders, start=D - dt.timedelta(days=30), end=D, weights=WEIGHTS)
    model, users, items = recommend.fit(strengths, rank=4, max_iter=5, reg_param=0.1, alpha=10.0, seed=7)
    rows = recommend.ranked(model, users, items, 5).collect()
    assert len(rows) == 40
    known = {r["product_id"] for r in strengths.select("product_id").distinct().collect()}
    for r in rows:
        assert len(r["products"]) == 5 and set(r["products"]) <= known
        assert r["scores"] == sorted(r["scores"], reverse=True)
    assert recommend.popularity(strengths, 3) == [
        r["product_id"]
        for r in strengths.groupBy("product_id")
        .agg(F.sum("strength").alias("s"))
        .orderBy(F.desc("s"), "product_id")
        .limit(3)
        .collect()
    ]
