"""Pure transforms: raw text lines -> typed rows, each classified as kept, quarantined or duplicate.

Every line read gets exactly one status, so counts reconcile by construction:
rows read = kept + quarantined + duplicates dropped (header lines of CSV files are counted apart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait import privacy
from portrait.ingest import strict
from portrait.ingest.sources import Field, Source

KEPT, QUARANTINED, DUPLICATE, HEADER = "kept", "quarantined", "duplicate", "header"
_CORRUPT = "_corrupt_record"
# The text source keeps a line's bytes as they are, so bytes that are not UTF-8 are found by
# `is_valid_utf8`; a line decoded upstream may carry the replacement character instead.
REPLACEMENT_CHAR = "\ufffd"
TRUNCATED = "truncated_record"
_EXTRA_TYPE = "map<string,string>"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def parse_lines(lines: DataFrame, source: Source, *, headers: Sequence[Sequence[str]] | None = None) -> DataFrame:
    """Parse text lines into a struct `r` of the source's raw string fields, plus `extra`.

    Args:
        lines: `value`, `source_file`, `date` (and `line_number`, `_header_idx` for CSV with `headers`).
        source: the source definition.
        headers: CSV only: the distinct header columns of the files read; each line's `_header_idx`
            says which one its file has, and line 1 of a file is its header. Without it (an export
            of one known layout) a line equal to `source.header` is a header and columns are
            taken in the source's order.

    Returns:
        `lines` with `r` (malformed lines get `r._corrupt_record` set, `r` null for an empty line),
        `_is_header`, `_missing_column` (`missing_column_<name>` when the file's header lacks a
        required field, else null) and `extra` (map of unknown keys or columns to their raw
        values, null when none). JSON lines also get `_json` (the line as a variant, null when it
        is not JSON: it says which JSON type each value has); CSV lines get `_short` (fewer fields
        than their file's header) and `_last_column` (the header's last column), which tell a cut
        line (`classify`).
    """
    known = [f.name for f in source.fields]
    # A byte-order mark opens a file's text; it is an encoding marker, not part of the first value.
    lines = lines.withColumn("value", F.regexp_replace("value", "^\ufeff", ""))
    ddl = ", ".join([f"{_quoted(n)} STRING" for n in known] + [f"`{_CORRUPT}` STRING"])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT, "sep": source.delimiter}
    if source.format == "csv":  # RFC 4180: a quote inside a quoted field is doubled (`""`); a backslash is text
        options["escape"] = '"'
    no_extra = F.lit(None).cast(_EXTRA_TYPE)
    no_missing = F.lit(None).cast("string")
    if source.format == "json":
        as_map = F.from_json("value", _EXTRA_TYPE)
        # An unknown key's name may itself be PII (an email used as a key): masked like a value.
        unknown = privacy.redact_keys(F.map_filter(as_map, lambda k, v: ~k.isin(*known)))
        return lines.select(
            "*",
            F.from_json("value", ddl, options).alias("r"),
            F.lit(False).alias("_is_header"),
            no_missing.alias("_missing_column"),
            F.when(F.size(unknown) > 0, unknown).alias("extra"),
            F.try_parse_json("value").alias("_json"),
        )
    if source.format != "csv":  # a Source definition error, not bad data
        raise ValueError(f"source {source.name}: unknown format {source.format!r}")
    if headers is None:
        return lines.select(
            "*",
            F.from_csv("value", ddl, options).alias("r"),
            (F.trim(F.col("value")) == source.header).alias("_is_header"),
            no_missing.alias("_missing_column"),
            no_extra.alias("extra"),
            (strict.csv_field_count(F.col("value"), source.delimiter) < len(known)).alias("_short"),
            F.lit(known[-1]).alias("_last_column"),
        )
    return _parse_csv_by_header(lines, source, headers, ddl=ddl, options=options)


def _parse_csv_by_header(
    lines: DataFrame, source: Source, headers: Sequence[Sequence[str]], *, ddl: str, options: dict[str, str]
) -> DataFrame:
    """`parse_lines` of CSV files whose headers differ: each line read by its own file's header."""
    known = [f.name for f in source.fields]
    r, missing, extra = F.lit(None), F.lit(None).cast("string"), F.lit(None).cast(_EXTRA_TYPE)
    # A first line that names none of the source's fields is a record, not a header: the file has
    # no header row and its columns cannot be known, so every line (the first one too) is
    # quarantined as `no_header_row` rather than read by a guessed column order.
    headerless = [idx for idx, columns in enumerate(headers) if not set(columns) & set(known)]
    # Each line is parsed once, by its file's header, in a projection of its own: every column below
    # reads fields of that parse. Referenced inline, the parse was evaluated once per reference (a
    # 1,000-column header: thousands of parses per line, beyond code generation's 64 KB, and the
    # interpreted fallback ran the JVM out of heap).
    parsed_of = {idx: f"_parsed_{idx}" for idx in range(len(headers))}
    lines = lines.withColumns(
        {
            parsed_of[idx]: F.when(
                F.col("_header_idx") == idx,
                F.from_csv(
                    "value", ", ".join([f"{_quoted(c)} STRING" for c in columns] + [f"`{_CORRUPT}` STRING"]), options
                ),
            )
            for idx, columns in enumerate(headers)
        }
    )
    for idx, columns in reversed(list(enumerate(headers))):
        this_file = F.col("_header_idx") == idx
        record, reason, unknown = _read_by_header(F.col(parsed_of[idx]), columns, source, headerless=idx in headerless)
        r = F.when(this_file, record).otherwise(r)
        missing = F.when(this_file, reason).otherwise(missing)
        if unknown is not None:
            extra = F.when(this_file, unknown).otherwise(extra)
    if not headers:
        r = F.from_csv("value", ddl, options)
    is_header = (
        (F.col("line_number") == 1) & ~F.coalesce(F.col("_header_idx").isin(*headerless), F.lit(False))
        if headerless
        else F.col("line_number") == 1
    )
    # Per file: how many fields its header has, and its last column (the one a cut can shorten).
    of_file = F.col("_header_idx") + 1
    width = F.try_element_at(F.array(*[F.lit(len(c)) for c in headers]), of_file) if headers else F.lit(None)
    last = F.try_element_at(F.array(*[F.lit(c[-1] if c else "") for c in headers]), of_file) if headers else F.lit(None)
    return lines.select(
        "*",
        r.alias("r"),
        is_header.alias("_is_header"),
        missing.alias("_missing_column"),
        extra.alias("extra"),
        (strict.csv_field_count(F.col("value"), source.delimiter) < width).alias("_short"),
        last.cast("string").alias("_last_column"),
    ).drop(*parsed_of.values())


