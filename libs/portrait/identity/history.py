"""Identity across runs: person ids carried over from the previous map, and the change record.

A person's id should outlive the identifiers that join or leave them. `carry_over_ids` names the
components of this run after the previous map: a component that holds identifiers of previous
persons keeps one of their ids, so a person who gains a cookie, or absorbs another person, keeps
the id that downstream tables already use. `changes` compares the previous map with the new one
and says, per person, what happened: `new`, `grow`, `shrink`, `merge`, `split` or `gone`
(rows of `silver.identity_history`).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def person_id_of(anchor_key: Column) -> Column:
    """The person id derived from an anchor key (`"<id_type>:<id_value>"`): `p_` + 20 hex chars of SHA-256."""
    return F.concat(F.lit("p_"), F.substring(F.sha2(anchor_key, 256), 1, 20))


def carry_over_ids(
    labelled: DataFrame, anchors: DataFrame, previous: DataFrame, reserved: DataFrame | None = None
) -> DataFrame:
    """Name every component, keeping previous person ids where the identifiers say so.

    Every previous person is *owned* by the component that now holds most of its identifiers (tie:
    the component whose anchor-derived id is smallest). A component keeps, among the previous
    persons it owns, the one that brought it most identifiers (tie: the larger previous person,
    then the smallest id); when whole persons merge this is the largest previous person. So:

    - grow: a person who gains identifiers keeps their id, even when a better anchor joins
      (a cookie-only person who logs in keeps the cookie-derived id);
    - merge: the merged person keeps the id of the largest of the persons merged;
    - split: the part with most of the previous person's identifiers keeps the id; other parts,
      and components with no previous identifiers, get the id derived from their anchor.

    Every previous id is owned by one component and every component keeps at most one id, so no
    two components share a kept id. A derived id equal to an id kept by another component (the
    smaller part of a split whose anchor named the person before) is derived again from the
    anchor key with a `#split` suffix, so ids stay unique.

    Args:
        labelled: (`id_type`, `id_value`, `component`) for every identifier not excluded.
        anchors: (`component`, `anchor_key`), one row per component.
        previous: the previous identity map (`id_type`, `id_value`, `person_id`).
        reserved: (`person_id`) ids held by persons outside `labelled` (the daily run resolves
            only the touched persons; the others keep their ids, which no component may take).

    Returns:
        (`component`, `person_id`), one row per component.
    """
    derived = anchors.select("component", "anchor_key", person_id_of(F.col("anchor_key")).alias("derived_id"))
    prev = previous.select("id_type", "id_value", F.col("person_id").alias("prev_id"))
    shared = (
        labelled.join(prev, on=["id_type", "id_value"], how="inner")
        .groupBy("component", "prev_id")
        .agg(F.count("*").alias("shared"))
    )
    owner = (
        shared.join(derived.select("component", "derived_id"), on="component", how="inner")
        .groupBy("prev_id")
        .agg(F.min(F.struct((-F.col("shared")).alias("most"), "derived_id", "component")).alias("o"))
        .select("prev_id", F.col("o.component").alias("component"))
    )
    sizes = prev.groupBy("prev_id").agg(F.count("*").alias("prev_size"))
    kept = (
        shared.join(owner, on=["prev_id", "component"], how="inner")
        .join(sizes, on="prev_id", how="inner")
        .groupBy("component")
        .agg(
            F.min(F.struct((-F.col("shared")).alias("most"), (-F.col("prev_size")).alias("largest"), "prev_id")).alias(
                "k"
            )
        )
        .select("component", F.col("k.prev_id").alias("kept_id"))
    )
    # kept_id is unique (one owner per previous id), so this join cannot multiply rows.
    taken = kept.select(F.col("kept_id").alias("derived_id"))
    if reserved is not None:
        taken = taken.unionByName(reserved.select(F.col("person_id").alias("derived_id"))).distinct()
    taken = taken.withColumn("taken_elsewhere", F.lit(True))
    named = derived.join(kept, on="component", how="left").join(taken, on="derived_id", how="left")
    resplit = person_id_of(F.concat(F.col("anchor_key"), F.lit("#split")))
    return named.select(
        "component",
        F.coalesce(
            F.col("kept_id"),
            F.when(F.col("taken_elsewhere"), resplit).otherwise(F.col("derived_id")),
        ).alias("person_id"),
    )


def changes(previous: DataFrame, current: DataFrame, *, as_of: dt.date) -> DataFrame:
    """What happened to every person between the previous identity map and the current one.

    Rows (a person may have two, e.g. `merge` and `split` on the same day; an unchanged person none):

    - `new`: a current person with no identifier from the previous map;
    - `merge`: a current person holding identifiers of two or more previous persons;
      `related_person_ids` are those previous persons, other than itself;
    - `split`: a previous person whose identifiers are now in two or more current persons;
      `related_person_ids` are those current persons, other than itself;
    - `grow` / `shrink`: a person with the same id and no merge or split, who gained identifiers
      only (`grow`) or lost some (`shrink`, e.g. an identifier became a hub or was erased);
    - `gone`: a previous person none of whose identifiers is in the current map.

    `identifiers_added` / `identifiers_removed` count the identifiers of `person_id` now and not
    before / before and not now. `current` is expected to be resolved with `previous` (stable ids);
    otherwise an unchanged person under a new id shows up as a `split` and a `merge` of ids.

    Args:
        previous: the identity map before this run (`id_type`, `id_value`, `person_id`); empty on
            the first run, when every person is `new`.
        current: the identity map of this run, same columns.
        as_of: the date of this run.

    Returns:
        `as_of_date`, `change`, `person_id`, `related_person_ids` (sorted), `identifiers_added`,
        `identifiers_removed`.
    """
    prev = previous.select("id_type", "id_value", F.col("person_id").alias("prev_id"))
    cur = current.select("id_type", "id_value", F.col("person_id").alias("cur_id"))
    none = F.array().cast("array<string>")
    people = _people_before_and_after(prev, cur, none=none)
    return people.select("person_id", "added", "removed", F.explode(_changes_of_person(none)).alias("e")).select(
        F.lit(as_of).cast("date").alias("as_of_date"),
        F.col("e.change").alias("change"),
        F.col("person_id").cast("string").alias("person_id"),
        F.col("e.related").alias("related_person_ids"),
        F.col("added").cast("long").alias("identifiers_added"),
        F.col("removed").cast("long").alias("identifiers_removed"),
    )


def _people_before_and_after(prev: DataFrame, cur: DataFrame, *, none: Column) -> DataFrame:
    """One row per person id in either map: how many identifiers it holds now and before, and where they went.

    Returns `person_id`, `cur_n` / `prev_n` (null when the id is not in that map), `added` /
    `removed` (identifiers of the id now and not before / before and not now), `sources` (the
    previous persons whose identifiers it now holds) and `targets` (the current persons holding
    its previous identifiers), both sorted, `none` when empty.
    """
    links = (
        prev.join(cur, on=["id_type", "id_value"], how="inner")
        .groupBy("prev_id", "cur_id")
        .agg(F.count("*").alias("n"))
    )
    return (
        cur.groupBy(F.col("cur_id").alias("person_id"))
        .agg(F.count("*").alias("cur_n"))
        .join(
            prev.groupBy(F.col("prev_id").alias("person_id")).agg(F.count("*").alias("prev_n")),
            on="person_id",
            how="full",
        )
        .join(
            links.where(F.col("prev_id") == F.col("cur_id")).select(
                F.col("cur_id").alias("person_id"), F.col("n").alias("kept_n")
            ),
            on="person_id",
            how="left",
        )
        # links is unique per (prev_id, cur_id): each list holds distinct ids.
        .join(
            links.groupBy(F.col("cur_id").alias("person_id")).agg(
                F.sort_array(F.collect_list("prev_id")).alias("sources")
            ),
            on="person_id",
            how="left",
        )
        .join(
            links.groupBy(F.col("prev_id").alias("person_id")).agg(
                F.sort_array(F.collect_list("cur_id")).alias("targets")
            ),
            on="person_id",
            how="left",
        )
        .select(
            "person_id",
            "cur_n",
            "prev_n",
            (F.coalesce("cur_n", F.lit(0)) - F.coalesce("kept_n", F.lit(0))).alias("added"),
            (F.coalesce("prev_n", F.lit(0)) - F.coalesce("kept_n", F.lit(0))).alias("removed"),
            F.coalesce("sources", none).alias("sources"),
            F.coalesce("targets", none).alias("targets"),
        )
    )


def _changes_of_person(none: Column) -> Column:
    """Which of `new`, `merge`, `split`, `grow`, `shrink`, `gone` a row of `_people_before_and_after` had.

    An array of (`change`, `related`) structs in that order, empty for an unchanged person.
    """
    is_current = F.col("cur_n").isNotNull()
    was_previous = F.col("prev_n").isNotNull()
    n_sources, n_targets = F.size("sources"), F.size("targets")
    same_person_only = (n_sources == 1) & (F.col("sources")[0] == F.col("person_id")) & (n_targets <= 1)
    added, removed = F.col("added"), F.col("removed")
    events = [
        ("new", is_current & (n_sources == 0), none),
        ("merge", is_current & (n_sources >= 2), F.array_remove("sources", F.col("person_id"))),
        ("split", was_previous & (n_targets >= 2), F.array_remove("targets", F.col("person_id"))),
        ("grow", is_current & same_person_only & (added > 0) & (removed == 0), none),
        ("shrink", is_current & same_person_only & (removed > 0), none),
        ("gone", was_previous & ~is_current & (n_targets == 0), none),
    ]
    return F.filter(
        F.array(
            *[
                F.when(cond, F.struct(F.lit(name).alias("change"), related.alias("related")))
                for name, cond, related in events
            ]
        ),
        lambda e: e.isNotNull(),
    )
