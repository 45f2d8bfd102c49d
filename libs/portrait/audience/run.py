"""The audience stage: a named audience of one date written to `gold.audiences`.

    portrait audience --conf conf/local.yaml --date 2026-11-01 --name tier1_sneakers \\
        --where "city_tier = 1 and sneaker_lover and frequent_buyer"
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import functions as F

from portrait import catalog
from portrait.audience.build import audience_rows, build, check_name
from portrait.io import Lakehouse
from portrait.tags.definitions import CatalogConf

log = logging.getLogger(__name__)

TABLE = catalog.GOLD_AUDIENCES
INPUTS = (catalog.GOLD_PORTRAIT, catalog.GOLD_TAGS)
OUTPUTS = (TABLE,)


RunConf = CatalogConf  # the tag catalog the `--where` expression names tags of (as the tags stage reads it)


def run(lake: Lakehouse, conf: CatalogConf, date: dt.date, *, name: str, where: str) -> dict:
    """Build the audience `name` of `date` from `gold.portrait` and `gold.tags` and write it.

    Rerunning a name on a date replaces that audience (other names and dates are untouched).
    The tag names come from the catalog (`conf`: `tags.file` relative to the conf folder, checked
    against the feature registry).

    Returns:
        {"name", "date", "persons"}: the audience's size, from the commit's metrics.
    """
    check_name(name)
    if not where or not where.strip():
        raise ValueError("audience needs a non-empty --where expression")
    tag_names = [t.name for t in conf.tags_of(lake.spark)]
    on_date = F.col("as_of_date") == F.lit(date)
    portrait_d = lake.read(catalog.GOLD_PORTRAIT).where(on_date)
    tags_d = lake.read(catalog.GOLD_TAGS).where(on_date)
    if tags_d.isEmpty():
        raise ValueError(f"{catalog.GOLD_TAGS} has no rows for {date}: run `portrait tags --date {date}` first")
    members = build(portrait_d, tags_d, where, tag_names=tag_names)
    written = lake.replace_range(
        audience_rows(members, name=name, date=date, where=where), TABLE, start=date, where=F.col("name") == F.lit(name)
    )
    log.info("audience %s on %s (%s): %d persons", name, date, where, written.rows_new)
    return {"name": name, "date": date.isoformat(), "persons": written.rows_new}