def _read_by_header(
    parsed: Column, columns: Sequence[str], source: Source, *, headerless: bool
) -> tuple[Column, Column, Column | None]:
    """A line of a file with header `columns`, from its parse `parsed`: the record `r` (the source's
    fields, null where the header lacks one), the reason every line of the file fails or the line
    is a repeated header (else null), and the unknown columns with their values (None when none,
    or when the file has no header row: its "names" are its first record's values)."""
    known = [f.name for f in source.fields]
    record = F.struct(
        *[(parsed[n] if n in columns else F.lit(None).cast("string")).alias(n) for n in known],
        parsed[_CORRUPT].alias(_CORRUPT),
    )
    lacking = [f.name for f in source.fields if f.required and f.name not in columns]
    file_reason = "no_header_row" if headerless else f"missing_column_{lacking[0]}" if lacking else None
    # The header line again, later in the file (files concatenated upstream): not a record. One
    # comparison of two arrays, not a chain of one AND per column: a 1,000-column header made
    # that chain deep enough to overflow the JVM's stack while Spark analysed the plan.
    as_written = F.array(*[F.trim(parsed[c]) for c in columns])
    repeated = (as_written == F.array(*[F.lit(c) for c in columns])) & (F.col("line_number") > 1)
    reason = F.coalesce(F.lit(file_reason), F.when(repeated, F.lit("repeated_header")))
    unknown = [c for c in columns if c not in known]
    if not unknown or headerless:
        return record, reason, None
    return (
        record,
        reason,
        F.map_from_arrays(F.array(*[F.lit(c) for c in unknown]), F.array(*[parsed[c] for c in unknown])),
    )


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def _typed(source: Source) -> dict[str, Column]:
    out = {}
    for f in source.fields:
        raw = F.col(f"r.{f.name}")
        value = F.when(~_blank(raw), F.trim(raw) if f.type != "string" else raw)
        if f.format and f.type in ("timestamp", "date"):
            formats = (f.format,) if isinstance(f.format, str) else f.format  # tried in order
            out[f.name] = F.coalesce(*[F.try_to_timestamp(value, F.lit(p)) for p in formats]).cast(f.type)
        else:
            out[f.name] = value if f.type == "string" else strict.cast(value, f.type)
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
    prior: DataFrame | None = None,
    lookback_days: int = 0,
) -> DataFrame:
    """Type, validate, de-duplicate and pseudonymise parsed lines.

    Args:
        parsed: output of `parse_lines`; with `line_number` and `_unterminated` (the last line of a
            file with no final newline) when read by `landing.read_lines`.
        source: the source definition.
        pii_key: the HMAC key for PII fields.
        earliest: timestamps before this date are impossible.
        max_field_chars: a longer raw field is quarantined as oversized.
        prior: rows already kept in `bronze.<source>` on other dates (its output columns and
            `date`); an id kept there within `lookback_days` before a line's date makes the
            line a duplicate (same typed content) or a `duplicate_id`. Needs `line_number`.
        lookback_days: see `prior`.

    Returns:
        One row per input line: the typed output columns of the source (PII hashed), `extra`
        (unknown keys or columns, null when none), `date`, `source_file`, `line_number`,
        `_status`, `_reason` and `_raw_record` (PII masked).
    """
    typed = _typed(source)
    raw = {f.name: F.col(f"r.{f.name}") for f in source.fields}
    json = F.col("_json") if "_json" in parsed.columns else None
    conditions = _line_reasons(source, raw, max_field_chars=max_field_chars) + _field_reasons(
        source, typed, raw, earliest=earliest, json=json
    )
    reason = _reason(conditions, unterminated="_unterminated" in parsed.columns, csv=source.format == "csv")
    with_reason = parsed.select(
        "*",
        *[typed[name].alias(f"t_{name}") for name in typed],
        reason.alias("_reason"),
    )
    status = _dedupe_status(with_reason, source)
    hashed = {f.name: privacy.pseudonymise(raw[f.name], f.pii, pii_key) for f in source.fields if f.pii}
    masked_extra = F.transform_values("extra", lambda _, v: privacy.redact_free_text(v))
    masked_record = _masked_record(source, raw, hashed, masked_extra, pii_key=pii_key, max_field_chars=max_field_chars)
    line_number = F.col("line_number").cast("long") if "line_number" in parsed.columns else F.lit(None).cast("long")
    typed_rows = status.select(
        *_output_fields(source, hashed),
        # Unknown fields may hold PII that no Field declares: mask what looks like it, as in quarantine.
        F.when(~F.col("_is_header"), masked_extra).alias("extra"),
        "date",
        "source_file",
        line_number.alias("line_number"),
        "_status",
        "_reason",
        masked_record.alias("_masked_record"),
    )
    if prior is not None and source.id_columns and not source.id_per_date:
        typed_rows = _against_prior(typed_rows, prior, source, lookback_days)
    return typed_rows.select(
        *[c for c in typed_rows.columns if c not in ("_reason", "_masked_record")],
        F.when(F.col("_status") == QUARANTINED, F.col("_reason")).alias("_reason"),
        F.when(F.col("_status") == QUARANTINED, F.col("_masked_record")).alias("_raw_record"),
    )


