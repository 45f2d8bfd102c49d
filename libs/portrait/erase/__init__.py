"""Erase: a person removed from every table, and from storage, on request (`erase.run`; see its module).

`identifiers` (the request), `plan` (which rows of which table), `log` (the erasure log row),
`run` (the stage: deletes, vacuums, logs).
"""

from portrait.erase.identifiers import ERASABLE_TYPES, HASHED_TYPES, ErasureError, Identifier, hashed
from portrait.erase.log import LOG_SCHEMA, erasure_log_row
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
from portrait.erase.run import RunConf, run

__all__ = [
    "ERASABLE_TYPES",
    "HASHED_TYPES",
    "IDENTITY_TABLES",
    "LOG_SCHEMA",
    "LOG_TABLE",
    "NO_PERSON_DATA",
    "RELATED_COLUMN",
    "ErasureError",
    "RunConf",
    "Identifier",
    "can_hold_persons",
    "erasure_log_row",
    "hashed",
    "identifiers_of",
    "person_rows",
    "sealed_records",
    "resolve_persons",
    "run",
]
