"""What the live job does with each micro-batch (`foreachBatch`): the I/O at the edges of the pure
builders, every write exactly once.

- `ingest_batch` (the file stream): classify the lines, append the quarantined ones to
  bronze.live_quarantine and the kept events to silver.live_events, both as Delta idempotent
  appends keyed by (query id, batch id) (`txnAppId` / `txnVersion`: a replayed batch commits
  nothing); then recompute the touched rows of gold.portrait_live and MERGE them (same values on a
  replay).
- `decide_batch` (the trigger stream): decide the new fires and append them to gold.live_actions,
  keyed the same way.

A batch runs on the stream's own session (`batch.sparkSession`): the lakehouse is rebound to it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import catalog, publication
from portrait.actions import Policy, sent_rows, with_live_contacts
from portrait.features.portrait import person_profile
from portrait.features.registry import CONSENT_CHANNELS
from portrait.ingest.audit import quarantine_rows
from portrait.io import Lakehouse
from portrait.live import decide, source
from portrait.live.portrait import KEY, live_portrait

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ingest_batch(
    lake: Lakehouse,
    batch: DataFrame,
    batch_id: int,
    query_id: str,
    *,
    start: dt.date,
    pii_key: bytes,
    earliest: dt.date,
    max_field_chars: int,
    lookback_days: int,
) -> dict[str, int]:
    """One micro-batch of new landing lines -> live quarantine, live events, live portrait.

    Returns the rows each commit wrote (`quarantined`, `events`, `portrait_rows`)."""
    lake = replace(lake, spark=batch.sparkSession)
    scan = source.batch_scan(batch, start=start).persist(StorageLevel.MEMORY_AND_DISK)
    rows = None
    try:
        lines, files = source.with_file_endings(scan)
        if not files:  # only files of dates before `start`, or a no-data batch
            return {}
        # The lookback counts from the batch's first landing date, not the job's start: a job running
        # for weeks would otherwise read every live event id since it started at each micro-batch.
        first = min((d for f in files if (d := source.landing_date(f)) is not None), default=start)
        earlier = lake.read(catalog.SILVER_LIVE_EVENTS).where(
            F.col("date") >= F.lit(first - dt.timedelta(days=lookback_days))
        )
        rows = source.classified_lines(
            lines, pii_key=pii_key, earliest=earliest, max_field_chars=max_field_chars, earlier=earlier
        ).persist(StorageLevel.MEMORY_AND_DISK)
        return _write_ingested(lake, rows, files, batch_id, query_id)
    finally:
        if rows is not None:
            rows.unpersist()
        scan.unpersist()


def _write_ingested(lake: Lakehouse, rows: DataFrame, files: list[str], batch_id: int, query_id: str) -> dict[str, int]:
    """The three writes of one ingested micro-batch of `files` (`ingest_batch`)."""
    quarantined = quarantine_rows(rows, "clickstream", f"live-{query_id}-{batch_id}")
    counts = {
        "quarantined": lake.append_once(
            quarantined, catalog.BRONZE_LIVE_QUARANTINE, app_id=f"live-quarantine-{query_id}", version=batch_id
        ).rows_new
    }
    identity_map = (
        lake.read(catalog.SILVER_IDENTITY_MAP).select("id_type", "id_value", "person_id")
        if lake.exists(catalog.SILVER_IDENTITY_MAP)
        else lake.spark.createDataFrame([], source.MAP_SCHEMA)
    )
    events = source.live_events(rows, identity_map, ingested_at=_now())
    counts["events"] = lake.append_once(
        events, catalog.SILVER_LIVE_EVENTS, app_id=f"live-events-{query_id}", version=batch_id
    ).rows_new
    # The persons and dates of the events these files brought, read back from the table (the events
    # committed above; on a replay of the batch, the events its first run committed), each
    # recomputed from every live event of theirs that date: the same rows on a replay.
    dates = sorted({d for f in files if (d := source.landing_date(f)) is not None})
    of_dates = lake.read(catalog.SILVER_LIVE_EVENTS).where(F.col("date").isin(*dates))
    touched = of_dates.where(F.col("source_file").isin(*files)).select(*KEY).distinct()
    portrait = live_portrait(of_dates.join(touched, on=list(KEY), how="left_semi"), updated_at=_now())
    counts["portrait_rows"] = lake.merge(portrait, catalog.GOLD_PORTRAIT_LIVE, on=list(KEY)).rows_new
    log.info("live ingest batch %s of %s: %s", batch_id, query_id, counts)
    return counts


def decide_batch(
    lake: Lakehouse, batch: DataFrame, batch_id: int, query_id: str, *, policy: Policy, holdout_share: float
) -> dict[str, int]:
    """One micro-batch of fired triggers -> gold.live_actions (one decision per new fire, per person
    and landing date). Returns `decisions` (rows the commit wrote); nothing for an empty batch."""
    lake = replace(lake, spark=batch.sparkSession)
    fired = batch.persist(StorageLevel.MEMORY_AND_DISK)  # the state moved once: every use reads this
    try:
        dates = sorted(r["date"] for r in fired.select("date").distinct().collect())
        if not dates:
            return {}
        live = lake.read(catalog.GOLD_LIVE_ACTIONS)
        history = _history(lake, live)
        context = _consent(lake), _propensity(lake)
        decided = [
            decide.decide(
                decide.with_context(
                    decide.new_fires(fired.where(F.col("date") == F.lit(d)), live.where(F.col("date") == F.lit(d))),
                    *context,
                ),
                policy,
                history=history,
                date=d,
                holdout_share=holdout_share,
            )
            for d in dates
        ]
        rows = decide.live_action_rows(
            reduce(DataFrame.unionByName, decided), query_id=query_id, batch_id=batch_id, decided_at=_now()
        )
        commit = lake.append_once(rows, catalog.GOLD_LIVE_ACTIONS, app_id=f"live-actions-{query_id}", version=batch_id)
        log.info("live decide batch %s of %s: %d decisions for %s", batch_id, query_id, commit.rows_new, dates)
        return {"decisions": commit.rows_new}
    finally:
        fired.unpersist()


def _history(lake: Lakehouse, live: DataFrame) -> DataFrame:
    """Every contact so far: the daily ones (gold.actions_sent) and the live ones."""
    if not lake.exists(catalog.GOLD_ACTIONS_SENT):
        return catalog.GOLD_ACTIONS_SENT.conform(sent_rows(live))
    return with_live_contacts(lake.read(catalog.GOLD_ACTIONS_SENT), live)


def _consent(lake: Lakehouse) -> DataFrame:
    """One row per person the CRM knows with `consent_<channel>` (silver.customers, as identity left it)."""
    columns = "person_id string, " + ", ".join(f"consent_{c} boolean" for c in CONSENT_CHANNELS)
    if not lake.exists(catalog.SILVER_CUSTOMERS):
        return lake.spark.createDataFrame([], columns)
    profile = person_profile(lake.read(catalog.SILVER_CUSTOMERS))
    return profile.select("person_id", *[f"consent_{c}" for c in CONSENT_CHANNELS])


def _propensity(lake: Lakehouse) -> DataFrame:
    """One row per scored person with `purchase_propensity` of the latest published day (none before
    the first score: the policy's `probability` then falls back to its own default)."""
    try:
        published = publication.read_published(lake, catalog.GOLD_PROPENSITY_DAILY)
    except publication.NotPublishedError:
        return lake.spark.createDataFrame([], "person_id string, purchase_propensity double")
    return published.select("person_id", "purchase_propensity")