def _line_reasons(source: Source, raw: dict[str, Column], *, max_field_chars: int) -> list[tuple[str, Column]]:
    """What can be wrong with a line as text (in the order tried): empty, bad encoding, a control
    character, oversized, malformed JSON or an unbalanced CSV quote, unparseable, an oversized field."""
    return [
        ("empty_line", F.trim(F.col("value")) == ""),
        ("bad_encoding", ~F.is_valid_utf8("value") | F.col("value").contains(REPLACEMENT_CHAR)),
        # In the line's bytes, or escaped in a JSON string (`\u0000`): no text field carries one.
        (
            "control_character",
            F.col("value").rlike(strict.CONTROL_CHARACTER)
            | reduce(
                lambda a, b: a | b, [F.coalesce(c.rlike(strict.CONTROL_CHARACTER), F.lit(False)) for c in raw.values()]
            ),
        ),
        ("oversized_line", F.length("value") > strict.max_line_chars(source, max_field_chars)),
        *(
            strict.json_shape_reasons(F.col("value"))
            if source.format == "json"
            else [("unbalanced_quote", strict.has_unbalanced_quote(F.col("value")))]
        ),
        ("unparseable", F.col(f"r.{_CORRUPT}").isNotNull() | F.col("r").isNull()),
        # Unknown keys or columns get the limit of known ones, on their names and their values.
        (
            "oversized_field",
            reduce(lambda a, b: a | b, [F.length(c) > max_field_chars for c in raw.values()])
            | strict.any_longer_than(F.col("extra"), max_field_chars),
        ),
    ]


