"""Resolution builders: identifiers to persons, and source rows to their `person_id` (pure)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from portrait.identity import graph, history
from portrait.identity.components import connected_components

# The identifier columns of each silver table, (id_type, column) in priority order.
EVENT_KEYS = (("account", "user_id"), ("cookie", "anonymous_id"))
ORDER_KEYS = (("account", "account_id"), ("phone", "phone_hash"), ("email", "email_hash"))
SOCIAL_KEYS = (("wechat_id", "wechat_id_hash"), ("social_author", "author_id"))


def resolve(
    ids: DataFrame,
    pairs: DataFrame,
    excluded: DataFrame,
    *,
    max_iterations: int,
    previous: DataFrame | None = None,
    reserved: DataFrame | None = None,
    driver_max_edges: int = 0,
) -> DataFrame:
    """Map every identifier to a person.

    Args:
        ids: (`id_type`, `id_value`) of every identifier seen.
        pairs: identifier links from `graph.links`.
        excluded: identifiers not used for linking (`graph.hubs`); they get no person.
        max_iterations: safety net of the connected-components loop.
        previous: the identity map of the previous run (`id_type`, `id_value`, `person_id`), or
            None. With it, persons keep their previous ids through growth, merges and splits
            (`history.carry_over_ids`); without it, every person is named after its best anchor.
        reserved: (`person_id`) ids of persons outside `ids` that keep them (the daily run).
        driver_max_edges: `connected_components` on the driver up to this many links.

    Returns:
        (`id_type`, `id_value`, `person_id`), one row per identifier not excluded.
    """
    keep = ids.join(excluded.select("id_type", "id_value"), on=["id_type", "id_value"], how="left_anti")
    nodes = keep.select("id_type", "id_value", graph.node_id(F.col("id_type"), F.col("id_value")).alias("node"))
    usable = (
        pairs.join(
            excluded.select(F.col("id_type").alias("type_a"), F.col("id_value").alias("value_a")),
            on=["type_a", "value_a"],
            how="left_anti",
        )
        .join(
            excluded.select(F.col("id_type").alias("type_b"), F.col("id_value").alias("value_b")),
            on=["type_b", "value_b"],
            how="left_anti",
        )
        .select(
            graph.node_id(F.col("type_a"), F.col("value_a")).alias("u"),
            graph.node_id(F.col("type_b"), F.col("value_b")).alias("v"),
        )
    )
    components = connected_components(usable, max_iterations=max_iterations, driver_max_edges=driver_max_edges)
    labelled = nodes.join(components, on="node", how="left").withColumn(
        "component",
        F.coalesce("component", "node"),  # an identifier with no link is a person alone
    )
    rank = F.create_map(*[x for k, v in graph.ANCHOR_RANK.items() for x in (F.lit(k), F.lit(v))])
    anchor = F.min(F.struct(rank[F.col("id_type")].alias("rank"), F.col("id_type"), F.col("id_value")))
    anchors = (
        labelled.groupBy("component")
        .agg(anchor.alias("a"))
        .select(
            "component",
            F.concat_ws(":", "a.id_type", "a.id_value").alias("anchor_key"),
        )
    )
    if previous is None:
        names = anchors.select("component", history.person_id_of(F.col("anchor_key")).alias("person_id"))
    else:
        names = history.carry_over_ids(
            labelled.select("id_type", "id_value", "component"), anchors, previous, reserved=reserved
        )
    return labelled.join(names, on="component", how="inner").select("id_type", "id_value", "person_id")


def _lookup(identity_map: DataFrame, id_type: str, column: str) -> DataFrame:
    return identity_map.where(F.col("id_type") == id_type).select(
        F.col("id_value").alias(column), F.col("person_id").alias(f"_pid_{column}")
    )


def with_person_id(df: DataFrame, identity_map: DataFrame, keys: list[tuple[str, str]]) -> DataFrame:
    """Add `person_id` from the first of `keys` ((id_type, column), in priority order) that resolves."""
    out = df
    for id_type, column in keys:
        out = out.join(_lookup(identity_map, id_type, column), on=column, how="left")
    return out.withColumn("person_id", F.coalesce(*[F.col(f"_pid_{c}") for _, c in keys])).drop(
        *[f"_pid_{c}" for _, c in keys]
    )


def latest_customers(crm: DataFrame, identity_map: DataFrame, *, as_of: dt.date) -> DataFrame:
    """The latest CRM record per account as of a date, with `person_id`."""
    w = Window.partitionBy("account_id").orderBy(F.col("date").desc(), F.col("consent_updated_at").desc_nulls_last())
    latest = crm.withColumn("_rn", F.row_number().over(w)).where(F.col("_rn") == 1).drop("_rn", "source_file")
    return (
        with_person_id(latest, identity_map, [("account", "account_id")])
        .withColumn("as_of_date", F.lit(as_of))
        .drop("date")
    )
