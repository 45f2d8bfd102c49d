"""What the CLI checks before a job runs, and how it reports the failures a scheduler must tell apart.

Before a job: the PII key must be the lake's (`portrait.keyguard`), and the run date must not lie
beyond the job's data (`portrait.dates`). After a failure, `exit_code` maps the failures a
scheduler should treat differently from a crash (a refusal, a refused batch, a lost write
conflict) to their exit code (`portrait.exits`, which says what each means and what to do) and a
one-line message.
"""

from __future__ import annotations

import datetime as dt

from delta import exceptions as delta_exceptions  # noqa: F401 - importing it converts Delta's conflict errors
from delta.exceptions import DeltaConcurrentModificationException
from pyspark.sql import SparkSession

from portrait import dates, keyguard
from portrait.config import Config
from portrait.exits import ExitCode
from portrait.io import Lakehouse

# Jobs that never touch a lake's hashes or inputs in a way the checks apply to (report reads
# published tables, orders-model one mapped export, both outside the daily chain's dates).
_UNCHECKED = frozenset({"generate", "catalog", "demo", "report", "orders-model"})
# Delta's conflict errors, by the name of their Java class, when they reach Python unconverted.
_CONFLICT_NAMES = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DeltaConcurrentModificationException",
)


def before_job(spark: SparkSession, cfg: Config, job: str, date: dt.date, *, allow_empty: bool = False) -> bool:
    """Run the checks of `job` for `date`; False means: skip the date (no data, `allow_empty`).

    Raises:
        keyguard.PiiKeyMismatchError, dates.DateBeyondDataError: the job must not run.
    """
    if job in _UNCHECKED:
        return True
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    keyguard.check_pii_key(lake, cfg.pii_key(), job=job)
    return dates.check_job_date(lake, job, date, allow_empty)


def is_write_conflict(exc: BaseException) -> bool:
    """Whether `exc` is Delta's optimistic-concurrency conflict (another writer committed first)."""
    if isinstance(exc, DeltaConcurrentModificationException) or type(exc).__name__ in _CONFLICT_NAMES:
        return True
    text = str(exc)
    return any(f"io.delta.exceptions.{name}" in text for name in _CONFLICT_NAMES) or "DELTA_CONCURRENT_" in text


def exit_code(exc: BaseException) -> tuple[ExitCode, str] | None:
    """The documented exit code and a one-line message for `exc`, or None: not one of ours (a crash)."""
    if isinstance(exc, keyguard.PiiKeyMismatchError):
        return ExitCode.KEY_MISMATCH, str(exc)
    if isinstance(exc, dates.DateBeyondDataError):
        return ExitCode.DATE_BEYOND_DATA, str(exc)
    from portrait.scoring.gate import GateFailed

    if isinstance(exc, GateFailed):
        return ExitCode.GATE_FAILED, str(exc)
    if is_write_conflict(exc):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ExitCode.WRITE_CONFLICT, (
            f"lost a write conflict to another job writing the same table at the same time ({type(exc).__name__}: "
            f"{first[:200]}); the other job's commit stands and this run committed nothing to that table. "
            "Rerun when the other job has finished if it failed (jobs are idempotent per date)."
        )
    return None