def _field_reasons(
    source: Source, typed: dict[str, Column], raw: dict[str, Column], *, earliest: dt.date, json: Column | None
) -> list[tuple[str, Column]]:
    """What can be wrong with a line's fields (in the order tried): a required one missing, a
    non-finite number, a value not of its type, a time out of range, a date in the future, and
    the source's rules. With `json` (the JSON line as a variant), a string field holding another
    JSON type (object, array, number, boolean) is not of its type: it is never kept as its JSON text."""
    conditions = [(f"missing_{f.name}", _blank(raw[f.name])) for f in source.fields if f.required]
    conditions += [
        (f"non_finite_{f.name}", ~_blank(raw[f.name]) & strict.is_non_finite(raw[f.name], typed[f.name]))
        for f in source.fields
        if f.type in ("double", "float")
    ]
    conditions += [
        (f"bad_type_{f.name}", bad) for f in source.fields if (bad := _not_of_type(f, typed, raw, json)) is not None
    ]
    if source.time_column:
        ts = typed[source.time_column]
        conditions += [
            ("timestamp_before_earliest", ts < F.lit(earliest.isoformat()).cast("timestamp")),
            # Nothing in a file can happen after the day the file landed (2 days of clock slack).
            ("timestamp_in_future", ts >= F.date_add(F.col("date"), 2).cast("timestamp")),
        ]
    # Any other date of a line (a CRM signup date) cannot be after the day its file landed either.
    conditions += [
        (f"future_{f.name}", typed[f.name] >= F.date_add(F.col("date"), 2).cast(f.type))
        for f in source.fields
        if f.type in ("date", "timestamp") and f.name != source.time_column
    ]
    conditions += [(code, rule(typed)) for code, rule in source.rules]
    return conditions


def _not_of_type(f: Field, typed: dict[str, Column], raw: dict[str, Column], json: Column | None) -> Column | None:
    """Whether field `f` holds a value that is not of its type (None: it cannot, a CSV string)."""
    if f.type != "string":
        return ~_blank(raw[f.name]) & typed[f.name].isNull()
    return strict.not_a_json_string(json, f.name) if json is not None else None


