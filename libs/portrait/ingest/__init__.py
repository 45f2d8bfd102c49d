"""Ingest: landing-zone files -> bronze Delta tables, quarantine and an audit of the counts.

For each source, the files of the landing dates in [start, end] are read as text lines, parsed,
typed, validated and pseudonymised (`validate.classify`). Kept rows replace the same dates in
`bronze.<source>`; quarantined rows replace that source's rows of those dates in
`bronze.quarantine`; one audit row per source is appended to `bronze.ingest_audit`. Rerunning a
date replaces its rows, so the job is idempotent and a killed run is finished by a rerun.

Exports mapped in conf (`ingest.mappings`, e.g. the Online Retail orders file) are one file read
as landed on the run date and go to their own table (`ingest.mapping`); their audit counts add a
breakdown per line class, returns linked or not, and quarantine reason.
"""
from __future__ import annotations

from functools import reduce

import datetime as dt
import logging
import uuid

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait.config import Config
from portrait.config import OrdersMappingConfig
from portrait.ingest import mapping, validate
from portrait.ingest.sources import SOURCES, Source
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

AUDIT_COLUMNS = ("rows_read", "rows_kept", "rows_quarantined", "duplicates_dropped", "header_lines")


def read_lines(spark: SparkSession, landing: str, source: Source, start: dt.date, end: dt.date) -> DataFrame:
    """Text lines of a source's landing files for dates in [start, end] (`value`, `source_file`, `date`).

    A source with no folder yet gives no lines (reported in the audit as zero rows read).
    """
    root = f"{landing.rstrip('/')}/{source.name}"
    try:
        lines = spark.read.option("basePath", root).text(root)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" not in str(exc) and "Path does not exist" not in str(exc):
            raise
        log.warning("no landing folder for source %s at %s", source.name, root)
        return spark.createDataFrame([], "value string, source_file string, date date")
    if "date" not in lines.columns:
        raise ValueError(f"landing folder {root} must hold date=YYYY-MM-DD sub-folders")
    return lines.where(F.col("date").between(F.lit(start), F.lit(end))).select(
        "value",
        F.col("_metadata.file_path").alias("source_file"),
        F.col("date").cast("date").alias("date"),
    )


