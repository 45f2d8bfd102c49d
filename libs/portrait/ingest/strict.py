"""Strict reading of raw values: a value is typed only when it says exactly one thing.

Spark's casts complete and guess: `CAST('2026' AS TIMESTAMP)` is 2026-01-01 00:00, `'10.005'` is the
decimal 10.01, `'NaN'` and `'1e400'` are doubles (NaN, Infinity), `'٣'` (an Arabic-Indic digit) is
3.00 and `'1d'` is 1.0; `from_json` takes the first JSON value of a line and ignores what follows.
Here each type has the syntax it accepts (checked by an anchored regex, linear in the value's
length) before `try_cast`, which still refuses impossible values (2026-02-30, an int overflow).
A value outside the syntax is null, so the line is quarantined as `bad_type_<field>`. In JSON,
`from_json` gives a string field any value as its JSON text (`{"id":1}`, `1.1` for `1.10`, `100.0`
for `1e2`): a value that is not a JSON string there is `bad_type_<field>` too (`not_a_json_string`).

Every function is a native Column expression; none is a UDF and none backtracks across a value.
"""

from __future__ import annotations

import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from portrait.ingest.sources import Source

_INTEGER = r"^[+-]?[0-9]+$"
_DOUBLE = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
# A date and a time to the minute at least; the zone is Z, an offset or UTC (none: session zone).
_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?| ?UTC)?$"
)
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_BOOLEAN = r"^(?i)(true|false)$"
_NON_FINITE = r"^(?i)[+-]?(nan|inf|infinity)$"
_SYNTAX = {
    "int": _INTEGER,
    "bigint": _INTEGER,
    "long": _INTEGER,
    "smallint": _INTEGER,
    "double": _DOUBLE,
    "float": _DOUBLE,
    "timestamp": _TIMESTAMP,
    "date": _DATE,
    "boolean": _BOOLEAN,
}

# C0 control characters other than tab, line feed and carriage return (NUL included): no text
# field carries them, and a file with many is not text (UTF-16, a binary file).
CONTROL_CHARACTER = "[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]"
# Reasons about the whole line, where the line's fields are not known (its raw record is the
# masked line, not the masked fields).
LINE_REASONS = (
    "empty_line",
    "bad_encoding",
    "control_character",
    "oversized_line",
    "unparseable",
    "trailing_content",
    "not_a_json_object",
    "unbalanced_quote",
)
# A quarantined raw record is cut at this many times `ingest.max_field_chars`.
RAW_RECORD_FIELDS = 4
# Room for this many unknown fields at the field limit, on top of the known ones, in one line.
EXTRA_FIELDS_PER_LINE = 16


def syntax(type_: str) -> str:
    """The anchored regex a raw value of Spark SQL type `type_` must match before it is cast."""
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", type_)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        whole = f"[0-9]{{1,{max(precision - scale, 1)}}}"
        if scale == 0:
            return f"^[+-]?{whole}$"
        # More decimals than the scale would be rounded: refused, never rounded.
        return f"^[+-]?({whole}([.][0-9]{{0,{scale}}})?|[.][0-9]{{1,{scale}}})$"
    if type_ not in _SYNTAX:
        raise ValueError(f"no strict syntax for type {type_!r}; add it to portrait.ingest.strict")
    return _SYNTAX[type_]


def cast(value: Column, type_: str) -> Column:
    """`value` (trimmed text) as `type_` when it has the type's syntax and is a possible value, else null."""
    return F.when(value.rlike(syntax(type_)), value.try_cast(type_))


def is_non_finite(raw: Column, typed: Column) -> Column:
    """A number spelled NaN or Infinity, or one too large for a double (1e400 reads as Infinity)."""
    return F.trim(raw).rlike(_NON_FINITE) | F.isnan(typed) | (F.abs(typed) == F.lit(float("inf")))


def any_longer_than(extra: Column, limit: int) -> Column:
    """True when a key or a value of the map `extra` is longer than `limit` characters (null map: false)."""
    too_long = F.exists(F.map_values(extra), lambda v: F.length(v) > limit) | F.exists(
        F.map_keys(extra), lambda k: F.length(k) > limit
    )
    return F.coalesce(too_long, F.lit(False))


def max_line_chars(source: Source, max_field_chars: int) -> int:
    """The longest line a source may have: every known field and `EXTRA_FIELDS_PER_LINE` unknown
    ones at the field limit (a line past it could only be quarantined later, at a higher cost)."""
    return max_field_chars * (len(source.fields) + EXTRA_FIELDS_PER_LINE)


def json_shape_reasons(value: Column) -> list[tuple[str, Column]]:
    """(reason, condition) for a JSON line that is not exactly one object.

    `try_parse_json` refuses invalid JSON (NaN tokens, raw control characters, a repeated key) but,
    like `from_json`, reads only the first value. Wrapped as `[line]` the JSON parser must see a `]`
    or a `,` after the value, and as `{"k":line}` a `}` or a `,`: a line is one value exactly when
    both wrappers parse and the array holds one element (trailing `]` fails the object wrapper,
    trailing `}` the array one, a trailing `,value` gives two elements). Each check is one
    streaming parse, linear in the line's length.
    """
    as_array = F.concat(F.lit("["), value, F.lit("]"))
    as_member = F.concat(F.lit('{"k":'), value, F.lit("}"))
    one_value = (F.json_array_length(as_array) == 1) & F.json_object_keys(as_member).isNotNull()
    return [
        ("unparseable", F.try_parse_json(value).isNull()),
        ("trailing_content", ~F.coalesce(one_value, F.lit(False))),
        ("not_a_json_object", ~F.ltrim(value).startswith("{")),
    ]


def has_unbalanced_quote(value: Column) -> Column:
    """A CSV line with an odd number of `"`: a quoted field left open (a record cut by a newline
    inside quotes, or a stray quote). The CSV parser would read it to the end of the line and keep
    a field the line never closed; every well-formed line has an even count (`""` escapes a quote)."""
    return ((F.length(value) - F.length(F.replace(value, F.lit('"'), F.lit("")))) % 2) == 1


def csv_field_count(value: Column, delimiter: str) -> Column:
    """The number of fields of a CSV line whose quotes are balanced: its delimiters outside quoted
    text, plus one. Quotes pair up in order (an escaped `""` is an empty pair), so removing each
    `"[^"]*"` leaves the text outside quotes; the regex does not backtrack."""
    outside = F.regexp_replace(value, '"[^"]*"', "")
    delimiters = (F.length(outside) - F.length(F.replace(outside, F.lit(delimiter), F.lit("")))) / len(delimiter)
    return delimiters.cast("int") + 1


def not_a_json_string(parsed: Column, key: str) -> Column:
    """True when the JSON object `parsed` (a variant, `try_parse_json`) has `key` with a value that is
    neither a string nor null: an object, an array, a number or a boolean. False when the key is
    absent or the line is not a JSON object (those have their own reasons)."""
    if "'" in key:  # a Source definition error: the path below quotes the key
        raise ValueError(f"JSON field name {key!r} has a quote")
    path = f"$['{key}']"
    kind = F.schema_of_variant(F.try_variant_get(parsed, path, "variant"))
    return F.coalesce(~kind.isin("STRING", "VOID"), F.lit(False))
