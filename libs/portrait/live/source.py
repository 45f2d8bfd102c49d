"""The live job's input: new clickstream files of the landing zone as a stream, and each
micro-batch's lines through the batch ingest's own builders (`landing.with_line_numbers`,
`validate.parse_lines`, `validate.classify`): the same strict validation, quarantine reasons and PII
masking as `ingest`, never a second parser.

A micro-batch's lines come from whole files (the file source never splits a file across batches),
so a line's number depends on its own file only, as in the batch ingest. Pure builders, except
`clickstream_lines` (it defines the stream) and `with_file_endings` (one byte per file, on the driver).
"""

from __future__ import annotations

import datetime as dt
import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait.identity.history import person_id_of
from portrait.identity.resolution import EVENT_KEYS, with_person_id
from portrait.ingest import landing, validate
from portrait.ingest.sources import CLICKSTREAM

# A landing file's date folder, in the path Spark reports (`<landing>/clickstream/date=YYYY-MM-DD/<file>`).
_DATE_FOLDER = r"/date=([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$"
_SCAN_COLUMNS = ("value", "source_file", "date", "_block_start", "_pid", "_row_id")
# silver.live_events: the typed clickstream fields (as bronze.clickstream has them), the person, the line.
LIVE_EVENT_SCHEMA = (
    "event_id string, person_id string, provisional boolean, anonymous_id string, user_id string, "
    "session_id string, event_type string, ts timestamp, product_id string, category string, price double, "
    "search_query string, device_type string, channel string, dwell_ms long, order_id string, "
    "extra map<string,string>, source_file string, line_number long, date date, ingested_at timestamp"
)
MAP_SCHEMA = "id_type string, id_value string, person_id string"


def clickstream_lines(spark: SparkSession, landing_root: str, *, max_files_per_trigger: int) -> DataFrame:
    """The lines of every new file under `<landing>/clickstream/date=*/` as they land: `value`,
    `source_file` (`_metadata.file_path`, spelled as the batch ingest records it) and `_block_start`.

    Files must land whole (written elsewhere, then renamed into the folder): a file is read once,
    when the stream first lists it, and what is appended to it later is never read by this job.
    """
    path = f"{landing_root.rstrip('/')}/clickstream/date=*/"
    return (
        spark.readStream.format("text")
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .load(path)
        .select(
            "value",
            F.col("_metadata.file_path").alias("source_file"),
            F.col("_metadata.file_block_start").alias("_block_start"),
        )
    )


def batch_scan(batch: DataFrame, *, start: dt.date) -> DataFrame:
    """A micro-batch's lines in `landing.scan_lines`' columns (but `_ends_with_newline`): the landing
    date from the file's folder, and the split and row ids the line numbers are built from. Lines of
    files in date folders before `start`, or outside a date folder, are left out.

    Persist the result before numbering (the ids must be the same in the aggregate and the join).
    """
    date = F.try_to_date(F.regexp_extract("source_file", _DATE_FOLDER, 1), "yyyy-MM-dd")
    return batch.select(
        "value",
        "source_file",
        date.alias("date"),
        "_block_start",
        F.spark_partition_id().alias("_pid"),
        F.monotonically_increasing_id().alias("_row_id"),
    ).where(F.col("date") >= F.lit(start))


def landing_date(path: str) -> dt.date | None:
    """The landing date of a file from its date folder (None outside one)."""
    found = re.search(_DATE_FOLDER, path)
    try:
        return dt.date.fromisoformat(found.group(1)) if found else None
    except ValueError:  # date=2026-13-01: no date (its lines were left out by `batch_scan` too)
        return None


def with_file_endings(scan: DataFrame) -> tuple[DataFrame, list[str]]:
    """`scan` (persisted, `batch_scan`) with `_ends_with_newline` per file, and the files: their
    names are collected (one small job) and their last byte read on the driver
    (`landing.ends_with_newline`)."""
    files = sorted(r["source_file"] for r in scan.select("source_file").distinct().collect())
    endings = landing.ends_with_newline(scan.sparkSession, files)
    meta = scan.sparkSession.createDataFrame(
        [(p, endings[p]) for p in files], "source_file string, _ends_with_newline boolean"
    )  # one row per file
    joined = scan.join(F.broadcast(meta), on="source_file", how="inner")
    return joined.select(*_SCAN_COLUMNS, "_ends_with_newline"), files


