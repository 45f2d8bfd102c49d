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
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import reduce
from urllib.parse import unquote, urlparse

from py4j.protocol import Py4JJavaError
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
    rejected: str | None = None  # why the whole file is not read (see `REJECTIONS`); None: read

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies an ingested file: a file rewritten in place is a new one."""
        return self.path, self.size, self.modified_ms


# Why a file under a source's landing folder is not read; each one is a row in bronze.ingest_files
# (status `rejected`, this reason), so that no byte under the landing zone goes unaccounted for.
HIDDEN_FILE = "hidden_file"
IN_SUBFOLDER = "in_subfolder"
BAD_DATE_FOLDER = "bad_date_folder"
OUTSIDE_DATE_FOLDER = "outside_date_folder"
LATE_BEYOND_LOOKBACK = "late_beyond_lookback"
COMPRESSED_WITHOUT_EXTENSION = "compressed_without_extension"
CORRUPT_COMPRESSED_FILE = "corrupt_compressed_file"
UNSUPPORTED_ARCHIVE = "unsupported_archive"
UTF16_ENCODING = "utf16_encoding"
SYMLINK_OUTSIDE_LANDING = "symlink_outside_landing"
UNREADABLE_NAME = "unreadable_name"
REJECTIONS = {
    HIDDEN_FILE: "a name starting with . or _ (checksums, _SUCCESS, editors' files)",
    IN_SUBFOLDER: "in a folder inside a date folder: the layout is <source>/date=YYYY-MM-DD/<file>",
    BAD_DATE_FOLDER: "in a folder that is not date=YYYY-MM-DD (recorded under the run's date)",
    OUTSIDE_DATE_FOLDER: "directly in the source folder (recorded under the run's date)",
    LATE_BEYOND_LOOKBACK: "in a date folder ingested before, arrived after it left ingest.late_lookback_days",
    COMPRESSED_WITHOUT_EXTENSION: "gzip/bzip2/zstd/xz bytes in a file whose name has no codec extension",
    CORRUPT_COMPRESSED_FILE: "a compressed file that does not decompress to its end (truncated, not that codec)",
    UNSUPPORTED_ARCHIVE: "a zip archive (not a stream codec Spark reads)",
    UTF16_ENCODING: "a UTF-16/32 byte-order mark: the landing zone is UTF-8",
    SYMLINK_OUTSIDE_LANDING: "a symbolic link to a file outside the landing zone (never followed)",
    UNREADABLE_NAME: "a colon in the name: Hadoop's file systems cannot open it (its checksum path is not a URI)",
}
# The first bytes of a file whose name names no codec, and why such a file is not read.
_MAGIC = (
    (b"\x1f\x8b", COMPRESSED_WITHOUT_EXTENSION),  # gzip
    (b"BZh", COMPRESSED_WITHOUT_EXTENSION),  # bzip2
    (b"\x28\xb5\x2f\xfd", COMPRESSED_WITHOUT_EXTENSION),  # zstd
    (b"\xfd7zXZ", COMPRESSED_WITHOUT_EXTENSION),  # xz
    (b"PK\x03\x04", UNSUPPORTED_ARCHIVE),
    (b"\xff\xfe", UTF16_ENCODING),
    (b"\xfe\xff", UTF16_ENCODING),
    (b"\x00\x00\xfe\xff", UTF16_ENCODING),
)
_DATE_IN_PATH = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


def list_files(
    spark: SparkSession,
    landing: str,
    source: str,
    start: dt.date,
    end: dt.date,
    *,
    history: set[tuple[str, int, int]] | None = None,
) -> list[LandingFile]:
    """The files under `<landing>/<source>/` for dates in [start, end], sorted by date and path,
    each either to be read or `rejected` with a reason (`REJECTIONS`).

    Files the layout does not expect are listed as rejected, never skipped: hidden files,
    files in a sub-folder, in a badly named folder or directly under the source folder (those
    two are dated `end`: one bad folder never stops the others), compressed files that do not
    decompress or whose name hides the codec, UTF-16 files. With `history` (the files already
    recorded in `bronze.ingest_files` for dates before `start`), a file of an earlier date
    that was ingested, but that is not in `history`, arrived after the lookback and is listed as
    `late_beyond_lookback`. A missing source folder gives no files.
    """
    jvm = spark._jvm
    root = jvm.org.apache.hadoop.fs.Path(f"{landing.rstrip('/')}/{source}")
    conf = spark._jsc.hadoopConfiguration()
    fs = root.getFileSystem(conf)
    if not fs.exists(root):
        log.warning("no landing folder for source %s at %s", source, root.toString())
        return []
    checker = (jvm, jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf), _local_dir(landing))
    ingested_dates = {date for p, _, _ in history or () if (date := _date_in_path(p)) is not None}
    files = []
    for entry in fs.listStatus(root):
        name = entry.getPath().getName()
        date = _folder_date(name) if entry.isDirectory() else None
        if date is None:
            reason = (
                HIDDEN_FILE
                if name[:1] in (".", "_")
                else BAD_DATE_FOLDER
                if entry.isDirectory()
                else OUTSIDE_DATE_FOLDER
            )
            files += [_entry(fs, s, source, end, reason, None) for s in _walk(fs, entry)]
            continue
        if date > end:
            continue
        old = date < start
        if old and (history is None or date not in ingested_dates):
            continue  # never ingested: a backfill's, not a late file
        for status in fs.listStatus(entry.getPath()):
            child = status.getPath().getName()
            if status.isDirectory():
                found = [_entry(fs, s, source, date, IN_SUBFOLDER, None) for s in _walk(fs, status)]
            else:
                found = [_entry(fs, status, source, date, HIDDEN_FILE if child[:1] in (".", "_") else None, checker)]
            if old:
                found = [
                    replace(f, rejected=f.rejected or LATE_BEYOND_LOOKBACK)
                    for f in found
                    if f.key not in (history or set())
                ]
            files += found
    _log_rejections(source, files)
    return sorted(files, key=lambda f: (f.date, f.path))


def _log_rejections(source: str, files: list[LandingFile]) -> None:
    """One log line per rejected file, saying why."""
    for f in files:  # a hidden file (_SUCCESS, .crc) is what writers leave: recorded, not worth a warning
        if f.rejected:
            level = logging.INFO if f.rejected == HIDDEN_FILE else logging.WARNING
            log.log(level, "ingest %s: %s rejected (%s: %s)", source, f.read_path, f.rejected, REJECTIONS[f.rejected])


def _date_in_path(path: str) -> dt.date | None:
    """The date of the date folder a recorded file's path names; None for a path outside one or a
    folder whose name is no date (`date=2026-13-01` is recorded as rejected, and stays recorded)."""
    found = _DATE_IN_PATH.search(path)
    return _iso_date(found.group(1)) if found else None


def _folder_date(name: str) -> dt.date | None:
    return _iso_date(name[len(_DATE_DIR) :]) if name.startswith(_DATE_DIR) else None


def _iso_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _walk(fs, status) -> Iterator:
    """`status` itself when a file or an empty folder, else every file and empty folder below it."""
    if not status.isDirectory():
        yield status
        return
    children = fs.listStatus(status.getPath())
    if len(children) == 0:
        yield status
    for child in children:
        yield from _walk(fs, child)


def _local_dir(landing: str) -> str | None:
    """The landing zone's real directory on this machine (links resolved), or None when it is not on
    a local file system (object stores have no symbolic links)."""
    url = urlparse(landing)
    if url.scheme not in ("", "file"):
        return None
    return os.path.realpath(unquote(url.path) if url.scheme else landing)


def _outside(status, landing_dir: str | None) -> bool:
    """Whether a listed local file resolves (through symbolic links) to a file outside the landing zone."""
    if landing_dir is None:
        return False
    real = os.path.realpath(unquote(status.getPath().toUri().getPath()))
    return os.path.commonpath([real, landing_dir]) != landing_dir


def _entry(fs, status, source: str, date: dt.date, rejected: str | None, checker) -> LandingFile:
    """A listed file; its first bytes (and, when compressed, its whole stream) checked unless rejected already."""
    is_file = not status.isDirectory()
    if is_file and ":" in status.getPath().getName():
        rejected = UNREADABLE_NAME  # whatever else is wrong with it: it cannot be opened
    if rejected is None and is_file and checker is not None:
        jvm, codecs, landing_dir = checker
        if _outside(status, landing_dir):  # checked before a byte of it is opened
            rejected = SYMLINK_OUTSIDE_LANDING
        else:
            rejected = _content_rejection(fs, status, jvm, codecs)
    return LandingFile(
        source=source,
        date=date,
        path=_as_spark_reports(status.getPath()),
        read_path=status.getPath().toString(),
        size=status.getLen() if is_file else 0,
        modified_ms=status.getModificationTime(),
        ends_with_newline=is_file and rejected != UNREADABLE_NAME and _ends_with_newline(fs, status),
        rejected=rejected,
    )


def _content_rejection(fs, status, jvm, codecs) -> str | None:
    """Why a file's bytes cannot be read as the text its name promises, or None."""
    head = _head(fs, status, 4)
    codec = codecs.getCodec(status.getPath())
    if codec is None:
        return next((reason for magic, reason in _MAGIC if head.startswith(magic)), None)
    # Decompress the whole stream inside the JVM (no byte comes to Python): Spark would fail the
    # job on the first truncated or mislabelled file, stopping every other one.
    try:
        stream = codec.createInputStream(fs.open(status.getPath()))
        jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, jvm.java.io.OutputStream.nullOutputStream(), 1 << 16, True)
    except Py4JJavaError:
        return CORRUPT_COMPRESSED_FILE
    return None


