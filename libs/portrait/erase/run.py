"""Erase: a person removed from every table, and from storage, on request.

`run` resolves the identifiers given (clear phone, email, WeChat id, account id or cookie id,
normalised and hashed exactly as ingest does) or person ids through `silver.identity_map`,
collects every identifier of those persons, then deletes their rows from every existing table
of `catalog.ALL`: bronze by identifier columns, `bronze.quarantine` by the identifiers found
in its raw records, silver and gold by `person_id` (and identifier columns where a table has
them). Each table's delete is one Delta commit. Every table that can hold person data is then
vacuumed with retention 0, and one row with no PII is appended to `gold.erasure_log`.

Why VACUUM with retention 0 (and not the 7-day default):
    erasure is a legal obligation (PIPL art. 47, GDPR art. 17). A Delta delete only writes a
    new version; the person's rows stay readable by time travel in the old Parquet files (and,
    on change-data-feed tables, in `_change_data`) until those files are vacuumed. Time travel
    to before the erasure must not be possible, so the files go now. Consequences: time travel
    to any earlier version of the vacuumed tables ends, readers holding an older snapshot at
    that moment fail, and a write in flight from another job can lose files it has written but
    not yet committed. Run erase when no other Portrait job is running (e.g. as a step of the
    daily schedule); change-feed consumers must have read up to the erasure before it runs.

Why the log holds HMAC(pii_key, person_id) and not the person_id:
    the person_id is pseudonymous but not secret: it is `p_` + an unkeyed SHA-256 of the
    person's anchor identifier, so anyone who knows an account id can compute it, and
    downstream systems hold person_ids next to what they know of the person. A log of plain
    person_ids would therefore say who was erased. The keyed hash cannot be computed or
    reversed without the PII key; whoever holds the key (and could hash phones anyway) can
    still answer "was this person erased, and when?", which an audit needs.

Idempotent: the identity-map rows go last, so a run that crashed part-way is finished by the
same command; every person-data table is vacuumed on every run for the same reason. An
erasure by `person_id` of a person already erased deletes nothing and is still logged; an
identifier that is not in the identity map is an error and nothing is deleted.
"""
from __future__ import annotations

from functools import reduce

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait import privacy
from portrait.config import Config
from portrait.io import Lakehouse
from portrait import catalog

log = logging.getLogger(__name__)

LOG_TABLE = catalog.GOLD_ERASURE_LOG
IDENTITY_TABLES = (catalog.SILVER_IDENTITY_MAP, catalog.SILVER_IDENTITY_EXCLUDED)
# An array of other persons' ids in a row about someone else (identity history: who merged or split).
RELATED_COLUMN = "related_person_ids"
HASHED_TYPES = ("phone", "email", "wechat_id")
ERASABLE_TYPES = (*HASHED_TYPES, "account", "cookie")
# The identifier type held by a column, in whichever table has that column.
IDENTIFIER_COLUMNS = {
    "anonymous_id": "cookie",
    "user_id": "account",
    "account_id": "account",
    "phone_hash": "phone",
    "email_hash": "email",
    "wechat_id_hash": "wechat_id",
    "author_id": "social_author",
}
# Tables that hold no row about a person (counts, and this job's own log).
NO_PERSON_DATA = frozenset({catalog.BRONZE_INGEST_AUDIT, catalog.BRONZE_INGEST_FILES, catalog.GOLD_SEGMENT_MOVEMENT, LOG_TABLE})
# Characters that may continue an id: a clear id matches a raw record only as a whole token.
_ID_CHARS = "A-Za-z0-9_-"
LOG_SCHEMA = (
    "erasure_id string, requested_at timestamp, date date, person_hashes array<string>, "
    "requested_by array<string>, rows_deleted map<string,bigint>, tables_vacuumed array<string>"
)


class ErasureError(ValueError):
    """An erasure request that cannot be carried out; nothing has been deleted."""


@dataclass(frozen=True)
class Identifier:
    """An identifier as given by the operator, in clear (`id_type` in ERASABLE_TYPES)."""

    id_type: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Identifier":
        """`type=value`, e.g. `phone=13812345678`."""
        id_type, sep, value = text.partition("=")
        id_type = id_type.strip()
        if not sep or not value.strip():
            raise ErasureError(f"identifier must be type=value, got {cls(id_type, value).shown()!r}")
        if id_type not in ERASABLE_TYPES:
            raise ErasureError(f"unknown identifier type {id_type!r}; known: {', '.join(ERASABLE_TYPES)}")
        return cls(id_type, value)

    def shown(self) -> str:
        """For messages and logs: PII masked but for its last 4 characters; ids in clear."""
        if self.id_type in ("account", "cookie"):
            return f"{self.id_type}={self.value}"
        return f"{self.id_type}={'*' * max(len(self.value) - 4, 0)}{self.value[-4:]}"