def _reason(conditions: list[tuple[str, Column]], *, unterminated: bool, csv: bool) -> Column:
    """A line's reason: its file's missing column, else the first condition that holds; with
    `unterminated` (the lines carry `_unterminated`), a cut-off last line is `truncated_record`.

    The last line of a file with no final newline is cut off when it is not a whole record of its
    format (the final newline itself is optional: RFC 4180 and JSON lines both allow a file to end
    without one, and many exporters write none):
    - JSON: it does not parse. A JSON object cut anywhere has lost at least its closing brace, so a
      last line that parses is whole, and is kept or quarantined for what it says.
    - CSV (`csv`): it has fewer fields than its file's header (`_short`; a cut drops the fields after
      it), it leaves a quote open, or its last field is empty where one is required or not of its
      type (`2026-10-01 10:0`): the last field is the only one a cut can shorten while the line
      keeps all its fields. More fields than the header, or a bad value in another field, is no
      cut. A cut that leaves a whole record (`Shanghai` -> `Shan`) cannot be told from the text.
    """
    # A header without a required column fails every line of its file with that reason.
    reason = F.coalesce(F.col("_missing_column"), _first_reason(conditions))
    if not unterminated:
        return reason
    if csv:
        last = F.col("_last_column")
        cut_off = F.col("_missing_column").isNull() & (
            (reason == "unbalanced_quote")
            | ((reason == "unparseable") & F.col("_short"))
            | (reason == F.concat(F.lit("missing_"), last))
            | (reason == F.concat(F.lit("bad_type_"), last))
        )
    else:
        cut_off = reason == "unparseable"
    return F.when(F.col("_unterminated") & cut_off, F.lit(TRUNCATED)).otherwise(reason)


# How an id is spelled (letters, digits and `_ . : / # -`): shown as written in a quarantined record.
_ID_LIKE = r"^[A-Za-z0-9_.:/#-]*$"


def _masked_record(
    source: Source,
    raw: dict[str, Column],
    hashed: dict[str, Column],
    masked_extra: Column,
    *,
    pii_key: bytes,
    max_field_chars: int,
) -> Column:
    """The line as a quarantine keeps it. Where its fields are known: as JSON, each field masked by
    what it is, as a kept row's would be (PII hashed, free text and unknown fields through the PII
    matcher); ids, timestamps, prices and codes as written, so an operator can see what arrived and
    match a corrected upstream against it; a value that is not of its field's type may be anything,
    and is masked as free text. Where the fields cannot be told apart (a line reason, no header, a
    cut-off line): the line whole, encrypted under the PII key (`privacy.encrypt_text`; read with
    `portrait quarantine --reveal`). Both cut to `strict.RAW_RECORD_FIELDS` x `max_field_chars`."""
    limit = strict.RAW_RECORD_FIELDS * max_field_chars

    def shown(f: Field) -> Column:
        if f.pii:
            return hashed[f.name]
        if f.free_text:
            return privacy.redact_free_text(raw[f.name])
        # An id as written when it is spelled as ids are (a JSON object or a sentence in its place
        # is not); a typed value as written when it is of its type.
        as_written = raw[f.name].rlike(_ID_LIKE) if f.type == "string" else F.col(f"t_{f.name}").isNotNull()
        return F.when(as_written | _blank(raw[f.name]), raw[f.name]).otherwise(privacy.redact_free_text(raw[f.name]))

    masked_record = F.to_json(
        F.struct(*[shown(f).alias(f.output_name) for f in source.fields], masked_extra.alias("extra"))
    )
    fields_known = (
        F.col(f"r.{_CORRUPT}").isNull()
        & F.col("r").isNotNull()
        & ~F.coalesce(F.col("_reason").isin(*strict.LINE_REASONS, "no_header_row", TRUNCATED), F.lit(False))
    )
    # Cut after masking (a cut email would escape the pattern), before encrypting (the whole line
    # sealed within the limit): the reason says what was wrong.
    return F.when(fields_known, F.substring(masked_record, 1, limit)).otherwise(
        privacy.encrypt_text(F.col("value"), pii_key, max_chars=limit)
    )


