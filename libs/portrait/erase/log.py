"""The erasure log row (`gold.erasure_log`): what was erased, with the persons as keyed hashes only."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait import privacy

LOG_SCHEMA = (
    "erasure_id string, requested_at timestamp, date date, person_hashes array<string>, "
    "requested_by array<string>, rows_deleted map<string,bigint>, tables_vacuumed array<string>"
)


def erasure_log_row(
    spark: SparkSession,
    *,
    erasure_id: str,
    date: dt.date,
    person_ids: list[str],
    requested_by: list[str],
    rows_deleted: dict[str, int],
    vacuumed: list[str],
    key: bytes,
) -> DataFrame:
    """The log row: person ids replaced by their keyed hash before anything is written."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    row = spark.createDataFrame(
        [(erasure_id, now, date, person_ids, requested_by, rows_deleted, vacuumed)],
        LOG_SCHEMA.replace("person_hashes", "person_ids"),
    )
    return row.select(
        "erasure_id",
        "requested_at",
        "date",
        F.transform("person_ids", lambda p: privacy.hmac_sha256(p, key)).alias("person_hashes"),
        "requested_by",
        "rows_deleted",
        "tables_vacuumed",
    )