def hashed(spark: SparkSession, identifiers: list[Identifier], *, key: bytes) -> list[tuple[Identifier, str]]:
    """Each identifier with its `id_value` in `silver.identity_map` (PII normalised and hashed as ingest does).

    Raises:
        ErasureError: for a phone, email or WeChat id that normalises to nothing.
    """
    if not identifiers:
        return []
    given = spark.createDataFrame(
        [(i, x.id_type, x.value) for i, x in enumerate(identifiers)], "i int, id_type string, clear string"
    )
    value = F.col("clear")
    for kind in HASHED_TYPES:
        value = F.when(F.col("id_type") == kind, privacy.pseudonymise(F.col("clear"), kind, key)).otherwise(value)
    rows = {r["i"]: r["id_value"] for r in given.select("i", value.alias("id_value")).collect()}
    empty = [identifiers[i].shown() for i, v in sorted(rows.items()) if v is None]
    if empty:
        raise ErasureError(f"not a valid identifier after normalisation: {', '.join(empty)}")
    return [(x, rows[i]) for i, x in enumerate(identifiers)]


def _pair_is(pairs: list[tuple[str, str]]) -> Column:
    by_type: dict[str, list[str]] = {}
    for id_type, id_value in pairs:
        by_type.setdefault(id_type, []).append(id_value)
    return reduce(Column.__or__, [
        (F.col("id_type") == t) & F.col("id_value").isin(sorted(set(v))) for t, v in sorted(by_type.items())
    ])