def _output_fields(source: Source, hashed: dict[str, Column]) -> list[Column]:
    """The typed output column of every field: PII hashed, free text masked, the rest as typed."""
    return [
        (
            hashed[f.name]
            if f.pii
            else privacy.redact_free_text(F.col(f"t_{f.name}"))
            if f.free_text
            else F.col(f"t_{f.name}")
        ).alias(f.output_name)
        for f in source.fields
    ]


def _against_prior(rows: DataFrame, prior: DataFrame, source: Source, lookback_days: int) -> DataFrame:
    """Kept rows whose id was kept on an earlier date within the lookback: a `duplicate` when all
    typed output columns are equal (null-safe), else quarantined as `duplicate_id`.

    The prior rows are gathered per id (their dates and values) and joined to the lines once: the
    lines are read once. A join of the kept lines with the prior rows joined back to the lines
    read them twice, and each read evaluated the whole classification again (its windows and
    their shuffles: 4 more Spark jobs per source on a small day).
    """
    by_name = {f.name: f.output_name for f in source.fields}
    ids = [by_name[c] for c in source.id_columns]
    compared = [f.output_name for f in source.fields]
    values = lambda: F.struct(*[F.col(c) for c in compared])  # noqa: E731 - the typed output columns
    earlier = prior.groupBy(*[F.col(c).alias(f"_p_{c}") for c in ids]).agg(
        F.collect_list(F.struct(F.col("date").alias("date"), values().alias("values"))).alias("_p_seen")
    )  # one row per id
    on = [F.col(c) == F.col(f"_p_{c}") for c in ids]
    flagged = rows.join(earlier, on=reduce(lambda a, b: a & b, on), how="left")
    within = F.filter(
        "_p_seen",
        lambda p: (p["date"] < F.col("date")) & (p["date"] >= F.date_sub(F.col("date"), lookback_days)),
    )
    seen = F.size(F.coalesce(within, F.array())) > 0
    identical = F.exists(F.coalesce(within, F.array()), lambda p: p["values"].eqNullSafe(values()))
    kept = F.col("_status") == KEPT
    return flagged.select(
        *[c for c in rows.columns if c not in ("_status", "_reason")],
        F.when(kept & seen & identical, F.lit(DUPLICATE))
        .when(kept & seen, F.lit(QUARANTINED))
        .otherwise(F.col("_status"))
        .alias("_status"),
        F.when(kept & seen & ~identical, F.lit("duplicate_id")).otherwise(F.col("_reason")).alias("_reason"),
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
    valid = F.col("_valid")
    # Both window functions in one select over a stored partition column: one shuffle. Chained
    # `withColumn`s each computed the partition expression anew, and the second window shuffled again.
    w = Window.partitionBy(valid, *scope).orderBy("date", "source_file", "value")
    ranked = df.withColumn("_valid", F.col("_reason").isNull() & ~header).select(
        "*",
        F.row_number().over(w).alias("_rn"),
        F.first("value")
        .over(w.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
        .alias("_first_value"),
    )
    is_dup = valid & (F.col("_rn") > 1)
    return (
        ranked.withColumn(
            "_reason",
            F.when(is_dup & (F.col("value") != F.col("_first_value")), F.lit("duplicate_id")).otherwise(
                F.col("_reason")
            ),
        )
        .withColumn(
            "_status",
            F.when(header, HEADER)
            .when(F.col("_reason").isNotNull(), QUARANTINED)
            .when(is_dup, DUPLICATE)
            .otherwise(KEPT),
        )
        .drop("_rn", "_first_value", "_valid")
    )
