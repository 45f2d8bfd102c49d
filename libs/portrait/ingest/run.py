"""Ingest (the stage's `run`): landing-zone files -> bronze Delta tables, quarantine and an audit of the counts.

For each source, the files of the landing dates in [start, end] are listed (`landing.list_files`);
the files of every source are then read as numbered text lines in one scan (`_LandingLines`), and
each source's lines parsed by each file's own header (CSV) or keys (JSON), typed, validated and
pseudonymised (`validate.classify`). Every line gets one status: kept, quarantined
(with a reason code and its line number), a duplicate (dropped and counted) or a CSV header.
Kept rows replace the same dates in `bronze.<source>` (unknown keys or columns in `extra`);
quarantined rows replace that source's rows of those dates in `bronze.quarantine`; one audit row
per source is appended to `bronze.ingest_audit` and one row per file to `bronze.ingest_files`
(status ok / empty / truncated). Rerunning a date replaces its rows, so the job is idempotent and
a killed run is finished by a rerun.

Nothing is missed silently: an id already kept on an earlier date (within
`ingest.duplicate_lookback_days`) is a duplicate or a `duplicate_id`; an earlier landing date
(within `ingest.late_lookback_days`) holding a file that `bronze.ingest_files` has not recorded is
re-ingested whole in the same run.

Exports mapped in conf (`ingest.mappings`, e.g. the Online Retail orders file) are one file read
as landed on the run date and go to their own table (`ingest.mapping`); their audit counts add a
breakdown per line class, returns linked or not, and quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import catalog, privacy
from portrait.config import Config, IngestConfig, OrdersMappingConfig
from portrait.ingest import landing, mapping, validate
from portrait.ingest.audit import (
    FILE_EMPTY,
    FILE_OK,
    FILE_REJECTED,
    FILE_TRUNCATED,
    audit_frame,
    dates_in,
    days,
    files_frame,
    quarantine_rows,
    reconcile,
    reconcile_files,
)
from portrait.ingest.sources import SOURCES, Source
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

_Recorded = dict[str, set[tuple[str, int, int]]]  # per source: (path, size, modification time) of files

INPUTS = (catalog.BRONZE_INGEST_FILES, *catalog.BRONZE_SOURCES.values())  # recorded files, prior ids
OUTPUTS = (
    *catalog.BRONZE_SOURCES.values(),
    catalog.BRONZE_QUARANTINE,
    catalog.BRONZE_INGEST_AUDIT,
    catalog.BRONZE_INGEST_FILES,
)  # plus one bronze table per mapping (`mapping.table_of`)


@dataclass
class _SourceResult:
    """What one source's ingest hands back to `run` for the shared writes."""

    counts: dict[str, int]
    quarantined: DataFrame
    dates: list[dt.date]
    cached: list[DataFrame]
    files: list[dict] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    late_dates: list[dt.date] = field(default_factory=list)


@dataclass(frozen=True)
class RunConf:
    """What ingest takes from the configuration (`RunConf.of(cfg)`)."""

    ingest: IngestConfig  # the `ingest` section
    landing: str  # the landing zone's root (`paths.landing`)
    pii_key: bytes = field(repr=False)  # the HMAC key for PII fields (`Config.pii_key()`), never printed

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.ingest, cfg.paths.landing, cfg.pii_key())


