"""A job Portrait does not have: `test_dispatch` declares it with one `pipeline.Job` and runs it."""

from __future__ import annotations

import datetime as dt

from portrait import catalog
from portrait.io import Lakehouse

INPUTS = (catalog.GOLD_TAGS,)
OUTPUTS: tuple = ()


def run(lake: Lakehouse, conf: object, date: dt.date, *, reach: bool = False) -> dict:
    """What it was given; with `reach`, a read of a table it does not declare."""
    if reach:
        lake.read(catalog.SILVER_ORDERS)
    return {
        "date": date.isoformat(),
        "conf": type(conf).__name__,
        "stage": lake.scope.stage if lake.scope else None,
        "tags_exist": lake.exists(catalog.GOLD_TAGS),
    }
