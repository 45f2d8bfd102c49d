"""Identity: every identifier resolved to one `person_id`, and silver tables with it on every row.

`run` builds the identity graph from bronze up to date D, leaves hubs and placeholders out of
linking, resolves connected components in Spark and names each person after its best anchor
identifier (an account if it has one). A person known before keeps their id when new
identifiers join them, when they absorb another person, and (the larger part) when they split
(`history.carry_over_ids`, against the map of the previous run). It writes `silver.identity_map`,
`silver.identity_excluded`, `silver.identity_history` (new, grow, shrink, merge, split, gone per
run), and the silver copies of events, orders (with anomaly flags, `cleaning`), social records
and customers with `person_id`.
"""
from __future__ import annotations

from functools import reduce

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from portrait import privacy
from portrait.config import Config
from portrait.identity import cleaning, graph, history
from portrait.identity.components import connected_components
from portrait.io import Lakehouse
from portrait.keys import BEGINNING, typed
from portrait import catalog

log = logging.getLogger(__name__)
PREVIOUS_MAP = catalog.SILVER_IDENTITY_MAP_PREVIOUS
MAP_COLUMNS = "id_type string, id_value string, person_id string"


def resolve(ids: DataFrame, pairs: DataFrame, excluded: DataFrame, *, max_iterations: int,
            previous: DataFrame | None = None) -> DataFrame:
    """Map every identifier to a person.

    Args:
        ids: (`id_type`, `id_value`) of every identifier seen.
        pairs: identifier links from `graph.links`.
        excluded: identifiers not used for linking (`graph.hubs`); they get no person.
        max_iterations: safety net of the connected-components loop.
        previous: the identity map of the previous run (`id_type`, `id_value`, `person_id`), or
            None. With it, persons keep their previous ids through growth, merges and splits
            (`history.carry_over_ids`); without it, every person is named after its best anchor.

    Returns:
        (`id_type`, `id_value`, `person_id`), one row per identifier not excluded.
    """
    keep = ids.join(excluded.select("id_type", "id_value"), on=["id_type", "id_value"], how="left_anti")
    nodes = keep.select("id_type", "id_value", graph.node_id(F.col("id_type"), F.col("id_value")).alias("node"))
    usable = (
        pairs.join(excluded.select(F.col("id_type").alias("type_a"), F.col("id_value").alias("value_a")),
                   on=["type_a", "value_a"], how="left_anti")
        .join(excluded.select(F.col("id_type").alias("type_b"), F.col("id_value").alias("value_b")),
              on=["type_b", "value_b"], how="left_anti")
        .select(graph.node_id(F.col("type_a"), F.col("value_a")).alias("u"),
                graph.node_id(F.col("type_b"), F.col("value_b")).alias("v"))
    )
    components = connected_components(usable, max_iterations=max_iterations)
    labelled = nodes.join(components, on="node", how="left").withColumn(
        "component", F.coalesce("component", "node")  # an identifier with no link is a person alone
    )
    rank = F.create_map(*[x for k, v in graph.ANCHOR_RANK.items() for x in (F.lit(k), F.lit(v))])
    anchor = F.min(F.struct(rank[F.col("id_type")].alias("rank"), F.col("id_type"), F.col("id_value")))
    anchors = labelled.groupBy("component").agg(anchor.alias("a")).select(
        "component", F.concat_ws(":", "a.id_type", "a.id_value").alias("anchor_key"),
    )
    if previous is None:
        names = anchors.select("component", history.person_id_of(F.col("anchor_key")).alias("person_id"))
    else:
        names = history.carry_over_ids(labelled.select("id_type", "id_value", "component"), anchors, previous)
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
    return with_person_id(latest, identity_map, [typed("account_id")]).withColumn(
        "as_of_date", F.lit(as_of)
    ).drop("date")


def _placeholders(spark: SparkSession, cfg: Config) -> DataFrame:
    rows = [(kind, value) for kind, values in cfg.identity.placeholders.items() for value in values]
    clear = spark.createDataFrame(rows, "id_type string, clear string")
    hashed = [
        clear.where(F.col("id_type") == kind).select(
            "id_type", privacy.pseudonymise(F.col("clear"), kind, cfg.pii_key()).alias("id_value")
        )
        for kind in cfg.identity.placeholders
    ]
    if not hashed:
        return spark.createDataFrame([], "id_type string, id_value string")
    return reduce(DataFrame.unionByName, hashed)


