"""`portrait backfill --from D1 --to D2`: the daily chain for each date of a range, in order, resumable.

How completion is detected: every stage run through the CLI appends its outcome to the run log
(`portrait.runlog`, a small Delta table at `<lakehouse>/_runs`). A stage is complete for a date
when its latest recorded run for that date succeeded and finished after the latest run of the
stage before it in the chain (so rerunning `ingest` of a day makes that day's later stages
incomplete again). Reading that is one small query, whatever the size of the lake; it needs no
knowledge of what each stage writes.

A rerun skips the dates whose whole chain is complete, starts the first incomplete date at its
first incomplete stage, and runs every later date whole: each day builds on the state of the day
before (incremental identity and features), so a day after a rebuilt one is rebuilt too.
`--force` reruns every date whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import SparkSession

from portrait import pipeline, runlog
from portrait.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """The stages to run for one date, in order."""

    date: dt.date
    stages: tuple[str, ...]


def dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from `start` to `end`, both included."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def first_incomplete(
    chain: tuple[str, ...], date: dt.date, outcomes: Mapping[tuple[str, dt.date], runlog.Outcome]
) -> int | None:
    """Index in `chain` of the first stage not complete for `date`, or None when all are."""
    previous: dt.datetime | None = None
    for i, stage in enumerate(chain):
        outcome = outcomes.get((stage, date))
        if outcome is None or not outcome.ok or (previous is not None and outcome.finished_at < previous):
            return i
        previous = outcome.finished_at
    return None


def plan(
    days: list[dt.date],
    chain: tuple[str, ...],
    outcomes: Mapping[tuple[str, dt.date], runlog.Outcome],
    *,
    force: bool = False,
) -> list[Step]:
    """The steps a backfill over `days` runs, given the recorded outcomes (a pure function).

    Returns:
        Nothing for the complete dates before the first incomplete one; that date from its first
        incomplete stage; every later date whole. With `force`, every date whole.
    """
    if force:
        return [Step(d, chain) for d in days]
    for n, day in enumerate(days):
        i = first_incomplete(chain, day, outcomes)
        if i is not None:
            return [Step(day, chain[i:])] + [Step(d, chain) for d in days[n + 1 :]]
    return []


def run(spark: SparkSession, cfg: Config, start: dt.date, end: dt.date, *, force: bool = False) -> dict:
    """Run the daily chain over [start, end] as `plan` says; stop at the first failing stage.

    Returns:
        `dates` (how many in the range), `skipped` (already complete), `run` (dates run).
    """
    days = dates(start, end)
    chain = pipeline.DAILY_CHAIN
    steps = plan(
        days, chain, {} if force else runlog.latest(spark, cfg.paths.lakehouse, chain, start, end), force=force
    )
    skipped = len(days) - len(steps)
    if not steps:
        log.info("backfill %s..%s: every date is complete (use --force to rerun)", start, end)
    elif skipped or steps[0].stages != chain:
        log.info(
            "backfill %s..%s: %d date(s) complete, resuming at %s %s",
            start,
            end,
            skipped,
            steps[0].stages[0],
            steps[0].date,
        )
    started = time.perf_counter()
    for n, step in enumerate(steps, 1):
        for stage in step.stages:
            pipeline.run_stage(stage, spark, cfg, step.date)
        log.info("backfill: %s done (%d/%d), %.1f s so far", step.date, n, len(steps), time.perf_counter() - started)
    return {"dates": len(days), "skipped": skipped, "run": len(steps)}
