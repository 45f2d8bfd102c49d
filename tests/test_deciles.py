"""Equal-sized deciles: 1 = top, ties split by person_id, each decile 10 % of the persons."""

from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.models import evaluation
from portrait.models.deciles import with_decile


def test_a_tie_is_split_across_deciles_by_person_id(spark):
    # Ten persons: one top score, five tied in the middle, four tied at the bottom, one without a score.
    scores = [("j", 0.9), ("b", 0.5), ("d", 0.5), ("a", 0.5), ("e", 0.5), ("c", 0.5)]
    scores += [("i", 0.1), ("g", 0.1), ("h", 0.1), ("f", 0.1), ("z", None)]
    rows = spark.createDataFrame(scores, "person_id string, purchase_propensity double")
    got = with_decile(rows, "purchase_propensity", output="propensity_decile")
    expected = spark.createDataFrame(
        [("j", 0.9, 1), ("a", 0.5, 2), ("b", 0.5, 3), ("c", 0.5, 4), ("d", 0.5, 5), ("e", 0.5, 6)]
        + [("f", 0.1, 7), ("g", 0.1, 8), ("h", 0.1, 9), ("i", 0.1, 10), ("z", None, None)],
        "person_id string, purchase_propensity double, propensity_decile int",
    )
    assertDataFrameEqual(got, expected)


def test_each_decile_holds_ten_percent_whatever_the_ties(spark):
    # 1,003 persons; 30 % share the score 0 and 12 % the score 1 (the step calibration's shape).
    n = 1003
    score = F.when(F.col("id") % 100 < 30, 0.0).when(F.col("id") % 100 < 42, 1.0).otherwise(F.rand(5))
    rows = spark.range(n).select(F.format_string("p%04d", "id").alias("person_id"), score.alias("s")).localCheckpoint()
    got = with_decile(rows, "s", output="decile").localCheckpoint()
    sizes = {r["decile"]: r["count"] for r in got.groupBy("decile").count().collect()}
    assert sorted(sizes) == list(range(1, 11))
    assert all(0.09 * n <= c <= 0.11 * n for c in sizes.values()), sizes
    # Against a plain sort by (score desc, person_id): the same decile for every person.
    ranked = sorted((-r["s"], r["person_id"]) for r in rows.collect())
    by_sort = {pid: min(k * 10 // n + 1, 10) for k, (_, pid) in enumerate(ranked)}
    assert {r["person_id"]: r["decile"] for r in got.collect()} == by_sort
    # Decile 1 is the top: its lowest score is at least the highest score of decile 2.
    bounds = {
        r["decile"]: (r["lo"], r["hi"])
        for r in got.groupBy("decile").agg(F.min("s").alias("lo"), F.max("s").alias("hi")).collect()
    }
    assert all(bounds[d][0] >= bounds[d + 1][1] for d in range(1, 10))


def test_the_decile_table_has_ten_equal_deciles_even_with_tied_scores(spark):
    data = [(f"p{i:03d}", 0.5 if i < 60 else i / 100, 1.0 if i >= 80 else 0.0) for i in range(100)]
    scored = spark.createDataFrame(data, "person_id string, p double, label double")
    table = evaluation.decile_table(scored)
    assert [d["decile"] for d in table] == list(range(1, 11)) and {d["rows"] for d in table} == {10}
    assert [d["positives"] for d in table] == [10.0, 10.0] + [0.0] * 8