def run(
    lake: Lakehouse,
    conf: RunConf,
    date: dt.date,
    *,
    start: dt.date | None = None,
    sources: list[str] | None = None,
) -> dict[str, dict[str, int]]:
    """Ingest the landing dates [start, date] (start defaults to date) of the configured sources,
    plus every earlier date (within `ingest.late_lookback_days`) where a file arrived late, and the
    exports mapped in `ingest.mappings` that are named in `sources` (or in `ingest.sources`).

    Args:
        lake: the lakehouse written to.
        conf: the `ingest` section, the landing zone and the PII key (`RunConf.of(cfg)`).
        date: the last landing date (a mapped export is stamped with it).
        start: the first landing date of a backfill.
        sources: only these sources or mappings.

    Returns:
        Per source, the reconciled counts written to `bronze.ingest_audit` plus `rows_written`
        (from the commit of its table); built-in sources add `files`, `files_empty`,
        `files_truncated` and `late_dates` (how many earlier dates were re-ingested); mapped
        exports add their breakdown per line class, returns and quarantine reason.
    """
    start = start or date
    if start > date:
        raise ValueError(f"start {start} is after date {date}")
    settings, landing, pii_key = conf.ingest, conf.landing, conf.pii_key
    names = _source_names(settings, sources)
    mappings = settings.mappings
    earliest = dt.date.fromisoformat(settings.earliest_valid_date)
    run_id = uuid.uuid4().hex
    late_from = start - dt.timedelta(days=settings.late_lookback_days)
    recorded, history = _recorded_files(lake, late_from, start)
    listed = {
        name: _files_to_read(
            lake.spark, landing, name, settings, start=start, date=date, recorded=recorded, history=history
        )
        for name in names
        if name not in mappings
    }
    landing_lines = _LandingLines.read(
        lake.spark, {n: SOURCES[n] for n in listed}, {n: f[0] for n, f in listed.items()}
    )
    results: dict[str, _SourceResult] = {}
    try:
        _ingest_all(
            lake,
            settings,
            names,
            listed,
            landing_lines,
            results,
            start=start,
            date=date,
            pii_key=pii_key,
            earliest=earliest,
            run_id=run_id,
        )
        _write_quarantine(lake, results)
        _append_reports(lake, results, run_id=run_id, start=start, end=date)
    finally:  # a failed run in a long session (backfill, notebook) keeps no cache either
        for r in results.values():
            for df in r.cached:
                df.unpersist()
        landing_lines.release()
    return {name: r.counts for name, r in results.items()}


def _ingest_all(
    lake: Lakehouse,
    conf: IngestConfig,
    names: list[str],
    listed: dict[str, tuple[list[landing.LandingFile], list[dt.date], list[dt.date]]],
    landing_lines: _LandingLines,
    results: dict[str, _SourceResult],
    *,
    start: dt.date,
    date: dt.date,
    pii_key: bytes,
    earliest: dt.date,
    run_id: str,
) -> None:
    """Ingest each source and mapped export in `names` order, each writing its table before the
    next starts, into `results` (filled as they finish, so a failure still releases their caches)."""
    mappings = conf.mappings
    for name in names:
        if name in mappings:
            m = mappings[name]
            results[name] = _ingest_export(
                lake,
                name,
                m,
                start=start,
                date=date,
                pii_key=pii_key,
                earliest=dt.date.fromisoformat(m.earliest_date) if m.earliest_date else earliest,
                max_field_chars=conf.max_field_chars,
                run_id=run_id,
            )
            log.info("ingest %s (export %s) as of %s: %s", name, m.path, date, results[name].counts)
            continue
        results[name] = _ingest_source(
            lake,
            SOURCES[name],
            conf,
            listed[name],
            landing_lines,
            start=start,
            date=date,
            pii_key=pii_key,
            earliest=earliest,
            run_id=run_id,
        )


def _source_names(conf: IngestConfig, sources: list[str] | None) -> list[str]:
    """The sources and mappings to ingest (`sources`, else `conf.sources`); fails on a name that is
    neither, or a mapping named like a built-in source."""
    names = sources or conf.sources
    mappings = conf.mappings
    unknown = [n for n in names if n not in SOURCES and n not in mappings]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {sorted(SOURCES)}, mapped: {sorted(mappings)}")
    clash = sorted(set(names) & set(SOURCES) & set(mappings))
    if clash:
        raise ValueError(f"ingest.mappings {clash} have the name of a built-in source; rename the mapping")
    return names


