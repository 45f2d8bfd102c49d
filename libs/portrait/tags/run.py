"""The tags stage: the catalog evaluated on `gold.portrait` of a date, written to `gold.tags`."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import functions as F

from portrait import catalog
from portrait.config import ConfigError
from portrait.io import Lakehouse
from portrait.tags.definitions import CatalogConf, check_expressions
from portrait.tags.evaluate import evaluate

log = logging.getLogger(__name__)

INPUTS = (catalog.GOLD_PORTRAIT,)
OUTPUTS = (catalog.GOLD_TAGS,)


RunConf = CatalogConf  # the tag catalog, the feature registry it is checked against, the conf folder


def run(lake: Lakehouse, conf: CatalogConf, date: dt.date) -> dict:
    """Evaluate the catalog (`tags.file`, relative to the conf folder) on `gold.portrait` of `date`
    and replace that date in `gold.tags`.

    Args:
        conf: the catalog and the feature registry's settings it is checked against (`RunConf.of(cfg)`).

    Returns:
        {"date", "tags": tags in the catalog, "rows": (person, tag) rows written}, the rows from
        the commit's metrics.
    """
    tags = conf.tags_of(lake.spark)
    portrait = lake.read(catalog.GOLD_PORTRAIT)
    try:  # the catalog fits the registry; a table written by an older registry may lack columns
        check_expressions(lake.spark, tags, portrait.schema, source=catalog.GOLD_PORTRAIT.full_name)
    except ConfigError as exc:
        raise ValueError(
            f"{exc}\ngold.portrait does not have the columns of the feature registry: rebuild it "
            f"with `portrait features --date {date}` (and earlier dates) first"
        ) from None
    on_date = F.col("as_of_date") == F.lit(date)
    written = lake.replace_range(evaluate(portrait.where(on_date), tags), catalog.GOLD_TAGS, start=date)
    summary = {"date": date.isoformat(), "tags": len(tags), "rows": written.rows_new}
    log.info("tags as of %s: %s", date, summary)
    return summary
