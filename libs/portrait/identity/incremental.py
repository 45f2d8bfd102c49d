"""The daily identity run's builders: which persons day D touches, and what changes for them (pure).

Day D adds links (pairs first seen on D) and may change which identifiers are hubs. A person is
*touched* when one of their identifiers is an end of a new link, or changed hub status, or is a
neighbour of an identifier that changed hub status. Every component of the graph after D that
differs from a previous person is made of touched persons and identifiers not in the previous map
(an untouched person's identifiers link only to each other: a link to anything else would be new,
or would run through an identifier whose status changed), so re-resolving the touched persons with
the identifiers new on D gives the same map as resolving everything (`resolve` with `previous`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.identity.graph import PAIR

ID = ["id_type", "id_value"]


def _ends(links: DataFrame) -> DataFrame:
    """Both ends of every link as (`id_type`, `id_value`)."""
    return links.select(F.col("type_a").alias("id_type"), F.col("value_a").alias("id_value")).unionByName(
        links.select(F.col("type_b").alias("id_type"), F.col("value_b").alias("id_value"))
    )


def new_links(day_links: DataFrame, known: DataFrame) -> DataFrame:
    """Links of the day (`dated_links` of D's records) not among the `known` links (first seen before D)."""
    return day_links.join(known.select(*PAIR), on=list(PAIR), how="left_anti")


def status_changed(excluded_before: DataFrame, excluded_now: DataFrame) -> DataFrame:
    """Identifiers excluded now and not before, or before and not now (`id_type`, `id_value`)."""
    before, now = excluded_before.select(*ID).distinct(), excluded_now.select(*ID).distinct()
    return before.join(now, on=ID, how="left_anti").unionByName(now.join(before, on=ID, how="left_anti"))


def touched_identifiers(added: DataFrame, changed: DataFrame, links: DataFrame) -> DataFrame:
    """Ends of the new links, identifiers whose hub status changed, and their neighbours in `links`."""
    a = changed.select(F.col("id_type").alias("type_a"), F.col("id_value").alias("value_a"))
    b = changed.select(F.col("id_type").alias("type_b"), F.col("id_value").alias("value_b"))
    around = links.join(a, on=["type_a", "value_a"], how="left_semi").unionByName(
        links.join(b, on=["type_b", "value_b"], how="left_semi")
    )
    return (
        _ends(added.select(*PAIR)).unionByName(changed.select(*ID)).unionByName(_ends(around.select(*PAIR))).distinct()
    )


def touched_persons(previous: DataFrame, touched: DataFrame) -> DataFrame:
    """Previous persons (`person_id`) holding a touched identifier."""
    return previous.join(touched, on=ID, how="left_semi").select("person_id").distinct()


def subgraph(previous: DataFrame, persons: DataFrame, touched: DataFrame, day_ids: DataFrame) -> DataFrame:
    """Identifiers to re-resolve: every identifier of the touched persons, the touched identifiers,
    and the day's identifiers that no previous person holds."""
    theirs = previous.join(persons, on="person_id", how="left_semi").select(*ID)
    unseen = day_ids.select(*ID).join(previous.select(*ID), on=ID, how="left_anti")
    return theirs.unionByName(touched.select(*ID)).unionByName(unseen).distinct()


def links_within(links: DataFrame, ids: DataFrame) -> DataFrame:
    """Links whose two ends are both in `ids`."""
    a = ids.select(F.col("id_type").alias("type_a"), F.col("id_value").alias("value_a"))
    b = ids.select(F.col("id_type").alias("type_b"), F.col("id_value").alias("value_b"))
    return links.join(a, on=["type_a", "value_a"], how="left_semi").join(b, on=["type_b", "value_b"], how="left_semi")


def map_delta(before: DataFrame, after: DataFrame) -> DataFrame:
    """Rows that change in the identity map: (`id_type`, `id_value`, `person_id`, `_delete`).

    `before` is the previous map of the touched persons, `after` their re-resolved map. A row is
    an upsert when the identifier is new or changed person, a delete when it left the map (hub).
    """
    old = before.select(*ID, F.col("person_id").alias("_old"))
    joined = after.select(*ID, "person_id").join(old, on=ID, how="full")
    return joined.where(~F.col("person_id").eqNullSafe(F.col("_old"))).select(
        *ID, "person_id", F.col("person_id").isNull().alias("_delete")
    )


def moved_persons(delta: DataFrame, before: DataFrame) -> DataFrame:
    """Previous persons (`person_id`) an identifier of which changed person or left the map: the
    silver rows to re-resolve are theirs."""
    return before.join(delta.select(*ID), on=ID, how="left_semi").select("person_id").distinct()