def _write_quarantine(lake: Lakehouse, results: dict[str, _SourceResult]) -> None:
    """Replace each source's quarantined rows of its dates in `bronze.quarantine` (one `replace_range`)."""
    lake.add_columns(catalog.BRONZE_QUARANTINE)
    all_quarantined = reduce(DataFrame.unionByName, [r.quarantined for r in results.values()])
    all_dates = [d for r in results.values() for d in r.dates]
    in_sources = reduce(Column.__or__, [(F.col("source") == F.lit(n)) & dates_in(r.dates) for n, r in results.items()])
    lake.replace_range(
        all_quarantined, catalog.BRONZE_QUARANTINE, start=min(all_dates), end=max(all_dates), where=in_sources
    )


def _append_reports(
    lake: Lakehouse, results: dict[str, _SourceResult], *, run_id: str, start: dt.date, end: dt.date
) -> None:
    """Append the run's audit rows (one per source) and file rows (one per file), once per run id."""
    lake.append_once(
        audit_frame(lake.spark, results, run_id=run_id, start=start, end=end),
        catalog.BRONZE_INGEST_AUDIT,
        app_id=f"ingest-{run_id}",
        version=0,
        merge_schema=True,
    )  # the audit table predates its last four columns in existing lakes
    lake.append_once(
        files_frame(lake.spark, results, run_id=run_id),
        catalog.BRONZE_INGEST_FILES,
        app_id=f"ingest-files-{run_id}",
        version=0,
        merge_schema=True,
    )  # + reason in older lakes


