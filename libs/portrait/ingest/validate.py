"""Pure transforms: raw text lines -> typed rows, each classified as kept, quarantined or duplicate.

Every line read gets exactly one status, so counts reconcile by construction:
rows read = kept + quarantined + duplicates dropped (header lines of CSV files are counted apart).
"""
from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait import privacy
from portrait.ingest.sources import Source

KEPT, QUARANTINED, DUPLICATE, HEADER = "kept", "quarantined", "duplicate", "header"
_CORRUPT = "_corrupt_record"


def parse_lines(lines: DataFrame, source: Source) -> DataFrame:
    """Parse text lines (`value`, `source_file`, `date`) into a struct `r` of raw string fields.

    Malformed lines get `r._corrupt_record` set (or `r` null for an empty line).
    """
    ddl = ", ".join([f"`{f.name}` STRING" for f in source.fields] + [f"`{_CORRUPT}` STRING"])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    if source.format == "json":
        parsed = F.from_json("value", ddl, options)
    elif source.format == "csv":
        parsed = F.from_csv("value", ddl, options)
    else:  # a Source definition error, not bad data
        raise ValueError(f"source {source.name}: unknown format {source.format!r}")
    return lines.withColumn("r", parsed)


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def _typed(source: Source) -> dict[str, Column]:
    out = {}
    for f in source.fields:
        raw = F.col(f"r.{f.name}")
        value = F.when(~_blank(raw), F.trim(raw) if f.type != "string" else raw)
        if f.format and f.type in ("timestamp", "date"):
            out[f.name] = F.try_to_timestamp(value, F.lit(f.format)).cast(f.type)
        else:
            out[f.name] = value if f.type == "string" else value.try_cast(f.type)
    return out


def _first_reason(conditions: list[tuple[str, Column]]) -> Column:
    return F.coalesce(*[F.when(cond, F.lit(code)) for code, cond in conditions], F.lit(None).cast("string"))


def classify(
    parsed: DataFrame,
    source: Source,
    *,
    pii_key: bytes,
    earliest: dt.date,
    max_field_chars: int,
) -> DataFrame:
    """Type, validate, de-duplicate and pseudonymise parsed lines.

    Args:
        parsed: output of `parse_lines`.
        source: the source definition.
        pii_key: the HMAC key for PII fields.
        earliest: timestamps before this date are impossible.
        max_field_chars: a longer raw field is quarantined as oversized.

    Returns:
        One row per input line: the typed output columns of the source (PII hashed),
        `date`, `source_file`, `_status`, `_reason` and `_raw_record` (PII masked).
    """
    typed = _typed(source)
    raw = {f.name: F.col(f"r.{f.name}") for f in source.fields}

    conditions: list[tuple[str, Column]] = [
        ("empty_line", F.col("r").isNull() | (F.trim(F.col("value")) == "")),
        ("unparseable", F.col(f"r.{_CORRUPT}").isNotNull()),
        ("oversized_field", reduce(lambda a, b: a | b, [F.length(c) > max_field_chars for c in raw.values()])),
    ]
    conditions += [(f"missing_{f.name}", _blank(raw[f.name])) for f in source.fields if f.required]
    conditions += [
        (f"bad_type_{f.name}", ~_blank(raw[f.name]) & typed[f.name].isNull())
        for f in source.fields
        if f.type != "string"
    ]
    if source.time_column:
        ts = typed[source.time_column]
        conditions += [
            ("timestamp_before_earliest", ts < F.lit(earliest.isoformat()).cast("timestamp")),
            # Nothing in a file can happen after the day the file landed (2 days of clock slack).
            ("timestamp_in_future", ts >= F.date_add(F.col("date"), 2).cast("timestamp")),
        ]
    conditions += [(code, rule(typed)) for code, rule in source.rules]

    is_header = F.lit(source.format == "csv") & (F.trim(F.col("value")) == source.header)
    with_reason = parsed.select(
        "*",
        is_header.alias("_is_header"),
        *[typed[name].alias(f"t_{name}") for name in typed],
        _first_reason(conditions).alias("_reason"),
    )
    status = _dedupe_status(with_reason, source)
    hashed = {
        f.name: privacy.pseudonymise(raw[f.name], f.pii, pii_key) for f in source.fields if f.pii
    }
    masked_record = F.to_json(
        F.struct(*[(hashed[f.name] if f.pii else raw[f.name]).alias(f.output_name) for f in source.fields])
    )
    return status.select(
        *[
            (hashed[f.name] if f.pii else F.col(f"t_{f.name}")).alias(f.output_name)
            for f in source.fields
        ],
        "date",
        "source_file",
        "_status",
        F.when(F.col("_status") == QUARANTINED, F.col("_reason")).alias("_reason"),
        F.when(
            F.col("_status") == QUARANTINED,
            F.when(F.col(f"r.{_CORRUPT}").isNull() & F.col("r").isNotNull(), masked_record).otherwise(
                privacy.redact_free_text(F.col("value"))
            ),
        ).alias("_raw_record"),
    )


def _dedupe_status(df: DataFrame, source: Source) -> DataFrame:
    """Status per line. Exact repeats of a valid id are duplicates (dropped and counted);
    a repeated id with other content is quarantined as `duplicate_id`."""
    header = F.col("_is_header")
    if not source.id_columns:
        return df.withColumn(
            "_status", F.when(header, HEADER).when(F.col("_reason").isNull(), KEPT).otherwise(QUARANTINED)
        )
    keys = [F.col(f"t_{c}") for c in source.id_columns]
    scope = keys + ([F.col("date")] if source.id_per_date else [])
    valid = F.col("_reason").isNull() & ~header
    w = Window.partitionBy(valid, *scope).orderBy("date", "source_file", "value")
    ranked = df.withColumn("_rn", F.row_number().over(w)).withColumn(
        "_first_value", F.first("value").over(w.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    )
    is_dup = valid & (F.col("_rn") > 1)
    return (
        ranked.withColumn(
            "_reason",
            F.when(is_dup & (F.col("value") != F.col("_first_value")), F.lit("duplicate_id")).otherwise(F.col("_reason")),
        )
        .withColumn(
            "_status",
            F.when(header, HEADER)
            .when(F.col("_reason").isNotNull(), QUARANTINED)
            .when(is_dup, DUPLICATE)
            .otherwise(KEPT),
        )
        .drop("_rn", "_first_value")
    )
