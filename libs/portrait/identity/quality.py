"""How well identity resolution recovers the real persons, measured against a known truth.

Pairwise precision and recall over identifiers: two identifiers of one resolved person are a
predicted pair; two identifiers of one true person are a true pair. Precision = true pairs found /
pairs predicted (over-stitching lowers it), recall = true pairs found / true pairs (missed links
lower it). Computed from counts per (true person, resolved person), all in Spark.

Only identifiers that the pipeline saw (in the identity map or the excluded list) and that belong
to exactly one true person are judged: a value shared by several real people (a family tablet, a
placeholder email) has no single right answer. An excluded identifier counts as a person alone.

`missed_pairs` says where recall is lost: true pairs not found, by the types of their two identifiers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import privacy
from portrait.identity.components import connected_components
from portrait.identity.graph import node_id


def truth_identifiers(persons: DataFrame, *, key: bytes) -> DataFrame:
    """(`id_type`, `id_value`, `person_key`) from the generator's truth, PII hashed like ingest does."""
    parts = [
        persons.select(F.lit("account").alias("id_type"), F.col("account_id").alias("id_value"), "person_key"),
        persons.select(F.lit("cookie").alias("id_type"), F.explode("cookies").alias("id_value"), "person_key"),
        persons.select(
            F.lit("social_author").alias("id_type"), F.explode("social_author_ids").alias("id_value"), "person_key"
        ),
    ] + [
        persons.select(
            F.lit(kind).alias("id_type"), privacy.pseudonymise(F.col(kind), kind, key).alias("id_value"), "person_key"
        )
        for kind in ("phone", "email", "wechat_id")
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(F.col("id_value").isNotNull()).distinct()


def _pairs(n: Column) -> Column:
    return n * (n - 1) / 2


def judged_cells(truth_ids: DataFrame, identity_map: DataFrame, excluded: DataFrame) -> DataFrame:
    """Judged identifiers with their true and resolved person: (`id_type`, `id_value`, `person_key`, `person_id`).

    Only identifiers of exactly one true person that the pipeline saw are judged; an excluded
    identifier gets a resolved person of its own.
    """
    unique_truth = (
        truth_ids.groupBy("id_type", "id_value")
        .agg(F.countDistinct("person_key").alias("n"), F.first("person_key").alias("person_key"))
        .where(F.col("n") == 1)
        .drop("n")
    )
    seen = identity_map.select("id_type", "id_value", "person_id").unionByName(
        excluded.select(
            "id_type",
            "id_value",
            F.concat(F.lit("excluded:"), F.col("id_type"), F.lit(":"), F.col("id_value")).alias("person_id"),
        )
    )
    return unique_truth.join(seen, on=["id_type", "id_value"], how="inner")


def _pairs_by_type(counts: DataFrame, keys: list[str]) -> DataFrame:
    """Pairs of identifiers within each group of `keys`, by (`type_a`, `type_b`), type_a <= type_b.

    `counts` holds `keys`, `id_type` and `n` (identifiers of that type in the group).
    """
    a = counts.select(*keys, F.col("id_type").alias("type_a"), F.col("n").alias("n_a"))
    b = counts.select(*keys, F.col("id_type").alias("type_b"), F.col("n").alias("n_b"))
    pairs = F.when(F.col("type_a") == F.col("type_b"), _pairs(F.col("n_a"))).otherwise(F.col("n_a") * F.col("n_b"))
    return (
        a.join(b, on=keys, how="inner")
        .where(F.col("type_a") <= F.col("type_b"))
        .groupBy("type_a", "type_b")
        .agg(F.sum(pairs).alias("pairs"))
    )


def missed_pairs(cells: DataFrame) -> DataFrame:
    """True pairs not found, by identifier types: (`type_a`, `type_b`, `true_pairs`, `missed_pairs`).

    Args:
        cells: `judged_cells` output.

    Returns:
        One row per pair of types (type_a <= type_b) with at least one true pair.
    """
    per_truth = cells.groupBy("person_key", "id_type").agg(F.count("*").alias("n"))
    per_cell = cells.groupBy("person_key", "person_id", "id_type").agg(F.count("*").alias("n"))
    true = _pairs_by_type(per_truth, ["person_key"]).withColumnRenamed("pairs", "true_pairs")
    found = _pairs_by_type(per_cell, ["person_key", "person_id"]).withColumnRenamed("pairs", "found_pairs")
    return (
        true.join(found, on=["type_a", "type_b"], how="left")
        .select(
            "type_a",
            "type_b",
            F.col("true_pairs").cast("long").alias("true_pairs"),
            (F.col("true_pairs") - F.coalesce(F.col("found_pairs"), F.lit(0))).cast("long").alias("missed_pairs"),
        )
        .where(F.col("true_pairs") > 0)
    )


def stranded_identifiers(cells: DataFrame) -> DataFrame:
    """Identifiers outside the main resolved person of their true person, by type.

    The main resolved person of a true person is the one holding most of their identifiers
    (ties: the smallest person_id). Returns (`id_type`, `judged`, `stranded`, `alone`): `alone`
    counts stranded identifiers that resolved to a person with no other judged identifier.
    """
    per_cell = cells.groupBy("person_key", "person_id").agg(F.count("*").alias("n"))
    main = per_cell.groupBy("person_key").agg(
        F.min(F.struct((-F.col("n")).alias("neg_n"), F.col("person_id"))).getField("person_id").alias("main_id")
    )
    size = cells.groupBy("person_id").agg(F.count("*").alias("resolved_size"))
    flagged = cells.join(main, on="person_key", how="inner").join(size, on="person_id", how="inner")
    stranded = F.col("person_id") != F.col("main_id")
    return flagged.groupBy("id_type").agg(
        F.count("*").alias("judged"),
        F.sum(stranded.cast("long")).alias("stranded"),
        F.sum((stranded & (F.col("resolved_size") == 1)).cast("long")).alias("alone"),
    )


def pairwise_quality(truth_ids: DataFrame, identity_map: DataFrame, excluded: DataFrame) -> dict[str, float]:
    """Pairwise precision and recall, and person-level purity and completeness.

    Args:
        truth_ids: `truth_identifiers` output.
        identity_map: `silver.identity_map` (id_type, id_value, person_id).
        excluded: `silver.identity_excluded` (id_type, id_value).
    """
    judged = judged_cells(truth_ids, identity_map, excluded)
    cells = judged.groupBy("person_key", "person_id").agg(F.count("*").alias("n"))
    resolved = cells.groupBy("person_id").agg(F.sum("n").alias("n"), F.count("*").alias("true_persons"))
    truth = cells.groupBy("person_key").agg(F.sum("n").alias("n"), F.count("*").alias("resolved_persons"))
    tp = cells.agg(F.sum(_pairs(F.col("n")))).first()[0] or 0.0
    r = resolved.agg(
        F.sum(_pairs(F.col("n"))).alias("pairs"),
        F.avg((F.col("true_persons") == 1).cast("double")).alias("pure"),
        F.count("*").alias("persons"),
    ).first()
    t = truth.agg(
        F.sum(_pairs(F.col("n"))).alias("pairs"),
        F.avg((F.col("resolved_persons") == 1).cast("double")).alias("whole"),
        F.count("*").alias("persons"),
        F.sum("n").alias("identifiers"),
    ).first()
    return {
        "precision": tp / r["pairs"] if r["pairs"] else 1.0,
        "recall": tp / t["pairs"] if t["pairs"] else 1.0,
        "resolved_persons_pure": r["pure"],
        "true_persons_whole": t["whole"],
        "resolved_persons": float(r["persons"]),
        "true_persons": float(t["persons"]),
        "identifiers_judged": float(t["identifiers"]),
    }


def linkable_recall(cells: DataFrame, evidence: DataFrame, *, max_iterations: int = 30) -> dict[str, float]:
    """Recall over the true pairs that the records could link at all, and how much of the missed
    recall no record could have found.

    A true pair is *linkable* when a chain of evidence links (`graph.links`: pairs of identifiers
    named together by one record) joins its two identifiers through identifiers of the same true
    person only. A deterministic resolver can find at most the linkable pairs; the rest (a cookie
    never signed in, an author id bound to nothing) need other evidence or probabilistic matching.
    Hub exclusion is what stands between a resolver and the linkable pairs.

    Args:
        cells: `judged_cells` output.
        evidence: `graph.links` output (all links, before hub exclusion).

    Returns:
        `true_pairs`, `linkable_pairs`, `found_pairs`, `found_linkable_pairs`, `linkable_share`
        (linkable / true), `recall` (found / true), `linkable_recall` (found linkable / linkable)
        and `unlinkable_share_of_missed` ((true - linkable) / (true - found)).
    """
    owner = cells.select("id_type", "id_value", "person_key", node_id(F.col("id_type"), "id_value").alias("node"))
    a = owner.select(
        F.col("id_type").alias("type_a"),
        F.col("id_value").alias("value_a"),
        F.col("person_key").alias("key_a"),
        F.col("node").alias("u"),
    )
    b = owner.select(
        F.col("id_type").alias("type_b"),
        F.col("id_value").alias("value_b"),
        F.col("person_key").alias("key_b"),
        F.col("node").alias("v"),
    )
    inside = (
        evidence.join(a, on=["type_a", "value_a"])
        .join(b, on=["type_b", "value_b"])
        .where(F.col("key_a") == F.col("key_b"))
        .select("u", "v")
    )
    component = connected_components(inside, max_iterations=max_iterations)
    grouped = (
        owner.join(component, on="node", how="left")
        .withColumn("component", F.coalesce("component", "node"))  # no evidence: a group of its own
        .join(cells.select("id_type", "id_value", "person_id"), on=["id_type", "id_value"])
        .groupBy("person_key", "component", "person_id")
        .agg(F.count("*").alias("n"))
        .persist()
    )  # four sums below read it

    def pairs(*keys: str) -> float:
        counted = grouped.groupBy(*keys).agg(F.sum("n").alias("n"))
        return float(counted.agg(F.sum(_pairs(F.col("n")))).first()[0] or 0.0)

    true, linkable = pairs("person_key"), pairs("person_key", "component")
    found, found_linkable = pairs("person_key", "person_id"), pairs("person_key", "component", "person_id")
    grouped.unpersist()
    missed = true - found
    return {
        "true_pairs": true,
        "linkable_pairs": linkable,
        "found_pairs": found,
        "found_linkable_pairs": found_linkable,
        "linkable_share": linkable / true if true else 1.0,
        "recall": found / true if true else 1.0,
        "linkable_recall": found_linkable / linkable if linkable else 1.0,
        "unlinkable_share_of_missed": (true - linkable) / missed if missed else 0.0,
    }
