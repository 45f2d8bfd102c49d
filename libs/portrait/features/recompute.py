"""Which persons an incremental features run recomputes from silver, and the daily rows it changes.

Pure transforms: the persons stay a DataFrame, joined to the rows they select (never collected),
so a large identity merge costs a join, not a predicate naming every person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# identity_history changes that move rows of past days between persons. `new` and `grow` only add
# identifiers unseen before, whose rows landed on the run date (read anyway) or late (caught as late).
REASSIGNING = ("merge", "split", "shrink", "gone")
DELETE = "_delete"  # the flag of a `daily_changes` row that removes a daily row


def relanded_dates(late_dates: Iterable[Sequence[dt.date] | None], *, date: dt.date) -> list[dt.date]:
    """Earlier landing dates that the ingest run of `date` re-ingested whole (late files), sorted.

    Args:
        late_dates: the `late_dates` of `bronze.ingest_audit`'s rows of `date` (one per source).
    """
    return sorted({d for dates in late_dates for d in dates or () if d < date})


def persons_to_recompute(
    history: DataFrame, sources: list[tuple[DataFrame, str]], relanded: list[dt.date] | None, *, date: dt.date
) -> DataFrame:
    """(`person_id`, distinct): persons whose rows of days before `date` may have changed since the run of `date` - 1.

    Identity: both sides of a merge, split, shrink or gone recorded on `date`. Late rows: rows
    that landed on `date` for an earlier day, and every row of an earlier landing date that the
    ingest run of `date` re-ingested because a file of it arrived late.

    Args:
        history: `silver.identity_history`.
        sources: each silver source of daily activity with its timestamp column.
        relanded: `relanded_dates` (None: no ingest audit; empty: nothing re-ingested).
    """
    changes = history.where((F.col("as_of_date") == F.lit(date)) & F.col("change").isin(*REASSIGNING))
    moved = changes.select(
        F.explode(
            F.array_union(F.array("person_id"), F.coalesce("related_person_ids", F.array().cast("array<string>")))
        ).alias("person_id")
    )
    late = []
    for rows, ts in sources:
        landed_late = rows.where((F.col("date") == F.lit(date)) & (F.to_date(ts) < F.lit(date)))
        late.append(landed_late.select("person_id"))
        if relanded:  # a static partition filter: only the re-ingested landing dates are listed
            late.append(rows.where(F.col("date").isin(*relanded)).select("person_id"))
    persons = reduce(DataFrame.unionByName, [moved, *late])
    return persons.where(F.col("person_id").isNotNull()).distinct()


def daily_changes(changed: DataFrame, current: DataFrame, redo: DataFrame, *, date: dt.date) -> DataFrame:
    """The rows that move `silver.daily_activity` to `date`, for a MERGE on (person_id, day).

    The table's rows of day `date` and every row (day <= `date`) of the `redo` persons are
    replaced by `changed`: a `changed` row is written (`DELETE` false), and a replaced row with
    no `changed` row of its key is deleted (`DELETE` true).

    Args:
        changed: the new daily rows: day `date` of everyone, every day of the redone persons.
        current: the table's rows.
        redo: (`person_id`) the persons recomputed from silver.
    """
    redone = redo.select("person_id", F.lit(True).alias("_redo"))
    replaced = current.join(redone, on="person_id", how="left").where(
        (F.col("day") == F.lit(date)) | (F.coalesce(F.col("_redo"), F.lit(False)) & (F.col("day") <= F.lit(date)))
    )
    gone = replaced.select(*changed.columns).join(
        changed.select("person_id", "day"), on=["person_id", "day"], how="left_anti"
    )
    return changed.withColumn(DELETE, F.lit(False)).unionByName(gone.withColumn(DELETE, F.lit(True)))
