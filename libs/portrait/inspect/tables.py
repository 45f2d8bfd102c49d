"""Tables that may not exist yet: declared later in `portrait.catalog`, or not written yet.

Notebooks, the report and the CLI show a section when its table is there and say
`NOT_AVAILABLE` otherwise; they never fail because a newer table is missing.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from portrait import catalog
from portrait.catalog import Table
from portrait.io import Lakehouse

NOT_AVAILABLE = "not available yet"

# The contact history and the measured uplift: written once score and evaluate have run; until
# then every section reading them says NOT_AVAILABLE.
ACTIONS_SENT = catalog.GOLD_ACTIONS_SENT
ACTION_OUTCOMES = catalog.GOLD_ACTION_OUTCOMES


def optional_table(full_name: str) -> Table | None:
    """The catalog's handle for `layer.name`, or None when the catalog does not declare it (yet)."""
    try:
        return catalog.by_name(full_name)
    except KeyError:
        return None


def read_optional(lake: Lakehouse, table: Table | str | None) -> DataFrame | None:
    """The table's DataFrame, or None when it is not declared or not written yet."""
    handle = optional_table(table) if isinstance(table, str) else table
    if handle is None or not lake.exists(handle):
        return None
    return lake.read(handle)


def reason_columns(columns: list[str]) -> list[str]:
    """The columns that explain a row (`reason`, `reasons`, `purchase_reasons`, ...), in table order."""
    return [c for c in columns if "reason" in c.lower()]
