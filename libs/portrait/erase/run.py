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

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from pyspark.sql import Column

from portrait import catalog, publication
from portrait.config import Config
from portrait.erase.identifiers import ErasureError, Identifier, hashed
from portrait.erase.log import erasure_log_row
from portrait.erase.plan import (
    IDENTITY_TABLES,
    LOG_TABLE,
    NO_PERSON_DATA,
    RELATED_COLUMN,
    can_hold_persons,
    identifiers_of,
    person_rows,
    resolve_persons,
    sealed_records,
)
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

INPUTS = (catalog.SILVER_IDENTITY_MAP, catalog.SILVER_IDENTITY_EXCLUDED)
OUTPUTS = (*catalog.ALL,)  # deletes from every table that can hold person data; appends to LOG_TABLE


@dataclass(frozen=True)
class RunConf:
    """What erase takes from the configuration (`RunConf.of(cfg)`): the PII key clear identifiers
    are hashed with, as ingest hashed them."""

    pii_key: bytes = field(repr=False)

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.pii_key())


def run(
    lake: Lakehouse,
    conf: RunConf,
    date: dt.date,
    *,
    identifiers: list[str] | None = None,
    person_ids: list[str] | None = None,
) -> dict:
    """Erase the persons named by `identifiers` (`type=value`, clear) and/or `person_ids` everywhere.

    Returns:
        The erasure id, the number of persons, rows deleted per table, rows of other persons whose
        `related_person_ids` named them (per table) and the tables vacuumed.

    Raises:
        ErasureError: nothing to erase, a malformed or unknown identifier; nothing is deleted.
    """
    given, person_ids = _requested(identifiers, person_ids)
    persons, ids = _persons_to_erase(lake, given, person_ids, key=conf.pii_key)
    plan, related = _deletion_plan(lake, ids, persons, key=conf.pii_key)
    # The identity map goes last: until it is gone, a rerun with the same identifiers finds the person.
    order = [n for n in plan if n not in IDENTITY_TABLES] + [n for n in IDENTITY_TABLES if n in plan]

    erasure_id = uuid.uuid4().hex
    log.info("erasure %s: %d person(s), %d identifier(s)", erasure_id, len(persons), sum(len(v) for v in ids.values()))
    rows_deleted = {n.full_name: (lake.delete_where(n, c) if (c := plan[n]) is not None else 0) for n in order}
    # Other persons' rows may name them too (a merge in silver.identity_history): drop the id, keep the row.
    rows_scrubbed = {n.full_name: lake.remove_from_array(n, RELATED_COLUMN, persons) for n in related if persons}
    for name in order:
        lake.purge_removed_files(name)
    publication.repin(lake)  # the purge ended time travel to the versions the marker named
    requested_by = sorted({x.id_type for x in given} | ({"person_id"} if person_ids else set()))
    lake.append_once(
        erasure_log_row(
            lake.spark,
            erasure_id=erasure_id,
            date=date,
            person_ids=persons,
            requested_by=requested_by,
            rows_deleted=rows_deleted,
            vacuumed=[n.full_name for n in order],
            key=conf.pii_key,
        ),
        LOG_TABLE,
        app_id=f"erase-{erasure_id}",
        version=0,
    )
    log.info(
        "erasure %s: rows deleted %s, rows with the id removed from %s: %s",
        erasure_id,
        rows_deleted,
        RELATED_COLUMN,
        rows_scrubbed,
    )
    return {
        "erasure_id": erasure_id,
        "persons": len(persons),
        "rows_deleted": rows_deleted,
        "rows_scrubbed": rows_scrubbed,
        "tables_vacuumed": [n.full_name for n in order],
    }


def _requested(identifiers: list[str] | None, person_ids: list[str] | None) -> tuple[list[Identifier], list[str]]:
    """The identifiers given, parsed, and the person ids given, sorted and distinct; fails when
    nothing is given or a person id is not one."""
    given = [Identifier.parse(t) for t in identifiers or []]
    person_ids = sorted(set(person_ids or []))
    if not given and not person_ids:
        raise ErasureError("nothing to erase: give --identifier type=value and/or --person-id")
    bad = [p for p in person_ids if not p.startswith("p_")]
    if bad:
        raise ErasureError(f"not a person id (p_...): {', '.join(bad)}")
    return given, person_ids


def _persons_to_erase(
    lake: Lakehouse, given: list[Identifier], person_ids: list[str], *, key: bytes
) -> tuple[list[str], dict[str, list[str]]]:
    """The persons to erase (those given and those the identifiers resolve to, sorted) and all
    their identifiers in the identity map, by type; warns about persons not in the map."""
    identity_map = lake.read(catalog.SILVER_IDENTITY_MAP)
    excluded = lake.read(catalog.SILVER_IDENTITY_EXCLUDED)
    persons = sorted(set(person_ids) | set(resolve_persons(identity_map, excluded, hashed(lake.spark, given, key=key))))
    ids, known = identifiers_of(identity_map, persons)
    if set(persons) - known:  # only person ids given as such can be unknown here
        log.warning(
            "not in silver.identity_map (already erased, or never existed): %s; deleting their rows by person_id only",
            ", ".join(sorted(set(persons) - known)),
        )
    return persons, ids


def _deletion_plan(
    lake: Lakehouse, ids: dict[str, list[str]], persons: list[str], *, key: bytes
) -> tuple[dict[catalog.Table, Column | None], list[catalog.Table]]:
    """Which rows of every existing table hold the persons (None: none can), and the tables whose
    rows may name them as other persons (`RELATED_COLUMN`). Every table is planned before any
    delete, so that a table erase cannot handle stops the run first."""
    plan: dict[catalog.Table, Column | None] = {}
    related: list[catalog.Table] = []  # tables whose rows may name other persons (RELATED_COLUMN)
    for name in catalog.ALL:
        if name in NO_PERSON_DATA or not lake.exists(name):
            continue
        rows = lake.read(name)
        columns = rows.columns
        if not can_hold_persons(columns):
            raise ErasureError(
                f"table {name} has no person_id or identifier column that erase knows: add its columns to "
                "portrait.keys.ID_TYPE_OF, or list it in portrait.erase.NO_PERSON_DATA if it holds no person data"
            )
        sealed = sealed_records(rows, ids, key) if "raw_record" in columns else None
        plan[name] = person_rows(columns, ids, persons, sealed=sealed)
        if RELATED_COLUMN in columns:
            related.append(name)
    return plan, related