def _as_of(lake: Lakehouse, name: str) -> dt.date | None:
    """The `as_of_date` of a current-state table (all its rows share one), or None if it is absent or empty."""
    if not lake.exists(name):
        return None
    row = lake.read(name).select("as_of_date").limit(1).first()  # one date, no person data
    return row[0] if row else None


def previous_map(lake: Lakehouse, date: dt.date) -> DataFrame | None:
    """The identity map of the last identity run before `date`, or None if there is none.

    The current map is first copied to `silver.identity_map_previous` when it is older than
    `date`. A rerun of `date` finds the map already at `date` and compares with that copy instead,
    so it keeps the same ids and records the same history as the first run of the date.

    Args:
        lake: the lakehouse.
        date: the date of this run.

    Returns:
        (`id_type`, `id_value`, `person_id`, `as_of_date`) of the previous run, or None.
    """
    current = _as_of(lake, catalog.SILVER_IDENTITY_MAP)
    if current is not None and current < date:
        lake.overwrite(lake.read(catalog.SILVER_IDENTITY_MAP), PREVIOUS_MAP)
    before = _as_of(lake, PREVIOUS_MAP)
    if before is None or before >= date:
        if current is not None and current > date:
            log.warning("identity for %s runs after the map of %s: no earlier map to compare with, "
                        "person ids are derived from anchors and every person is recorded as new", date, current)
        return None
    return lake.read(PREVIOUS_MAP)


def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, int]:
    """Resolve identities over bronze up to `date` and rewrite the silver layer as of `date`."""
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    upto = F.col("date") <= F.lit(date)
    clicks = lake.read(catalog.BRONZE_CLICKSTREAM).where(upto)
    orders = lake.read(catalog.BRONZE_ORDERS).where(upto)
    social = lake.read(catalog.BRONZE_SOCIAL).where(upto)
    crm = lake.read(catalog.BRONZE_CRM).where(upto)

    pairs = graph.links(clicks, orders, social, crm).persist()
    excluded = graph.hubs(
        pairs, max_links=cfg.identity.max_persons_per_identifier, placeholders=_placeholders(spark, cfg)
    ).persist()
    ids = graph.identifiers(clicks, orders, social, crm)
    previous = previous_map(lake, date)
    identity_map = resolve(ids, pairs, excluded, max_iterations=cfg.identity.max_iterations, previous=previous)
    identity_map = identity_map.withColumn("as_of_date", F.lit(date)).localCheckpoint(eager=True)

    lake.overwrite(identity_map, catalog.SILVER_IDENTITY_MAP)
    # Replaces this date's history: a rerun compares with the same previous map and writes the same rows.
    before = previous if previous is not None else spark.createDataFrame([], MAP_COLUMNS)
    lake.replace_range(history.changes(before, identity_map, as_of=date), catalog.SILVER_IDENTITY_HISTORY, start=date)
    lake.overwrite(excluded.withColumn("as_of_date", F.lit(date)), catalog.SILVER_IDENTITY_EXCLUDED)
    lake.replace_range(
        with_person_id(clicks, identity_map, [typed("user_id"), typed("anonymous_id")]),
        catalog.SILVER_EVENTS, start=BEGINNING, end=date,
    )
    lake.replace_range(
        with_person_id(orders, identity_map, [typed("account_id"), typed("phone_hash"), typed("email_hash")])
        .transform(cleaning.with_anomaly_flags),
        catalog.SILVER_ORDERS, start=BEGINNING, end=date,
    )
    lake.replace_range(
        with_person_id(social, identity_map, [typed("wechat_id_hash"), typed("author_id")]),
        catalog.SILVER_SOCIAL, start=BEGINNING, end=date,
    )
    lake.overwrite(latest_customers(crm, identity_map, as_of=date), catalog.SILVER_CUSTOMERS)
    pairs.unpersist()
    excluded.unpersist()
    stats = lake.read(catalog.SILVER_IDENTITY_MAP).agg(
        F.count("*").alias("identifiers"), F.countDistinct("person_id").alias("persons")
    ).first().asDict()
    stats["excluded"] = lake.read(catalog.SILVER_IDENTITY_EXCLUDED).count()
    log.info("identity as of %s: %s", date, stats)
    return stats
