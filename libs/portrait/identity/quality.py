"""How well identity resolution recovers the real persons, measured against a known truth.

Pairwise precision and recall over identifiers: two identifiers of one resolved person are a
predicted pair; two identifiers of one true person are a true pair. Precision = true pairs found /
pairs predicted (over-stitching lowers it), recall = true pairs found / true pairs (missed links
lower it). Computed from counts per (true person, resolved person), all in Spark.

Only identifiers that the pipeline saw (in the identity map or the excluded list) and that belong
to exactly one true person are judged: a value shared by several real people (a family tablet, a
placeholder email) has no single right answer. An excluded identifier counts as a person alone.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import privacy


def truth_identifiers(persons: DataFrame, *, key: bytes) -> DataFrame:
    """(`id_type`, `id_value`, `person_key`) from the generator's truth, PII hashed like ingest does."""
    parts = [
        persons.select(F.lit("account").alias("id_type"), F.col("account_id").alias("id_value"), "person_key"),
        persons.select(F.lit("cookie").alias("id_type"), F.explode("cookies").alias("id_value"), "person_key"),
        persons.select(F.lit("social_author").alias("id_type"), F.explode("social_author_ids").alias("id_value"), "person_key"),
    ] + [
        persons.select(F.lit(kind).alias("id_type"), privacy.pseudonymise(F.col(kind), kind, key).alias("id_value"),
                       "person_key")
        for kind in ("phone", "email", "wechat_id")
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(F.col("id_value").isNotNull()).distinct()


def _pairs(n: Column) -> Column:
    return n * (n - 1) / 2


def pairwise_quality(truth_ids: DataFrame, identity_map: DataFrame, excluded: DataFrame) -> dict[str, float]:
    """Pairwise precision and recall, and person-level purity and completeness.

    Args:
        truth_ids: `truth_identifiers` output.
        identity_map: `silver.identity_map` (id_type, id_value, person_id).
        excluded: `silver.identity_excluded` (id_type, id_value).
    """
    unique_truth = (
        truth_ids.groupBy("id_type", "id_value").agg(F.countDistinct("person_key").alias("n"), F.first("person_key").alias("person_key"))
        .where(F.col("n") == 1).drop("n")
    )
    seen = identity_map.select("id_type", "id_value", "person_id").unionByName(
        excluded.select("id_type", "id_value",
                        F.concat(F.lit("excluded:"), F.col("id_type"), F.lit(":"), F.col("id_value")).alias("person_id"))
    )
    judged = unique_truth.join(seen, on=["id_type", "id_value"], how="inner")
    cells = judged.groupBy("person_key", "person_id").agg(F.count("*").alias("n"))
    resolved = cells.groupBy("person_id").agg(F.sum("n").alias("n"), F.count("*").alias("true_persons"))
    truth = cells.groupBy("person_key").agg(F.sum("n").alias("n"), F.count("*").alias("resolved_persons"))
    tp = cells.agg(F.sum(_pairs(F.col("n")))).first()[0] or 0.0
    r = resolved.agg(F.sum(_pairs(F.col("n"))).alias("pairs"), F.avg((F.col("true_persons") == 1).cast("double")).alias("pure"),
                     F.count("*").alias("persons")).first()
    t = truth.agg(F.sum(_pairs(F.col("n"))).alias("pairs"), F.avg((F.col("resolved_persons") == 1).cast("double")).alias("whole"),
                  F.count("*").alias("persons"), F.sum("n").alias("identifiers")).first()
    return {
        "precision": tp / r["pairs"] if r["pairs"] else 1.0,
        "recall": tp / t["pairs"] if t["pairs"] else 1.0,
        "resolved_persons_pure": r["pure"],
        "true_persons_whole": t["whole"],
        "resolved_persons": float(r["persons"]),
        "true_persons": float(t["persons"]),
        "identifiers_judged": float(t["identifiers"]),
    }
