"""The landing zone: which files a source has per date, and their text lines with line numbers.

Files are listed on the driver through the Hadoop FileSystem (names, sizes, times and the last
byte of each file, never the data), so a 0-byte file, a file with no final newline and a file
that arrived late for an earlier date are all known without scanning anything.

Line numbers are computed without a global window: each line gets `monotonically_increasing_id`
at the scan, which is consecutive within one split of one file in one Spark partition; a small
aggregate per (file, split start, partition) gives each split's first id and line count, a window
over that aggregate (one row per split) cumulates the counts per file, and a join gives
`line_number = lines before the split + (id - first id of the split) + 1`.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

_DATE_DIR = "date="


@dataclass(frozen=True)
class LandingFile:
    """One landed file as the file system lists it."""

    source: str
    date: dt.date
    path: str  # as Spark reports it in `_metadata.file_path` (URL-encoded) and writes in `source_file`
    read_path: str  # as the file system and `spark.read` spell it
    size: int
    modified_ms: int
    ends_with_newline: bool  # False for an empty file or one whose last line was cut off

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies an ingested file: a file rewritten in place is a new one."""
        return self.path, self.size, self.modified_ms


def list_files(spark: SparkSession, landing: str, source: str, start: dt.date, end: dt.date) -> list[LandingFile]:
    """The files of `<landing>/<source>/date=YYYY-MM-DD/` for dates in [start, end], sorted by date and path.

    Hidden files (`.name`, `_name`, e.g. checksums and `_SUCCESS`) and sub-folders are skipped; a
    missing source folder gives no files.
    """
    jvm = spark._jvm
    root = jvm.org.apache.hadoop.fs.Path(f"{landing.rstrip('/')}/{source}")
    fs = root.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(root):
        log.warning("no landing folder for source %s at %s", source, root.toString())
        return []
    files = []
    for folder in fs.listStatus(root):
        name = folder.getPath().getName()
        if not folder.isDirectory() or not name.startswith(_DATE_DIR):
            continue
        try:
            date = dt.date.fromisoformat(name[len(_DATE_DIR):])
        except ValueError:
            raise ValueError(f"landing folder {folder.getPath().toString()} is not date=YYYY-MM-DD") from None
        if not start <= date <= end:
            continue
        for status in fs.listStatus(folder.getPath()):
            if status.isDirectory() or status.getPath().getName()[:1] in (".", "_"):
                continue
            files.append(LandingFile(
                source=source, date=date, path=_as_spark_reports(status.getPath()),
                read_path=status.getPath().toString(), size=status.getLen(),
                modified_ms=status.getModificationTime(), ends_with_newline=_ends_with_newline(fs, status),
            ))
    return sorted(files, key=lambda f: (f.date, f.path))


def _as_spark_reports(path) -> str:
    """A Hadoop path spelled as `_metadata.file_path` spells it: URL-encoded, `file:/x` not `file:///x`."""
    uri = path.toUri()
    authority = uri.getRawAuthority()
    return f"{uri.getScheme()}:{'//' + authority if authority else ''}{uri.getRawPath()}"


def _ends_with_newline(fs, status) -> bool:
    if status.getLen() == 0:
        return False
    stream = fs.open(status.getPath())
    try:
        stream.seek(status.getLen() - 1)
        return stream.read() in (ord("\n"), ord("\r"))
    finally:
        stream.close()


def scan_lines(spark: SparkSession, files: list[LandingFile]) -> DataFrame:
    """The text lines of `files` with what `with_line_numbers` needs (`_row_id`, `_block_start`, `_pid`).

    Persist the result before numbering: the ids must be the same in the aggregate and the join.
    """
    columns = "value string, source_file string, date date, _block_start long, _pid int, _row_id long, " \
              "_ends_with_newline boolean"
    if not files:
        return spark.createDataFrame([], columns)
    meta = spark.createDataFrame(
        [(f.path, f.date, f.ends_with_newline) for f in files],
        "source_file string, date date, _ends_with_newline boolean",
    )
    scan = spark.read.text([f.read_path for f in files]).select(
        "value",
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_block_start").alias("_block_start"),
        F.spark_partition_id().alias("_pid"),
        F.monotonically_increasing_id().alias("_row_id"),
    )
    # One row per listed file (paths are unique), so the join keeps the lines as they are; a line
    # whose path is not spelled as listed gets a null date and fails the per-file reconciliation.
    names = [c.split(" ")[0] for c in columns.split(", ")]
    return scan.join(F.broadcast(meta), on="source_file", how="left").select(*names)


def with_line_numbers(scan: DataFrame) -> DataFrame:
    """Add `line_number` (1-based line in its file) and `_unterminated` (the last line of a file
    with no final newline) to the output of `scan_lines`.

    Returns:
        `value`, `source_file`, `date`, `line_number`, `_unterminated`.
    """
    split = ["source_file", "_block_start", "_pid"]
    splits = scan.groupBy(*split).agg(F.min("_row_id").alias("_first_id"), F.count(F.lit(1)).alias("_n"))
    in_file = Window.partitionBy("source_file").orderBy("_block_start", "_pid")
    splits = splits.select(
        *split, "_first_id",
        F.coalesce(F.sum("_n").over(in_file.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0)).alias("_before"),
        F.sum("_n").over(in_file.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)).alias("_lines"),
    )  # one row per split: the join below keeps one row per line
    line_number = F.col("_before") + (F.col("_row_id") - F.col("_first_id")) + 1
    return scan.join(F.broadcast(splits), on=split, how="inner").select(
        "value", "source_file", "date",
        line_number.alias("line_number"),
        (~F.col("_ends_with_newline") & (line_number == F.col("_lines"))).alias("_unterminated"),
    )


def header_columns(line: str) -> tuple[str, ...]:
    """The column names of a CSV header line (quoted names allowed), trimmed.

    A blank name becomes `_c<position>` and a repeated one `<name>_<n>`, so that every header
    gives a valid parse schema (the odd columns end up in `extra`).
    """
    names: list[str] = []
    for i, name in enumerate(next(csv.reader([line.lstrip("\ufeff")]), [])):
        name = name.strip() or f"_c{i}"
        unique, n = name, 1
        while unique in names or unique == "_corrupt_record":
            n += 1
            unique = f"{name}_{n}"
        names.append(unique)
    return tuple(names)


def with_header_index(lines: DataFrame, header_of_file: dict[str, int]) -> DataFrame:
    """Add `_header_idx`: which of the distinct headers the line's file has (null: no header line)."""
    if not header_of_file:
        return lines.withColumn("_header_idx", F.lit(None).cast("int"))
    index = lines.sparkSession.createDataFrame(
        sorted(header_of_file.items()), "source_file string, _header_idx int"
    )  # one row per file
    return lines.join(F.broadcast(index), on="source_file", how="left")