def _head(fs, status, n: int) -> bytes:
    if status.getLen() == 0:
        return b""
    stream = fs.open(status.getPath())
    try:
        return bytes(b & 0xFF for b in (stream.read() for _ in range(min(n, status.getLen()))))
    finally:
        stream.close()


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


def ends_with_newline(spark: SparkSession, paths: list[str]) -> dict[str, bool]:
    """Per file, spelled as `_metadata.file_path` spells it (a URI), whether its last byte ends a
    line: what `scan_lines` needs of files found by a stream rather than listed (`portrait.live`).
    One status and one byte per file, on the driver."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    found = {}
    for p in paths:
        path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(p))
        fs = path.getFileSystem(conf)
        found[p] = _ends_with_newline(fs, fs.getFileStatus(path))
    return found


def scan_lines(spark: SparkSession, files: list[LandingFile]) -> DataFrame:
    """The text lines of `files` with what `with_line_numbers` needs (`_row_id`, `_block_start`, `_pid`).

    Persist the result before numbering: the ids must be the same in the aggregate and the join.
    """
    columns = (
        "value string, source_file string, date date, _block_start long, _pid int, _row_id long, "
        "_ends_with_newline boolean"
    )
    files = [f for f in files if not f.rejected]  # reported, never read
    if not files:
        return spark.createDataFrame([], columns)
    meta = spark.createDataFrame(
        [(f.path, f.date, f.ends_with_newline) for f in files],
        "source_file string, date date, _ends_with_newline boolean",
    )
    plain = [f.read_path for f in files if not _awkward(f)]
    reads = [spark.read.text(plain)] if plain else []
    reads += [_read_literally(spark, f) for f in files if _awkward(f)]
    scan = reduce(DataFrame.unionByName, [r.select("value", "_metadata") for r in reads]).select(
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


# Characters a path given to `spark.read` is not taken literally with: glob syntax. (A colon, which
# Hadoop reads as a URI scheme when it builds a path from a folder and a name, cannot be opened at
# all: such a file is rejected as `unreadable_name` when listed.)
_AWKWARD = set("{}[]*?\\")


def _awkward(f: LandingFile) -> bool:
    return bool(_AWKWARD & set(f.read_path.rsplit("/", 1)[-1]))


def _glob_literal(name: str) -> str:
    """`name` as a Hadoop glob pattern that matches exactly it (each special character escaped)."""
    return "".join(f"\\{c}" if c in "{}[]*?\\" else c for c in name)


def _read_literally(spark: SparkSession, f: LandingFile) -> DataFrame:
    """The lines of one file whose name `spark.read` would take as a glob or a URI: its folder is
    listed and the name matched as a literal (an escaped glob), then only that file's lines kept."""
    folder, name = f.read_path.rsplit("/", 1)
    return (
        spark.read.option("pathGlobFilter", _glob_literal(name))
        .option("recursiveFileLookup", "true")
        .text(folder)
        .where(F.col("_metadata.file_path") == F.lit(f.path))
    )


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
        *split,
        "_first_id",
        F.coalesce(F.sum("_n").over(in_file.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0)).alias("_before"),
        F.sum("_n").over(in_file.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)).alias("_lines"),
    )  # one row per split: the join below keeps one row per line
    line_number = F.col("_before") + (F.col("_row_id") - F.col("_first_id")) + 1
    return scan.join(F.broadcast(splits), on=split, how="inner").select(
        "value",
        "source_file",
        "date",
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