def classified_lines(
    scan: DataFrame, *, pii_key: bytes, earliest: dt.date, max_field_chars: int, earlier: DataFrame
) -> DataFrame:
    """Every line of the micro-batch classified as the batch ingest classifies it (kept, quarantined
    or duplicate, PII masked), and a kept event whose `event_id` the live job already kept on a date
    of `earlier` (silver.live_events of the lookback, this batch's dates included) a duplicate too.

    Args:
        scan: `with_file_endings` output.
        pii_key, earliest, max_field_chars: as `validate.classify` takes them.
        earlier: silver.live_events rows (`event_id`) of the duplicate lookback.
    """
    rows = validate.classify(
        validate.parse_lines(landing.with_line_numbers(scan), CLICKSTREAM),
        CLICKSTREAM,
        pii_key=pii_key,
        earliest=earliest,
        max_field_chars=max_field_chars,
    )
    seen = earlier.groupBy(F.col("event_id").alias("_seen_id")).agg(F.lit(True).alias("_seen"))  # one row per id
    flagged = rows.join(seen, on=F.col("event_id") == F.col("_seen_id"), how="left")
    again = (F.col("_status") == validate.KEPT) & F.coalesce(F.col("_seen"), F.lit(False))
    return flagged.select(
        *[c for c in rows.columns if c != "_status"],
        F.when(again, F.lit(validate.DUPLICATE)).otherwise(F.col("_status")).alias("_status"),
    )


def live_events(rows: DataFrame, identity_map: DataFrame, *, ingested_at: dt.datetime) -> DataFrame:
    """The kept events of classified lines with `person_id` from the identity map (account first,
    then cookie: `resolution.EVENT_KEYS`), else a provisional id: the id the identity stage gives a
    new person anchored on that identifier (`history.person_id_of` of `account:<user_id>`, else
    `cookie:<anonymous_id>`), so the next daily identity run names the person as the live job did
    unless the identifier links to a known person. Ends in silver.live_events' columns."""
    kept = rows.where(F.col("_status") == validate.KEPT)
    resolved = with_person_id(kept, identity_map, list(EVENT_KEYS))
    anchor = F.concat(_anchor_type(), F.lit(":"), _anchor_value())
    out = resolved.select(
        "*",
        F.coalesce(F.col("person_id"), person_id_of(anchor)).alias("_person_id"),
        F.col("person_id").isNull().alias("provisional"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    ).drop("person_id")
    return conform(out.withColumnRenamed("_person_id", "person_id"), LIVE_EVENT_SCHEMA)


def _anchor_type() -> Column:
    return F.when(F.col("user_id").isNotNull(), F.lit("account")).otherwise(F.lit("cookie"))


def _anchor_value() -> Column:
    return F.coalesce(F.col("user_id"), F.col("anonymous_id"))


def provisional_identifier() -> list[Column]:
    """`id_type` and `id_value` of a silver.live_events row: the identifier its provisional id was
    derived from (`live_events`: the account, else the cookie), null when the map resolved it.

    The live tables keep it on every row written under a provisional id: once the identity stage
    maps that identifier to a person under another id, `erase` finds those rows by it (as an
    identifier pair, like the identity map's), never by the provisional id, which the map may still
    give to someone else."""
    provisional = F.col("provisional")
    return [
        F.when(provisional, _anchor_type()).alias("id_type"),
        F.when(provisional, _anchor_value()).alias("id_value"),
    ]


def conform(df: DataFrame, schema: str) -> DataFrame:
    """`df` selected and cast to the columns of a DDL schema string (`name type, ...`), in its order."""
    columns = [part.strip().split(" ", 1) for part in _top_level(schema)]
    return df.select(*[F.col(name).cast(type_).alias(name) for name, type_ in columns])


def _top_level(schema: str) -> list[str]:
    """The comma-separated parts of a DDL schema string outside `<...>` (a map's types stay whole)."""
    parts, depth, current = [], 0, ""
    for ch in schema:
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]
