"""The tags stage: the catalog evaluated on `gold.portrait` of a date, written to `gold.tags`."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import functions as F

from portrait import catalog
from portrait.config import ConfigError, FeaturesConfig, TagsConfig
from portrait.io import Lakehouse
from portrait.tags.definitions import check_expressions, configured_tags
from portrait.tags.evaluate import evaluate

log = logging.getLogger(__name__)

INPUTS = (catalog.GOLD_PORTRAIT,)
OUTPUTS = (catalog.GOLD_TAGS,)


def run(lake: Lakehouse, conf: TagsConfig, date: dt.date, *, features_conf: FeaturesConfig, conf_dir: Path) -> dict:
    """Evaluate the catalog (`conf.file`, relative to `conf_dir`) on `gold.portrait` of `date` and
    replace that date in `gold.tags`.

    Args:
        features_conf: the feature registry's settings the catalog is checked against.

    Returns:
        {"date", "tags": tags in the catalog, "rows": (person, tag) rows written}, the rows from
        the commit's metrics.
    """
    tags = configured_tags(lake.spark, conf, features_conf=features_conf, conf_dir=conf_dir)
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