def resolve_persons(identity_map: DataFrame, excluded: DataFrame, wanted: list[tuple[Identifier, str]]) -> list[str]:
    """The person ids of the identifiers (collected: a handful of rows).

    Raises:
        ErasureError: naming every identifier that resolves to no person, before anything is deleted.
    """
    if not wanted:
        return []
    pairs = [(x.id_type, v) for x, v in wanted]
    found = {(r["id_type"], r["id_value"]): r["person_id"]
             for r in identity_map.where(_pair_is(pairs)).select("id_type", "id_value", "person_id").collect()}
    missing = [(x, v) for x, v in wanted if (x.id_type, v) not in found]
    if missing:
        shared = {(r["id_type"], r["id_value"])
                  for r in excluded.where(_pair_is([(x.id_type, v) for x, v in missing])).collect()}
        shared_why = ("excluded from linking as shared or a placeholder, so it names no single person: "
                      "erase by another identifier or --person-id")
        why = [
            f"{x.shown()} ({shared_why if (x.id_type, v) in shared else 'not in silver.identity_map'})"
            for x, v in missing
        ]
        raise ErasureError(
            "cannot erase, no person found for: " + "; ".join(why)
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


def person_rows(columns: list[str], ids: dict[str, list[str]], person_ids: list[str]) -> Column | None:
    """The condition that a row of a table with `columns` is about one of the persons; None if none can be.

    Args:
        columns: the table's columns.
        ids: the persons' identifier values by id type (`identifiers_of`).
        person_ids: the persons.
    """
    parts: list[Column] = []
    if "person_id" in columns and person_ids:
        parts.append(F.col("person_id").isin(person_ids))
    for column, id_type in IDENTIFIER_COLUMNS.items():
        if column in columns and ids.get(id_type):
            parts.append(F.col(column).isin(ids[id_type]))
    if {"id_type", "id_value"} <= set(columns) and ids:
        parts.append(_pair_is([(t, v) for t, values in ids.items() for v in values]))
    values = sorted({v for vs in ids.values() for v in vs})
    if "raw_record" in columns and values:
        # Raw records hold the hashed PII and the clear ids; an id must match as a whole token
        # (A1 must not match A10).
        any_value = "|".join(_escape_java_regex(v) for v in values)
        parts.append(F.col("raw_record").rlike(f"(?<![{_ID_CHARS}])(?:{any_value})(?![{_ID_CHARS}])"))
    return reduce(Column.__or__, parts) if parts else None


def _can_hold_persons(columns: list[str]) -> bool:
    return bool({"person_id", "raw_record", "id_value", *IDENTIFIER_COLUMNS} & set(columns))


def erasure_log_row(spark: SparkSession, *, erasure_id: str, date: dt.date, person_ids: list[str],
                    requested_by: list[str], rows_deleted: dict[str, int], vacuumed: list[str],
                    key: bytes) -> DataFrame:
    """The log row: person ids replaced by their keyed hash before anything is written."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    row = spark.createDataFrame(
        [(erasure_id, now, date, person_ids, requested_by, rows_deleted, vacuumed)],
        LOG_SCHEMA.replace("person_hashes", "person_ids"),
    )
    return row.select(
        "erasure_id", "requested_at", "date",
        F.transform("person_ids", lambda p: privacy.hmac_sha256(p, key)).alias("person_hashes"),
        "requested_by", "rows_deleted", "tables_vacuumed",
    )


def run(spark: SparkSession, cfg: Config, date: dt.date, *, identifiers: list[str] | None = None,
        person_ids: list[str] | None = None) -> dict:
    """Erase the persons named by `identifiers` (`type=value`, clear) and/or `person_ids` everywhere.

    Returns:
        The erasure id, the number of persons, rows deleted per table, rows of other persons whose
        `related_person_ids` named them (per table) and the tables vacuumed.

    Raises:
        ErasureError: nothing to erase, a malformed or unknown identifier; nothing is deleted.
    """
    given = [Identifier.parse(t) for t in identifiers or []]
    person_ids = sorted(set(person_ids or []))
    if not given and not person_ids:
        raise ErasureError("nothing to erase: give --identifier type=value and/or --person-id")
    bad = [p for p in person_ids if not p.startswith("p_")]
    if bad:
        raise ErasureError(f"not a person id (p_...): {', '.join(bad)}")
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    key = cfg.pii_key()
    identity_map = lake.read(catalog.SILVER_IDENTITY_MAP)
    excluded = lake.read(catalog.SILVER_IDENTITY_EXCLUDED)

    persons = sorted(set(person_ids) | set(resolve_persons(identity_map, excluded, hashed(spark, given, key=key))))
    ids, known = identifiers_of(identity_map, persons)
    if set(persons) - known:  # only person ids given as such can be unknown here
        log.warning("not in silver.identity_map (already erased, or never existed): %s; "
                    "deleting their rows by person_id only", ", ".join(sorted(set(persons) - known)))

    # Plan every table before deleting from any, so that a table we cannot handle stops the run first.
    plan: dict[catalog.Table, Column | None] = {}
    related: list[catalog.Table] = []  # tables whose rows may name other persons (RELATED_COLUMN)
    for name in catalog.ALL:
        if name in NO_PERSON_DATA or not lake.exists(name):
            continue
        columns = lake.read(name).columns
        if not _can_hold_persons(columns):
            raise ErasureError(
                f"table {name} has no person_id or identifier column that erase knows: add its columns to "
                "portrait.erase.IDENTIFIER_COLUMNS, or list it in NO_PERSON_DATA if it holds no person data"
            )
        plan[name] = person_rows(columns, ids, persons)
        if RELATED_COLUMN in columns:
            related.append(name)
    # The identity map goes last: until it is gone, a rerun with the same identifiers finds the person.
    order = [n for n in plan if n not in IDENTITY_TABLES] + [n for n in IDENTITY_TABLES if n in plan]

    erasure_id = uuid.uuid4().hex
    log.info("erasure %s: %d person(s), %d identifier(s)", erasure_id, len(persons),
             sum(len(v) for v in ids.values()))
    rows_deleted = {n.full_name: (lake.delete_where(n, plan[n]) if plan[n] is not None else 0) for n in order}
    # Other persons' rows may name them too (a merge in silver.identity_history): drop the id, keep the row.
    rows_scrubbed = {n.full_name: lake.remove_from_array(n, RELATED_COLUMN, persons) for n in related if persons}
    for name in order:
        lake.purge_removed_files(name)
    requested_by = sorted({x.id_type for x in given} | ({"person_id"} if person_ids else set()))
    lake.append_once(
        erasure_log_row(spark, erasure_id=erasure_id, date=date, person_ids=persons, requested_by=requested_by,
                        rows_deleted=rows_deleted, vacuumed=[n.full_name for n in order], key=key),
        LOG_TABLE, app_id=f"erase-{erasure_id}", version=0,
    )
    log.info("erasure %s: rows deleted %s, rows with the id removed from %s: %s", erasure_id, rows_deleted,
             RELATED_COLUMN, rows_scrubbed)
    return {"erasure_id": erasure_id, "persons": len(persons), "rows_deleted": rows_deleted,
            "rows_scrubbed": rows_scrubbed, "tables_vacuumed": [n.full_name for n in order]}
