"""What a stage costs besides its data: Spark jobs started and Delta commits made.

A stage's fixed work (jobs the driver schedules one after another, Delta snapshot loads and
commits) is what a small day pays whatever its size, and on a cluster it is driver time that no
executor can take over. `pipeline.run_stage` meters every stage and writes the figures to the run
log (`portrait status` shows them); `bench.daily` reports them per stage.

- Jobs are counted by Spark itself: the DAG scheduler's count of jobs submitted in this
  application, read before and after (every job of the process in between, Delta's own included;
  one stage runs at a time in a process).
- Commits are counted where they are made: every write of `portrait.io.Lakehouse` reports its
  commit to the meters open in this context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

_OPEN: ContextVar[tuple[Cost, ...]] = ContextVar("portrait_cost_meters", default=())


@dataclass
class Cost:
    """What one metered block cost: wall seconds, Spark jobs, and the Delta commits per table."""

    seconds: float = 0.0
    jobs: int | None = None  # None: the session does not expose its scheduler (e.g. Spark Connect)
    commits: dict[str, int] = field(default_factory=dict)

    @property
    def commit_count(self) -> int:
        return sum(self.commits.values())

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 2),
            "jobs": self.jobs,
            "commits": self.commit_count,
            "commits_by_table": dict(self.commits),
        }


def jobs_submitted(spark: SparkSession) -> int | None:
    """Spark jobs submitted so far in this application (None when the scheduler is not reachable)."""
    try:
        return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # noqa: SLF001
    except Exception:  # a remote (Connect) session has no JVM here: the count is unknown, not zero
        return None


@contextmanager
def meter(spark: SparkSession) -> Iterator[Cost]:
    """Meter a block: the `Cost` it yields is filled in when the block ends (also when it fails)."""
    cost = Cost()
    jobs_before = jobs_submitted(spark)
    started = time.perf_counter()
    token = _OPEN.set((*_OPEN.get(), cost))
    try:
        yield cost
    finally:
        _OPEN.reset(token)
        cost.seconds = time.perf_counter() - started
        jobs_after = jobs_submitted(spark)
        if jobs_before is not None and jobs_after is not None:
            cost.jobs = jobs_after - jobs_before


def committed(table: str) -> None:
    """Count one Delta commit to `table` in every open meter (`Lakehouse` calls it on each write)."""
    for cost in _OPEN.get():
        cost.commits[table] = cost.commits.get(table, 0) + 1
