"""Pure pieces of the ingest audit: count reconciliation, quarantine rows, audit and file-report rows.

Every line read has exactly one status, so rows read = kept + quarantined + duplicates dropped
(CSV header lines counted apart); `reconcile` fails loudly when that does not hold.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait.ingest import validate

AUDIT_COLUMNS = ("rows_read", "rows_kept", "rows_quarantined", "duplicates_dropped", "header_lines")
FILE_OK, FILE_EMPTY, FILE_TRUNCATED = "ok", "empty", "truncated"
FILE_REJECTED = "rejected"  # a file not read, with its reason (landing.REJECTIONS)
AUDIT_SCHEMA = (
    "run_id string, source string, start_date date, date date, rows_read long, rows_kept long, "
    "rows_quarantined long, duplicates_dropped long, header_lines long, ingested_at timestamp, "
    "extra_columns array<string>, files_empty long, files_truncated long, late_dates array<date>"
)
FILES_SCHEMA = (
    "run_id string, source string, date date, file string, file_size long, file_modified_ms long, "
    "late boolean, lines_read long, header_lines long, rows_kept long, rows_quarantined long, "
    "duplicates_dropped long, status string, extra_columns array<string>, ingested_at timestamp, reason string"
)


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date of [start, end]."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def dates_in(dates: list[dt.date]) -> Column:
    """`date` is one of `dates`."""
    return F.col("date").isin(*sorted(set(dates)))


def quarantine_rows(rows: DataFrame, name: str, run_id: str) -> DataFrame:
    """The quarantined lines of `validate.classify` output in `bronze.quarantine` columns."""
    return rows.where(F.col("_status") == validate.QUARANTINED).select(
        F.lit(name).alias("source"),
        "date",
        "source_file",
        "line_number",
        F.col("_reason").alias("reason"),
        F.col("_raw_record").alias("raw_record"),
        F.lit(run_id).alias("run_id"),
    )


def reconcile(name: str, by_status: dict[str, int]) -> dict[str, int]:
    """The audit counts of one source from its lines per status; fails when they do not add up."""
    kept = by_status.get(validate.KEPT, 0)
    quarantined = by_status.get(validate.QUARANTINED, 0)
    duplicates = by_status.get(validate.DUPLICATE, 0)
    headers = by_status.get(validate.HEADER, 0)
    read = sum(v for k, v in by_status.items() if k != validate.HEADER)
    if read != kept + quarantined + duplicates:  # every line has exactly one status
        raise AssertionError(f"{name}: counts do not reconcile: {by_status}")
    return {
        "rows_read": read,
        "rows_kept": kept,
        "rows_quarantined": quarantined,
        "duplicates_dropped": duplicates,
        "header_lines": headers,
    }


def reconcile_files(name: str, counts: dict[str, int], reports: list[dict]) -> None:
    """The per-file counts must add up to the source's counts."""
    summed = {
        k: sum(f[k] for f in reports) for k in ("rows_kept", "rows_quarantined", "duplicates_dropped", "header_lines")
    }
    summed["rows_read"] = sum(f["lines_read"] - f["header_lines"] for f in reports)
    if any(summed[k] != counts[k] for k in summed):
        raise AssertionError(f"{name}: per-file counts {summed} do not add up to the source's {counts}")


def audit_frame(spark: SparkSession, results: dict, *, run_id: str, start: dt.date, end: dt.date) -> DataFrame:
    """One `bronze.ingest_audit` row per source of `results` (name -> `run._SourceResult`)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        (
            run_id,
            name,
            start,
            end,
            *(r.counts[k] for k in AUDIT_COLUMNS),
            now,
            r.extra_columns,
            r.counts.get("files_empty", 0),
            r.counts.get("files_truncated", 0),
            r.late_dates,
        )
        for name, r in results.items()
    ]
    return spark.createDataFrame(rows, AUDIT_SCHEMA)


def files_frame(spark: SparkSession, results: dict, *, run_id: str) -> DataFrame:
    """One `bronze.ingest_files` row per file of each source of `results`."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    late = {name: set(r.late_dates) for name, r in results.items()}
    rows = [
        (
            run_id,
            name,
            f["file"].date,
            f["file"].path,
            f["file"].size,
            f["file"].modified_ms,
            f["file"].date in late[name],
            f["lines_read"],
            f["header_lines"],
            f["rows_kept"],
            f["rows_quarantined"],
            f["duplicates_dropped"],
            f["status"],
            f["extra_columns"],
            now,
            f["reason"],
        )
        for name, r in results.items()
        for f in r.files
    ]
    return spark.createDataFrame(rows, FILES_SCHEMA)
