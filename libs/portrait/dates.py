"""Dates that make no sense are refused: a job does not run for a date beyond the data it has.

`features` and `score` for next year would otherwise succeed and publish empty (or stale) days.
`check_date` compares the run date with the latest date of a job's input table, read cheaply:
the maximum of the table's date column, which is its partition column, so Delta answers it from
the transaction log (partition values and file statistics) without scanning the data files.

A scheduler catching up may run past the data on purpose: with `allow_empty` the check returns
False (the job should skip the date and succeed) instead of refusing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import functions as F

from portrait import catalog
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

# The input whose latest date bounds each job's run date (jobs not listed are not checked).
BOUNDED_BY: dict[str, tuple[catalog.Table, ...]] = {
    "features": (catalog.SILVER_EVENTS, catalog.SILVER_ORDERS),
    "score": (catalog.GOLD_PORTRAIT,),
}


class DateBeyondDataError(ValueError):
    """The run date lies after the latest date of the job's input."""


def latest_date(lake: Lakehouse, tables: catalog.Table | Sequence[catalog.Table]) -> dt.date | None:
    """The latest value of the date column over `tables` (None when none of them has a row)."""
    found = []
    for table in (tables,) if isinstance(tables, catalog.Table) else tables:
        if table.date_column is None:
            raise ValueError(f"{table} has no date column")
        if lake.exists(table):
            found.append(lake.read(table).agg(F.max(table.date_column)).first()[0])
    found = [d for d in found if d is not None]
    return max(found) if found else None


def check_date(
    lake: Lakehouse,
    table: catalog.Table | Sequence[catalog.Table],
    date: dt.date,
    allow_empty: bool = False,
    *,
    job: str = "this job",
) -> bool:
    """Whether `job` has data for `date`: True when `date` is on or before the latest date of `table`.

    Args:
        table: the input table (or tables: the latest over them) that bounds the run date.
        allow_empty: a date beyond the data returns False (skip it) instead of raising.
    Raises:
        DateBeyondDataError: `date` is after the latest date and `allow_empty` is off; the message
            names the latest date (or says the input is empty).
    """
    latest = latest_date(lake, table)
    if latest is not None and date <= latest:
        return True
    names = ", ".join(str(t) for t in ((table,) if isinstance(table, catalog.Table) else table))
    have = f"the latest date in {names} is {latest}" if latest else f"{names} has no rows yet"
    if allow_empty:
        log.warning("%s %s: nothing to do, %s (--allow-empty)", job, date, have)
        return False
    raise DateBeyondDataError(
        f"refused: {date} is after the data of {job} ({have}). Run it for a date up to {latest}, ingest the "
        "missing days first, or pass --allow-empty to skip dates without data (a scheduler catching up)."
        if latest
        else f"refused: {job} has no data ({have}); run the jobs before it first, or pass --allow-empty."
    )


def check_job_date(lake: Lakehouse, job: str, date: dt.date, allow_empty: bool = False) -> bool:
    """`check_date` with the input that bounds `job` (`BOUNDED_BY`); jobs without one always run."""
    if job not in BOUNDED_BY:
        return True
    return check_date(lake, BOUNDED_BY[job], date, allow_empty, job=job)