def _ingest_source(
    lake: Lakehouse,
    source: Source,
    conf: IngestConfig,
    listed: tuple[list[landing.LandingFile], list[dt.date], list[dt.date]],
    landing_lines: _LandingLines,
    *,
    start: dt.date,
    date: dt.date,
    pii_key: bytes,
    earliest: dt.date,
    run_id: str,
) -> _SourceResult:
    """Classify and write one built-in source's lines (of the run's one landing read); report its
    files. `listed`: its files, the dates they replace and the late dates among them
    (`_files_to_read`)."""
    name = source.name
    files, dates, late_dates = listed
    first = {f.path: landing_lines.first_lines[f.path] for f in files if f.path in landing_lines.first_lines}
    lines, headers, header_extra = _with_file_headers(landing_lines.of(files), source, first)
    table = catalog.BRONZE_SOURCES[name]
    prior = _prior_rows(lake, table, conf, dates)
    rows = validate.classify(
        validate.parse_lines(lines, source, headers=headers),
        source,
        pii_key=pii_key,
        earliest=earliest,
        max_field_chars=conf.max_field_chars,
        prior=prior,
        lookback_days=conf.duplicate_lookback_days,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    counts, reports, extra_columns = _source_counts(rows, name, files, header_extra, late_dates=late_dates)

    lake.add_columns(table, catalog.SOURCE_MIGRATIONS)
    out_cols = [f.output_name for f in source.fields] + ["extra", "source_file", "date"]
    commit = lake.replace_range(
        rows.where(F.col("_status") == validate.KEPT).select(*out_cols),
        table,
        start=dates[0],
        end=date,
        where=dates_in(dates) if late_dates else None,
    )
    counts["rows_written"] = commit.rows_new
    log.info("ingest %s %s..%s (late %s): %s", name, start, date, late_dates, counts)
    return _SourceResult(counts, quarantine_rows(rows, name, run_id), dates, [rows], reports, extra_columns, late_dates)


@dataclass
class _LandingLines:
    """The numbered lines of every file a run reads, all sources at once: one text scan, one line
    numbering and one collect of the files' first lines, where a read per source repeated them
    (≈ 22 Spark jobs a day for four sources). A line's number depends on its own file only."""

    scan: DataFrame
    lines: DataFrame
    first_lines: dict[str, str | None]  # per file: its first line (CSV, masked like free text), else None

    @classmethod
    def read(cls, spark: SparkSession, sources: dict[str, Source], files: dict[str, list[landing.LandingFile]]):
        """Scan and number the lines of `files` (per source), and collect each file's first line.

        Fails when a line's path is not spelled as listed: it would belong to no source.
        """
        listed = [f for fs in files.values() for f in fs]
        if not any(not f.rejected for f in listed):  # nothing to read (only exports, or an empty day)
            empty = landing.scan_lines(spark, [])
            return cls(empty, landing.with_line_numbers(empty), {})
        scan = landing.scan_lines(spark, listed).persist(StorageLevel.MEMORY_AND_DISK)
        lines = landing.with_line_numbers(scan).persist(StorageLevel.MEMORY_AND_DISK)
        csv_paths = [f.path for n, fs in files.items() if sources[n].format == "csv" for f in fs]
        try:
            # One header line per file: file metadata, small enough for the driver. A column's name
            # may itself be PII (an email as a header): names are masked like free text before read.
            first = (
                lines.where(F.col("line_number") == 1)
                .select(
                    "source_file",
                    F.when(F.col("source_file").isin(*csv_paths), privacy.redact_free_text(F.col("value"))).alias(
                        "value"
                    )
                    if csv_paths
                    else F.lit(None).cast("string").alias("value"),
                )
                .collect()
            )
            unlisted = sorted({r["source_file"] for r in first} - {f.path for f in listed})
            if unlisted:  # a path Spark spells other than the file system listed: its lines would be lost
                raise AssertionError(f"lines read from files that were not listed: {unlisted}")
        except BaseException:
            lines.unpersist()
            raise
        finally:
            # `lines` is built (the collect above): the text need not be held twice. A lost block of
            # `lines` is recomputed from the files, which number the same (the ids come from the splits).
            scan.unpersist()
        return cls(scan, lines, {r["source_file"]: r["value"] for r in first})

    def of(self, files: list[landing.LandingFile]) -> DataFrame:
        """The lines of `files` (one source's)."""
        paths = [f.path for f in files if not f.rejected]
        return self.lines.where(F.col("source_file").isin(*paths) if paths else F.lit(False))

    def release(self) -> None:
        self.lines.unpersist()
        self.scan.unpersist()


def _files_to_read(
    spark: SparkSession,
    landing_root: str,
    name: str,
    conf: IngestConfig,
    *,
    start: dt.date,
    date: dt.date,
    recorded: _Recorded | None,
    history: _Recorded | None,
) -> tuple[list[landing.LandingFile], list[dt.date], list[dt.date]]:
    """The files of one source to read, the dates they replace and the late dates among them.

    The dates are [start, date] plus the earlier dates (within the late lookback) holding a file
    not in `recorded`; the files are those of these dates, and the rejected files not yet recorded.
    """
    late_from = start - dt.timedelta(days=conf.late_lookback_days) if recorded is not None else start
    listed = landing.list_files(
        spark, landing_root, name, late_from, date, history=history.get(name, set()) if history is not None else None
    )
    known = recorded.get(name, set()) if recorded is not None else set()
    late_dates = sorted({f.date for f in listed if f.date < start and f.key not in known and not f.rejected})
    if late_dates:
        log.warning("ingest %s: files arrived late for %s; re-ingesting those dates whole", name, late_dates)
    dates = late_dates + days(start, date)
    files = [f for f in listed if (f.key not in known if f.rejected else f.date in set(dates))]
    return files, dates, late_dates


def _with_file_headers(
    lines: DataFrame, source: Source, first_lines: dict[str, str | None]
) -> tuple[DataFrame, list[tuple[str, ...]] | None, dict[str, list[str]]]:
    """CSV: the lines with `_header_idx` (which of the distinct headers their file has), those
    headers, and each file's columns that the source does not know. Other formats: as they are.

    `first_lines`: the first line of each of the source's files that has one (`_LandingLines`).
    """
    if source.format != "csv":
        return lines, None, {}
    columns_of = {path: landing.header_columns(value) for path, value in first_lines.items() if value is not None}
    headers = sorted(set(columns_of.values()))
    known_fields = {f.name for f in source.fields}
    header_extra = {p: sorted(set(c) - known_fields) for p, c in columns_of.items() if set(c) & known_fields}
    lines = landing.with_header_index(lines, {p: headers.index(c) for p, c in columns_of.items()})
    return lines, headers, header_extra


def _prior_rows(lake: Lakehouse, table: catalog.Table, conf: IngestConfig, dates: list[dt.date]) -> DataFrame | None:
    """The rows kept in `table` within the duplicate lookback before `dates`, on other dates (None
    without a lookback or a table).

    Read at the version listed now: the write of `dates` that follows replaces none of these rows,
    and a pinned read keeps the source's cached rows (built on it) alive across that write, for
    the quarantine and reports that read them afterwards (`Lakehouse.read_at`).
    """
    if conf.duplicate_lookback_days > 0 and lake.exists(table):
        return lake.read_at(table, lake.version(table)).where(
            F.col("date").between(F.lit(dates[0] - dt.timedelta(days=conf.duplicate_lookback_days)), F.lit(dates[-1]))
            & ~F.col("date").isin(*dates)
        )
    return None


def _source_counts(
    rows: DataFrame,
    name: str,
    files: list[landing.LandingFile],
    header_extra: dict[str, list[str]],
    *,
    late_dates: list[dt.date],
) -> tuple[dict[str, int], list[dict], list[str]]:
    """The source's reconciled counts, its file reports and the unknown columns kept in `extra`;
    fails when a file's lines do not each have exactly one status.

    One aggregate gives both: the counts per status are the sums of the per-file counts, and each
    file's lines read must equal its headers, kept, quarantined and duplicate lines (a line with
    any other status fails it), so a second count per status would only repeat the same sums.
    """
    reports = _file_reports(rows, files, header_extra)
    statuses = {
        validate.HEADER: "header_lines",
        validate.KEPT: "rows_kept",
        validate.QUARANTINED: "rows_quarantined",
        validate.DUPLICATE: "duplicates_dropped",
    }
    counts = reconcile(name, {s: sum(f[k] for f in reports) for s, k in statuses.items()})
    reconcile_files(name, counts, reports)
    extra_columns = sorted({c for f in reports for c in f["extra_columns"]})
    counts.update(
        files=len(reports),
        files_empty=sum(f["status"] == FILE_EMPTY for f in reports),
        files_truncated=sum(f["status"] == FILE_TRUNCATED for f in reports),
        late_dates=len(late_dates),
        files_rejected=sum(f["status"] == FILE_REJECTED for f in reports),
    )
    if extra_columns:
        log.warning("ingest %s: unknown columns kept in bronze.%s.extra: %s", name, name, extra_columns)
    return counts, reports, extra_columns


def _file_reports(rows: DataFrame, files: list[landing.LandingFile], header_extra: dict[str, list[str]]) -> list[dict]:
    """One report per listed file (a 0-byte file has no lines but is reported), from one aggregate."""
    status = F.col("_status")

    def count_if(cond, name: str):
        return F.count(F.when(cond, F.lit(1))).alias(name)

    per_file = (
        rows.groupBy("source_file")
        .agg(
            F.count(F.lit(1)).alias("lines_read"),
            count_if(status == validate.HEADER, "header_lines"),
            count_if(status == validate.KEPT, "rows_kept"),
            count_if(status == validate.QUARANTINED, "rows_quarantined"),
            count_if(status == validate.DUPLICATE, "duplicates_dropped"),
            count_if(F.col("_reason") == validate.TRUNCATED, "truncated_lines"),
            F.flatten(F.collect_set(F.map_keys("extra"))).alias("extra_columns"),
        )
        .collect()
    )  # one row per file
    stats = {r["source_file"]: r for r in per_file}
    unlisted = sorted(set(stats) - {f.path for f in files})
    if unlisted:  # a path Spark spells other than the file system listed: would be lost from the report
        raise AssertionError(f"lines read from files that were not listed: {unlisted}")
    reports = []
    for f in files:
        s = stats.get(f.path)
        c = {
            k: (s[k] if s else 0)
            for k in (
                "lines_read",
                "header_lines",
                "rows_kept",
                "rows_quarantined",
                "duplicates_dropped",
                "truncated_lines",
            )
        }
        if c["lines_read"] != c["header_lines"] + c["rows_kept"] + c["rows_quarantined"] + c["duplicates_dropped"]:
            raise AssertionError(f"{f.path}: counts do not reconcile: {c}")
        status_ = (
            FILE_REJECTED
            if f.rejected
            else FILE_TRUNCATED
            if c["truncated_lines"]
            else FILE_EMPTY
            if c["lines_read"] == c["header_lines"]
            else FILE_OK
        )
        extra = sorted(set(s["extra_columns"] if s else []) | set(header_extra.get(f.path, [])))
        reports.append({"file": f, "status": status_, "extra_columns": extra, "reason": f.rejected, **c})
    return reports


def _recorded_files(lake: Lakehouse, late_from: dt.date, start: dt.date) -> tuple[_Recorded | None, _Recorded | None]:
    """(path, size, modification time) of the files already ingested, per source: for dates in
    [late_from, start) (the late lookback), and for dates before `late_from`; one read of the file
    report for every source.

    (None, None) when `bronze.ingest_files` does not exist yet: late files are then not looked for
    (the first run after an upgrade would otherwise re-ingest the whole lookback).
    """
    if not lake.exists(catalog.BRONZE_INGEST_FILES):
        return None, None
    recorded = (
        lake.read(catalog.BRONZE_INGEST_FILES)
        .where(F.col("date") < F.lit(start))
        .select("source", "file", "file_size", "file_modified_ms", (F.col("date") >= F.lit(late_from)).alias("recent"))
        .collect()
    )  # file names, not data; the sets below drop repeats (a distinct would add a shuffle)
    lookback: _Recorded = {}
    before: _Recorded = {}
    for r in recorded:
        (lookback if r["recent"] else before).setdefault(r["source"], set()).add(
            (r["file"], r["file_size"], r["file_modified_ms"])
        )
    return lookback, before


def _ingest_export(
    lake: Lakehouse,
    name: str,
    m: OrdersMappingConfig,
    *,
    start: dt.date,
    date: dt.date,
    pii_key: bytes,
    earliest: dt.date,
    max_field_chars: int,
    run_id: str,
) -> _SourceResult:
    """Validate a mapped export as landed on `date`, write its kept lines to its own table.

    Returns:
        The reconciled counts plus `rows_written` (the commit's) and the breakdown (`class_<c>`,
        `guest_lines`, `returns`, `returns_linked`, `returns_unlinked`, `quarantined_<reason>`),
        with the quarantined rows (written by the caller with the other sources) and the cached
        frames to release.
    """
    source = mapping.source(name, m)
    lines = mapping.read_export(lake.spark, m.path, date)
    rows = validate.classify(
        validate.parse_lines(lines, source),
        source,
        pii_key=pii_key,
        earliest=earliest,
        max_field_chars=max_field_chars,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    by_reason = rows.groupBy("_status", "_reason").agg(F.count(F.lit(1)).alias("n")).collect()
    by_status: dict[str, int] = {}
    for r in by_reason:
        by_status[r["_status"]] = by_status.get(r["_status"], 0) + r["n"]
    counts = reconcile(name, by_status)
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
    table = mapping.table_of(name, m)
    lake.add_columns(table)
    commit = lake.replace_range(orders, table, start=start, end=date)
    counts["rows_written"] = commit.rows_new
    if commit.rows_new != counts["rows_kept"]:
        raise AssertionError(f"{name}: {commit.rows_new} rows written to {table}, {counts['rows_kept']} kept")

    for cls in sorted({r["line_class"] for r in breakdown}):
        counts[f"class_{cls}"] = total(lambda r, cls=cls: r["line_class"] == cls)
    counts["guest_lines"] = total(lambda r: r["guest"])
    counts["returns"] = total(lambda r: r["status"] == mapping.RETURNED)
    counts["returns_linked"] = total(lambda r: r["status"] == mapping.RETURNED and r["linked"])
    counts["returns_unlinked"] = counts["returns"] - counts["returns_linked"]
    for r in sorted(by_reason, key=lambda r: r["_reason"] or ""):
        if r["_status"] == validate.QUARANTINED:
            counts[f"quarantined_{r['_reason']}"] = r["n"]
    return _SourceResult(counts, quarantine_rows(rows, name, run_id), days(start, date), [rows, orders])
