"""Atomic publication: readers see a scored date whole, or not at all.

Score writes the three published tables (`catalog.PUBLISHED`) in three Delta commits; a reader
looking at their latest versions between those commits would see `segments_daily` at D and
`next_actions_daily` at D-1. So score writes one more row, last, in one commit: the publication
marker `gold.published_dates` (date, the Delta version of each published table that holds that
date whole, published_at). A date is published when its marker row exists; readers ask the marker
for the latest complete date and read exactly the versions it names (Delta time travel), so a
score running at that moment (or killed half way) is invisible to them.

    from portrait import publication
    date, versions = publication.latest(lake)                     # the latest complete day
    df = publication.read_published(lake, catalog.GOLD_SEGMENTS_DAILY)   # exactly its rows

Readers without Spark (delta-rs, DuckDB) follow the same two steps: README, "Reading the
published tables".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.io import Commit, Lakehouse

MARKER = catalog.GOLD_PUBLISHED_DATES
# The marker's version column for each published table.
VERSION_COLUMN: Mapping[catalog.Table, str] = {t: f"{t.name}_version" for t in catalog.PUBLISHED}


class NotPublishedError(LookupError):
    """No published date (or not the one asked for) in the marker."""


@dataclass(frozen=True)
class Publication:
    """One published date and the Delta version of each published table that holds it whole."""

    date: dt.date
    versions: Mapping[catalog.Table, int]


def publish(lake: Lakehouse, date: dt.date, commits: Mapping[catalog.Table, Commit]) -> Commit:
    """Mark `date` published at the versions of `commits` (one per published table), in one commit.

    Called by score after its three writes; replaces the marker row of `date` (a rerun re-points
    it to the new versions). A missing table is a programming error: the marker would lie.
    """
    missing = [t.full_name for t in catalog.PUBLISHED if t not in commits]
    if missing:
        raise ValueError(f"cannot publish {date}: no commit for {missing}")
    row = lake.spark.range(1).select(
        F.lit(date).alias("date"),
        *[F.lit(commits[t].version).cast("bigint").alias(VERSION_COLUMN[t]) for t in catalog.PUBLISHED],
        F.current_timestamp().alias("published_at"),
    )
    return lake.replace_range(MARKER.conform(row), MARKER, start=date)


def latest(lake: Lakehouse, date: dt.date | None = None) -> Publication:
    """The latest complete date (or `date`, if it is published) and the table versions holding it.

    Raises:
        NotPublishedError: nothing is published yet, or `date` is not.
    """
    if not lake.exists(MARKER):
        raise NotPublishedError(f"nothing is published yet: {MARKER} does not exist (run `score`)")
    marker = lake.read(MARKER)
    if date is not None:
        marker = marker.where(F.col("date") == F.lit(date))
    row = marker.orderBy(F.col("date").desc()).limit(1).first()
    if row is None:
        raise NotPublishedError(f"{date} is not published (no row in {MARKER})")
    return Publication(row["date"], {t: int(row[VERSION_COLUMN[t]]) for t in catalog.PUBLISHED})


def read_published(
    lake: Lakehouse, table: catalog.Table, date: dt.date | None = None, publication: Publication | None = None
) -> DataFrame:
    """The rows of `table` for the latest published date (or `date`), read at the version the marker
    names (time travel): never a date half written, never a mix of dates across the tables.

    Pass the same `publication` (from `latest`) when reading several tables, so that all of them
    are read at one marker row even if another date is published in between.
    """
    if table not in VERSION_COLUMN:
        raise ValueError(f"{table} is not a published table ({', '.join(t.full_name for t in catalog.PUBLISHED)})")
    pub = publication or latest(lake, date)
    return (
        lake.spark.read.format("delta")
        .option("versionAsOf", pub.versions[table])
        .load(lake.path(table))
        .where(F.col("date") == F.lit(pub.date))
    )


def repin(lake: Lakehouse) -> None:
    """Point every marker row at the current version of each published table.

    For erasure only: it deletes rows from the published tables and purges their old versions
    (time travel to them ends), so the marker must name versions that still exist. Run it when no
    score is running (erasure already requires that).
    """
    if not lake.exists(MARKER):
        return
    current = {t: lake.version(t) for t in catalog.PUBLISHED if lake.exists(t)}
    if len(current) != len(catalog.PUBLISHED):
        return
    marker = lake.read(MARKER).withColumns({VERSION_COLUMN[t]: F.lit(v).cast("bigint") for t, v in current.items()})
    lake.overwrite(MARKER.conform(marker.localCheckpoint()), MARKER)
