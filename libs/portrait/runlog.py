"""The run log: one row per stage run through the CLI (stage, date, outcome, timing, detail).

A small Delta table at `<lakehouse>/_runs`, outside the bronze/silver/gold layers: operational
metadata about jobs, not data about persons. Every record is one Delta append (atomic, safe
under concurrent jobs, on local disk and on object storage alike). `portrait backfill` reads it
to know which (stage, date) already completed; `portrait status` can show each job's last run.

Recording is bookkeeping: a record that cannot be written is logged as a warning and never fails
the job or hides its error. The only consequence of a missing `ok` record is that a later
backfill reruns that stage, which is safe since every stage replaces its date's output.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from typing import NamedTuple

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from portrait.costs import Cost

log = logging.getLogger(__name__)

SCHEMA = (
    "stage string, date date, ok boolean, started_at timestamp, finished_at timestamp, elapsed_s double, "
    "detail string, spark_jobs int, delta_commits int"
)


class Outcome(NamedTuple):
    """The latest run of one stage for one date."""

    finished_at: dt.datetime
    ok: bool


def path(lakehouse: str) -> str:
    return f"{lakehouse.rstrip('/')}/_runs"


def record(
    spark: SparkSession,
    lakehouse: str,
    stage: str,
    date: dt.date,
    *,
    ok: bool,
    started_at: dt.datetime,
    cost: Cost,
    detail: str,
) -> None:
    """Append one run's outcome and its cost (seconds, Spark jobs, Delta commits); never raises (see
    the module docstring). A run log written before the cost columns existed gains them (null in
    its old rows)."""
    finished_at = started_at + dt.timedelta(seconds=cost.seconds)
    row = (stage, date, ok, started_at, finished_at, float(cost.seconds), detail, cost.jobs, cost.commit_count)
    try:
        (
            spark.createDataFrame([row], SCHEMA)
            .write.format("delta")
            .mode("append")
            .option("mergeSchema", "true")
            .save(path(lakehouse))
        )
    except Exception as exc:  # bookkeeping must not turn a finished job into a failed one
        log.warning("could not record the %s run of %s in %s: %s", stage, date, path(lakehouse), exc)


def latest(
    spark: SparkSession, lakehouse: str, stages: tuple[str, ...], start: dt.date, end: dt.date
) -> dict[tuple[str, dt.date], Outcome]:
    """The latest recorded outcome of each (stage, date) with date in [start, end].

    Returns an empty mapping when nothing was ever recorded. The rows read are one per run of a
    stage (a few per date), never per-person data.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path(lakehouse)):
        return {}
    runs = (
        spark.read.format("delta")
        .load(path(lakehouse))
        .where(F.col("stage").isin(list(stages)) & F.col("date").between(F.lit(start), F.lit(end)))
        .groupBy("stage", "date")
        .agg(F.max_by(F.struct("finished_at", "ok"), "finished_at").alias("last"))
        .select("stage", "date", "last.finished_at", "last.ok")
    )
    return {(r["stage"], r["date"]): Outcome(r["finished_at"], r["ok"]) for r in runs.collect()}


class LastRun(NamedTuple):
    """The newest recorded run of a stage, whatever its date, with what it cost."""

    date: dt.date
    ok: bool
    finished_at: dt.datetime
    elapsed_s: float
    spark_jobs: int | None
    delta_commits: int | None


def last_runs(spark: SparkSession, lakehouse: str) -> dict[str, LastRun]:
    """Each stage's newest run in the log (`portrait status` shows its cost); empty without a log."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path(lakehouse)):
        return {}
    runs = spark.read.format("delta").load(path(lakehouse))
    for column in ("spark_jobs", "delta_commits"):  # a log written before the cost columns
        if column not in runs.columns:
            runs = runs.withColumn(column, F.lit(None).cast("int"))
    cost = F.struct("finished_at", "date", "ok", "elapsed_s", "spark_jobs", "delta_commits")
    newest = runs.groupBy("stage").agg(F.max_by(cost, "finished_at").alias("r")).select("stage", "r.*")
    return {
        r["stage"]: LastRun(r["date"], r["ok"], r["finished_at"], r["elapsed_s"], r["spark_jobs"], r["delta_commits"])
        for r in newest.collect()  # one row per stage
    }


def describe_error(exc: BaseException, *, limit: int = 4000) -> str:
    """The error and its traceback as text for the run log (the console shows one line)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]
