"""What an erasure deletes: the persons named, their identifiers, and the condition selecting their rows.

The persons and identifiers of one erasure are a handful of rows: they are collected on the driver
and written into the delete conditions.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import catalog, privacy
from portrait.erase.identifiers import ErasureError, Identifier
from portrait.keys import ID_TYPE_OF

LOG_TABLE = catalog.GOLD_ERASURE_LOG
IDENTITY_TABLES = (catalog.SILVER_IDENTITY_MAP, catalog.SILVER_IDENTITY_EXCLUDED)
# An array of other persons' ids in a row about someone else (identity history: who merged or split).
RELATED_COLUMN = "related_person_ids"
# Tables that hold no row about a person (counts, and this job's own log).
NO_PERSON_DATA = frozenset(
    {
        catalog.BRONZE_INGEST_AUDIT,
        catalog.BRONZE_INGEST_FILES,
        catalog.GOLD_SEGMENT_MOVEMENT,
        LOG_TABLE,
        catalog.GOLD_PUBLISHED_DATES,
        catalog.BRONZE_PII_KEY_FINGERPRINT,
        catalog.SILVER_IDENTITY_RUNS,
        *catalog.MARTS,  # counts and sums per day and dimension, no person id (an erasure leaves them)
    }
)
# Characters that may continue an id: a clear id matches a raw record only as a whole token.
_ID_CHARS = "A-Za-z0-9_-"


def _pair_is(pairs: list[tuple[str, str]], *, type_col: str = "id_type", value_col: str = "id_value") -> Column:
    by_type: dict[str, list[str]] = {}
    for id_type, id_value in pairs:
        by_type.setdefault(id_type, []).append(id_value)
    return reduce(
        Column.__or__,
        [(F.col(type_col) == t) & F.col(value_col).isin(sorted(set(v))) for t, v in sorted(by_type.items())],
    )


def resolve_persons(identity_map: DataFrame, excluded: DataFrame, wanted: list[tuple[Identifier, str]]) -> list[str]:
    """The person ids of the identifiers (collected: a handful of rows).

    Raises:
        ErasureError: naming every identifier that resolves to no person, before anything is deleted.
    """
    if not wanted:
        return []
    pairs = [(x.id_type, v) for x, v in wanted]
    found = {
        (r["id_type"], r["id_value"]): r["person_id"]
        for r in identity_map.where(_pair_is(pairs)).select("id_type", "id_value", "person_id").collect()
    }
    missing = [(x, v) for x, v in wanted if (x.id_type, v) not in found]
    if missing:
        shared = {
            (r["id_type"], r["id_value"])
            for r in excluded.where(_pair_is([(x.id_type, v) for x, v in missing])).collect()
        }
        shared_why = (
            "excluded from linking as shared or a placeholder, so it names no single person: "
            "erase by another identifier or --person-id"
        )
        why = [
            f"{x.shown()} ({shared_why if (x.id_type, v) in shared else 'not in silver.identity_map'})"
            for x, v in missing
        ]
        raise ErasureError(
            "cannot erase, no person found for: "
            + "; ".join(why)
            + ". Nothing was deleted. If a previous erase of this person stopped after removing its "
            "identity-map rows, rerun it with --person-id."
        )
    return sorted(set(found.values()))


def identifiers_of(identity_map: DataFrame, person_ids: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    """Every identifier value of the persons by id type, and which persons the map knows.

    Collected on the driver: one person's identifiers are a handful of rows.
    """
    ids: dict[str, set[str]] = {}
    known: set[str] = set()
    rows = identity_map.where(F.col("person_id").isin(person_ids)).select("person_id", "id_type", "id_value")
    for r in rows.collect():
        ids.setdefault(r["id_type"], set()).add(r["id_value"])
        known.add(r["person_id"])
    return {t: sorted(v) for t, v in sorted(ids.items())}, known


def _escape_java_regex(value: str) -> str:
    # Java regex takes a backslash before any ASCII punctuation as that character, literally.
    return "".join("\\" + c if (c.isascii() and not c.isalnum()) else c for c in value)


def person_rows(
    columns: list[str], ids: dict[str, list[str]], person_ids: list[str], *, sealed: list[str] | None = None
) -> Column | None:
    """The condition that a row of a table with `columns` is about one of the persons; None if none can be.

    Args:
        columns: the table's columns.
        ids: the persons' identifier values by id type (`identifiers_of`).
        person_ids: the persons.
        sealed: the encrypted raw records that hold them (`sealed_records`), named as they are stored.
    """
    parts: list[Column] = []
    if "person_id" in columns and person_ids:
        parts.append(F.col("person_id").isin(person_ids))
    for column, id_type in ID_TYPE_OF.items():
        if column in columns and ids.get(id_type):
            parts.append(F.col(column).isin(ids[id_type]))
    if {"id_type", "id_value"} <= set(columns) and ids:
        parts.append(_pair_is([(t, v) for t, values in ids.items() for v in values]))
    pairs = [(t, v) for t, values in ids.items() for v in values]
    for end in ("a", "b"):  # identity links: either end of a link may be one of theirs
        if {f"type_{end}", f"value_{end}"} <= set(columns) and pairs:
            parts.append(_pair_is(pairs, type_col=f"type_{end}", value_col=f"value_{end}"))
    if "raw_record" in columns and any(ids.values()):
        # Raw records hold the hashed PII and the clear ids; an id must match as a whole token
        # (A1 must not match A10).
        parts.append(_has_token(F.col("raw_record"), ids))
    if "raw_record" in columns and sealed:
        parts.append(F.col("raw_record").isin(sealed))
    return reduce(Column.__or__, parts) if parts else None


def _has_token(record: Column, ids: dict[str, list[str]]) -> Column:
    values = sorted({v for vs in ids.values() for v in vs})
    any_value = "|".join(_escape_java_regex(v) for v in values)
    return record.rlike(f"(?<![{_ID_CHARS}])(?:{any_value})(?![{_ID_CHARS}])")


def sealed_records(rows: DataFrame, ids: dict[str, list[str]], key: bytes) -> list[str]:
    """The encrypted raw records of `rows` (`privacy.encrypt_text`: lines whose fields could not be
    told apart) that hold one of the persons' identifiers: each opened with the PII key, searched for
    their clear ids as whole tokens and for a token that hashes to their phone, email or WeChat id.

    Searched in a query of its own and collected (a person's records are a handful), so that the
    delete condition names the records as stored: a condition that opened them would carry key
    material into the Delta log's record of the DELETE.
    """
    if not any(ids.values()):
        return []
    opened = privacy.decrypt_text(F.col("raw_record"), key)
    holds = [_has_token(opened, ids)] + [
        F.arrays_overlap(privacy.hashed_tokens(opened, kind, key), F.array(*[F.lit(v) for v in ids[kind]]))
        for kind in sorted(set(privacy.NORMALISERS) & set(ids))
    ]
    found = rows.where(F.col("raw_record").startswith(privacy.ENCRYPTED) & reduce(Column.__or__, holds))
    return sorted({r["raw_record"] for r in found.select("raw_record").distinct().collect()})


def can_hold_persons(columns: list[str]) -> bool:
    return bool({"person_id", "raw_record", "id_value", "value_a", *ID_TYPE_OF} & set(columns))
