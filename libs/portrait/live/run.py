"""`portrait live`: the clickstream as it lands -> a live portrait and triggered actions, exactly once.

Two Structured Streaming queries on one session (docs/live.md says why two):

1. **ingest** (file source on `<landing>/clickstream/date=*/`, `live.max_files_per_trigger` files per
   micro-batch): each micro-batch's lines through the batch ingest's builders, then
   bronze.live_quarantine, silver.live_events and gold.portrait_live (`batches.ingest_batch`).
2. **decide** (Delta source on silver.live_events): the triggers of conf/actions.yaml as stateful
   operators with a watermark (`triggers`), each fired row through the daily arbitration, into
   gold.live_actions (`batches.decide_batch`).

Long-running (the default) both run side by side, a micro-batch every `live.trigger_seconds`;
`available_now` runs ingest to the end of what has landed, then decide to the end of what ingest
wrote, and returns (a scheduler starting it every few minutes). Progress and state live in
checkpoints under `live.checkpoint_dir` (default `<lakehouse>/_checkpoints/live/{ingest,decide}`); a
killed job restarted on them replays at most its last micro-batch, whose writes are Delta
idempotent appends keyed by (query id, batch id) or recomputed MERGEs: nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from portrait import catalog
from portrait.actions import Action, Policy, load_policy
from portrait.config_models import Config, LiveConfig
from portrait.io import Lakehouse
from portrait.live import batches, source, triggers

log = logging.getLogger(__name__)

INPUTS = (
    catalog.SILVER_IDENTITY_MAP,  # person ids
    catalog.SILVER_CUSTOMERS,  # consent
    catalog.GOLD_ACTIONS_SENT,  # daily contacts: the caps
    catalog.GOLD_PUBLISHED_DATES,  # the latest published day ...
    catalog.GOLD_PROPENSITY_DAILY,  # ... and its purchase propensity
)
OUTPUTS = catalog.LIVE_TABLES
QUERY_START_TIMEOUT_S = 600  # a batch waits this long for its query's id (set right after start)


@dataclass(frozen=True)
class RunConf:
    """What the live job takes from the configuration (`RunConf.of(cfg)`)."""

    live: LiveConfig  # the `live` section
    landing: str  # the landing zone's root (`paths.landing`)
    lakehouse: str  # the lakehouse root (`paths.lakehouse`): default checkpoints under it
    earliest: dt.date  # `ingest.earliest_valid_date`
    max_field_chars: int  # `ingest.max_field_chars`
    policy: Policy  # conf/actions.yaml (its triggered actions are the live ones)
    holdout_share: float  # `score.holdout_fraction`: the default share of each experiment held out
    pii_key: bytes = field(repr=False)

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(
            cfg.live,
            cfg.paths.landing,
            cfg.paths.lakehouse,
            dt.date.fromisoformat(cfg.ingest.earliest_valid_date),
            cfg.ingest.max_field_chars,
            load_policy(cfg.conf_dir / cfg.score.policy_file),
            cfg.score.holdout_fraction,
            cfg.pii_key(),
        )

    def checkpoint(self, query: str) -> str:
        root = self.live.checkpoint_dir or f"{self.lakehouse.rstrip('/')}/_checkpoints/live"
        return f"{root.rstrip('/')}/{query}"


class Batches:
    """A `foreachBatch` function that knows its query's id: Delta's idempotent writes are keyed by
    (query id, batch id), and the id (kept in the checkpoint, the same after a restart) is known only
    once the query started; a batch waits for it. `counts` sums what the batches wrote."""

    def __init__(self, name: str, handle: Callable[[DataFrame, int, str], dict[str, int]]):
        self.name = name
        self._handle = handle
        self._started = threading.Event()
        self.query_id = ""
        self.counts: Counter[str] = Counter()

    def started(self, query: StreamingQuery) -> StreamingQuery:
        self.query_id = str(query.id)
        self._started.set()
        return query

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        if not self._started.wait(QUERY_START_TIMEOUT_S):
            raise RuntimeError(f"live {self.name}: the query's id was never set; batch {batch_id} not written")
        self.counts.update(self._handle(batch, batch_id, self.query_id))
        self.counts["batches"] += 1


def run(
    lake: Lakehouse, conf: RunConf, date: dt.date, *, available_now: bool = False, trigger_seconds: int | None = None
) -> dict[str, Any]:
    """Run the live job from landing date `date` on (earlier date folders are skipped).

    Args:
        lake: the lakehouse (scoped to `INPUTS`, `OUTPUTS`).
        conf: `RunConf.of(cfg)`.
        date: the first landing date whose files the job reads.
        available_now: process what has landed, then return; else run until stopped or failed.
        trigger_seconds: the micro-batch interval (default `live.trigger_seconds`).

    Returns:
        Per query, the batches run and the rows written (`batches`, `quarantined`, `events`,
        `portrait_rows`, `decisions`).
    """
    _create_tables(lake)
    seconds = trigger_seconds or conf.live.trigger_seconds
    trigger: dict[str, Any] = {"availableNow": True} if available_now else {"processingTime": f"{seconds} seconds"}
    ingest, decide = _handlers(lake, conf, date)
    # A query that ended earlier in this process (an earlier `available_now` run) would end the
    # wait below at once: `awaitAnyTermination` returns for any termination since the last reset.
    lake.spark.streams.resetTerminated()
    running: list[StreamingQuery] = []
    try:
        running.append(_start_ingest(lake, conf, ingest, trigger))
        if available_now:
            running[0].awaitTermination()
        if decide is not None:
            running.append(_start_decide(lake, conf, decide, trigger))
        if available_now:
            running[-1].awaitTermination()
        else:
            lake.spark.streams.awaitAnyTermination()
            for q in running:
                if q.exception() is not None:
                    raise RuntimeError(f"live query {q.name} failed: {q.exception()}")
    finally:
        for q in running:
            if q.isActive:
                q.stop()
    handlers = [h for h in (ingest, decide) if h is not None]
    return {h.name: dict(h.counts) for h in handlers}


def _handlers(lake: Lakehouse, conf: RunConf, date: dt.date) -> tuple[Batches, Batches | None]:
    """The ingest and decide `foreachBatch` functions (no decide without a triggered action)."""
    ingest = Batches(
        "ingest",
        partial(
            batches.ingest_batch,
            lake,
            start=date,
            pii_key=conf.pii_key,
            earliest=conf.earliest,
            max_field_chars=conf.max_field_chars,
            lookback_days=conf.live.duplicate_lookback_days,
        ),
    )
    policy = conf.policy.live()
    if policy is None:
        log.warning("live: conf/actions.yaml has no action with a trigger; only the live portrait is kept")
        return ingest, None
    handle = partial(batches.decide_batch, lake, policy=policy, holdout_share=conf.holdout_share)
    return ingest, Batches("decide", handle)


def _start_ingest(lake: Lakehouse, conf: RunConf, handler: Batches, trigger: dict[str, Any]) -> StreamingQuery:
    lines = source.clickstream_lines(lake.spark, conf.landing, max_files_per_trigger=conf.live.max_files_per_trigger)
    writer = (
        lines.writeStream.queryName("portrait_live_ingest")
        .foreachBatch(handler)
        .option("checkpointLocation", conf.checkpoint("ingest"))
        .trigger(**trigger)
    )
    return handler.started(writer.start())


def _start_decide(lake: Lakehouse, conf: RunConf, handler: Batches, trigger: dict[str, Any]) -> StreamingQuery:
    policy = conf.policy.live()
    assert policy is not None
    # `skipChangeCommits`: a commit that deletes rows (an erasure, a retention delete) is skipped, not
    # an error that stops the stream; only appends carry new events.
    events = partial(lake.read_stream, catalog.SILVER_LIVE_EVENTS, skipChangeCommits="true")
    fired = fired_triggers(events, policy, conf.live.lateness_minutes)
    writer = (
        fired.writeStream.queryName("portrait_live_decide")
        .outputMode("append")
        .foreachBatch(handler)
        .option("checkpointLocation", conf.checkpoint("decide"))
        .trigger(**trigger)
    )
    return handler.started(writer.start())


def fired_triggers(events: Callable[[], DataFrame], policy: Policy, lateness_minutes: int) -> DataFrame:
    """The fired rows of every triggered action of `policy`, one stream (`triggers.FIRED_COLUMNS`).

    Args:
        events: a new streaming read of silver.live_events per call (one source per join side).
    """

    def branch(action: Action) -> DataFrame:
        assert action.trigger is not None
        if action.trigger.kind == "cart_abandoned":
            return triggers.abandoned_carts(events(), events(), action, lateness_minutes=lateness_minutes)
        return triggers.category_bursts(events(), action, lateness_minutes=lateness_minutes)

    return reduce(DataFrame.unionByName, [branch(a) for a in policy.actions])


def _create_tables(lake: Lakehouse) -> None:
    """Create the live tables the queries read before anything is written to them (an empty
    append, once), or add the columns an older table lacks: the decide query streams
    silver.live_events, and each batch reads the others."""
    empty = {
        catalog.SILVER_LIVE_EVENTS: source.LIVE_EVENT_SCHEMA,
        catalog.GOLD_PORTRAIT_LIVE: catalog.GOLD_PORTRAIT_LIVE.ddl,
        catalog.GOLD_LIVE_ACTIONS: catalog.GOLD_LIVE_ACTIONS.ddl,
    }
    for table, ddl in empty.items():
        if not lake.exists(table):
            lake.append_once(lake.spark.createDataFrame([], ddl), table, app_id=f"create-{table.full_name}", version=0)
        else:
            lake.add_columns(table)  # a table written before its contract grew (its `migrations`)