def run(spark: SparkSession, cfg: Config, date: dt.date, *, start: dt.date | None = None,
        sources: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Ingest the landing dates [start, date] (start defaults to date) of the configured sources.

    Returns:
        Per source, the reconciled counts written to `bronze.ingest_audit`.
    """
    start = start or date
    if start > date:
        raise ValueError(f"start {start} is after date {date}")
    names = sources or cfg.ingest.sources
    mappings = cfg.ingest.mappings
    unknown = [n for n in names if n not in SOURCES and n not in mappings]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {sorted(SOURCES)}, mapped: {sorted(mappings)}")
    clash = sorted(set(names) & set(SOURCES) & set(mappings))
    if clash:
        raise ValueError(f"ingest.mappings {clash} have the name of a built-in source; rename the mapping")
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    key = cfg.pii_key()
    earliest = dt.date.fromisoformat(cfg.ingest.earliest_valid_date)
    run_id = uuid.uuid4().hex
    counts: dict[str, dict[str, int]] = {}
    quarantined: list[DataFrame] = []
    persisted: list[DataFrame] = []

    for name in names:
        if name in mappings:
            counts[name], rows_quarantined, cached = _ingest_export(
                lake, name, mappings[name], start=start, date=date, pii_key=key, earliest=earliest,
                max_field_chars=cfg.ingest.max_field_chars, run_id=run_id,
            )
            quarantined.append(rows_quarantined)
            persisted.extend(cached)
            log.info("ingest %s (export %s) as of %s: %s", name, mappings[name].path, date, counts[name])
            continue
        source = SOURCES[name]
        lines = read_lines(spark, cfg.paths.landing, source, start, date)
        rows = validate.classify(
            validate.parse_lines(lines, source), source,
            pii_key=key, earliest=earliest, max_field_chars=cfg.ingest.max_field_chars,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        persisted.append(rows)
        by_status = {r["_status"]: r["n"] for r in rows.groupBy("_status").agg(F.count("*").alias("n")).collect()}
        counts[name] = _reconcile(name, by_status)
        out_cols = [f.output_name for f in source.fields] + ["source_file", "date"]
        lake.replace_range(
            rows.where(F.col("_status") == validate.KEPT).select(*out_cols), f"bronze.{name}", start=start, end=date
        )
        quarantined.append(_quarantine_rows(rows, name, run_id))
        log.info("ingest %s %s..%s: %s", name, start, date, counts[name])

    in_sources = ", ".join(f"'{n}'" for n in names)
    all_quarantined = reduce(DataFrame.unionByName, quarantined)
    lake.replace_range(all_quarantined, "bronze.quarantine", start=start, end=date, where=f"source IN ({in_sources})")
    _write_audit(lake, counts, run_id=run_id, start=start, end=date)
    for df in persisted:
        df.unpersist()
    return counts


def _quarantine_rows(rows: DataFrame, name: str, run_id: str) -> DataFrame:
    return rows.where(F.col("_status") == validate.QUARANTINED).select(
        F.lit(name).alias("source"), "date", "source_file", F.col("_reason").alias("reason"),
        F.col("_raw_record").alias("raw_record"),
        F.lit(run_id).alias("run_id"),
    )


def _ingest_export(
    lake: Lakehouse, name: str, m: OrdersMappingConfig, *, start: dt.date, date: dt.date, pii_key: bytes,
    earliest: dt.date, max_field_chars: int, run_id: str,
) -> tuple[dict[str, int], DataFrame, list[DataFrame]]:
    """Validate a mapped export as landed on `date`, write its kept lines to its own table.

    Returns:
        The reconciled counts plus the breakdown (`class_<c>`, `guest_lines`, `returns`,
        `returns_linked`, `returns_unlinked`, `quarantined_<reason>`), the quarantined rows
        (written by the caller with the other sources) and the cached frames to release.
    """
    source = mapping.source(name, m)
    lines = mapping.read_export(lake.spark, m.path, date)
    rows = validate.classify(
        validate.parse_lines(lines, source), source,
        pii_key=pii_key, earliest=earliest, max_field_chars=max_field_chars,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    by_reason = rows.groupBy("_status", "_reason").agg(F.count(F.lit(1)).alias("n")).collect()
    by_status: dict[str, int] = {}
    for r in by_reason:
        by_status[r["_status"]] = by_status.get(r["_status"], 0) + r["n"]
    counts = _reconcile(name, by_status)
    if counts["header_lines"] < 1:  # the layout changed: fail rather than quarantine every line
        rows.unpersist()
        raise ValueError(
            f"{m.path}: no line equals the header {source.header!r} of ingest.mappings.{name}.header; "
            "fix the mapping to the file's columns"
        )
    orders = mapping.to_orders(rows.where(F.col("_status") == validate.KEPT), mapping=m).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    breakdown = mapping.summary(orders).collect()

    def total(pred) -> int:
        return sum(r["n"] for r in breakdown if pred(r))

    if total(lambda r: True) != counts["rows_kept"]:  # the return link must not add or lose lines
        raise AssertionError(f"{name}: {total(lambda r: True)} lines mapped, {counts['rows_kept']} kept")
    lake.replace_range(orders, mapping.table_name(name, m), start=start, end=date)

    for cls in sorted({r["line_class"] for r in breakdown}):
        counts[f"class_{cls}"] = total(lambda r: r["line_class"] == cls)
    counts["guest_lines"] = total(lambda r: r["guest"])
    counts["returns"] = total(lambda r: r["status"] == mapping.RETURNED)
    counts["returns_linked"] = total(lambda r: r["status"] == mapping.RETURNED and r["linked"])
    counts["returns_unlinked"] = counts["returns"] - counts["returns_linked"]
    for r in sorted(by_reason, key=lambda r: r["_reason"] or ""):
        if r["_status"] == validate.QUARANTINED:
            counts[f"quarantined_{r['_reason']}"] = r["n"]
    return counts, _quarantine_rows(rows, name, run_id), [rows, orders]


def _reconcile(name: str, by_status: dict[str, int]) -> dict[str, int]:
    kept = by_status.get(validate.KEPT, 0)
    quarantined = by_status.get(validate.QUARANTINED, 0)
    duplicates = by_status.get(validate.DUPLICATE, 0)
    headers = by_status.get(validate.HEADER, 0)
    read = sum(v for k, v in by_status.items() if k != validate.HEADER)
    if read != kept + quarantined + duplicates:  # every line has exactly one status
        raise AssertionError(f"{name}: counts do not reconcile: {by_status}")
    return {"rows_read": read, "rows_kept": kept, "rows_quarantined": quarantined,
            "duplicates_dropped": duplicates, "header_lines": headers}


def _write_audit(lake: Lakehouse, counts: dict[str, dict[str, int]], *, run_id: str,
                 start: dt.date, end: dt.date) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        (run_id, name, start, end, *(c[k] for k in AUDIT_COLUMNS), now)
        for name, c in counts.items()
    ]
    schema = (
        "run_id string, source string, start_date date, date date, rows_read long, rows_kept long, "
        "rows_quarantined long, duplicates_dropped long, header_lines long, ingested_at timestamp"
    )
    lake.append_once(lake.spark.createDataFrame(rows, schema), "bronze.ingest_audit", app_id=f"ingest-{run_id}", version=0)
