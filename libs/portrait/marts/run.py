"""The marts stage: the analysts' tables of date D, from the same lake and person ids as the portrait.

Reads D's events and orders, the portrait, tags and segments of D and of the day before, and the
daily activity of the weeks the retention cohorts span; replaces D in `gold.funnel_daily`,
`gold.paths_to_purchase`, `gold.rfm_grid`, `gold.tag_coverage` and `gold.retention_cohorts` (a rerun
replaces the same rows). Every read is bounded by D and the `marts` section, whatever the history.
Runs after `score` (the segments of D).
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.config_models import MartsConfig
from portrait.io import Lakehouse
from portrait.marts import builders

log = logging.getLogger(__name__)

INPUTS = (
    catalog.SILVER_EVENTS,
    catalog.SILVER_ORDERS,
    catalog.GOLD_PORTRAIT,
    catalog.GOLD_TAGS,
    catalog.GOLD_SEGMENTS_DAILY,
    catalog.SILVER_DAILY_ACTIVITY,
)
OUTPUTS = catalog.MARTS


def run(lake: Lakehouse, conf: MartsConfig, date: dt.date) -> dict[str, int]:
    """Build and replace the marts' rows of `date`.

    Args:
        lake: the lakehouse.
        conf: the `marts` section (the paths' length and how many are kept).
        date: the day D.

    Returns:
        rows written per mart (from the commits' metrics).
    """
    day_before = date - dt.timedelta(days=1)

    def on_day(table: catalog.Table, day: dt.date) -> DataFrame:  # a missing table names its job
        assert table.date_column is not None
        return lake.read(table).where(F.col(table.date_column) == F.lit(day))

    events, orders = on_day(catalog.SILVER_EVENTS, date), on_day(catalog.SILVER_ORDERS, date)
    portrait, tags, segments = catalog.GOLD_PORTRAIT, catalog.GOLD_TAGS, catalog.GOLD_SEGMENTS_DAILY
    marts = {
        catalog.GOLD_FUNNEL_DAILY: builders.funnel(events, orders, date),
        catalog.GOLD_PATHS_TO_PURCHASE: builders.paths(events, date, steps=conf.path_steps, top=conf.paths_top),
        catalog.GOLD_RFM_GRID: builders.rfm_grid(on_day(portrait, date), on_day(portrait, day_before), date),
        catalog.GOLD_TAG_COVERAGE: builders.tag_coverage(
            on_day(tags, date), on_day(segments, date), on_day(tags, day_before), on_day(segments, day_before), date
        ),
        catalog.GOLD_RETENTION_COHORTS: builders.retention(
            lake.read(catalog.SILVER_DAILY_ACTIVITY),
            date,
            weeks=conf.cohort_weeks,
            lookback_weeks=conf.cohort_lookback_weeks,
        ),
    }
    written = {
        table.name: lake.replace_range(table.conform(rows), table, start=date).rows_new for table, rows in marts.items()
    }
    log.info("marts %s: %s", date, written)
    return written
