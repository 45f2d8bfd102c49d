"""Triggers in event time: stateful streaming builders over silver.live_events, one per kind of
`actions.Trigger` (conf/actions.yaml). Spark SQL's own stateful operators keep the state (no Python
state, no UDF); the watermark (`live.lateness_minutes`) bounds it and decides when a pattern that
needs time to pass (no checkout *within* 30 minutes) is known.

Each builder sets the watermark on its input before filtering it, so that any event moves it, and
returns the fired rows, `date` (landing date of the event that fired), `person_id`, `id_type` and
`id_value` (the identifier of a provisional id, `source.provisional_identifier`), `action` (the
triggered action's name) and `fired_at` (event time), in append mode: a row is emitted once, when
the pattern is complete.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.actions.policy import Action
from portrait.live import source

FIRED_COLUMNS = ("date", "person_id", "id_type", "id_value", "action", "fired_at")


def _watermarked(events: DataFrame, lateness_minutes: int) -> DataFrame:
    """`events` with the watermark on `ts`, set before any filter: every event moves it (set after
    the cart filter, only a later cart would, and a quiet evening would keep the last carts of the
    day waiting for the next one). Renamed columns keep it (an alias keeps the column's metadata)."""
    return events.withWatermark("ts", f"{lateness_minutes} minutes")


def _is_event(event_type: str, *present: str) -> Column:
    """The event is an `event_type` (and has every column of `present`), as one predicate that reads
    the event-time column `ts`. Spark's optimizer pushes a filter conjunct that does not read the
    event-time column below `withWatermark` (PushPredicateThroughNonJoin): the watermark would then
    see only these events again. Concatenated with `ts` (a null part makes it null, so false), the
    test cannot be split off and stays above it."""
    parts = [F.col("event_type"), F.col("ts").cast("string"), *[F.col(c).cast("string") for c in present]]
    joined = F.concat(*[x for part in parts for x in (part, F.lit("|"))])
    return joined.startswith(F.lit(f"{event_type}|"))


def _minutes(n: int):
    return F.expr(f"INTERVAL {int(n)} MINUTES")


def abandoned_carts(carts: DataFrame, checkouts: DataFrame, action: Action, *, lateness_minutes: int) -> DataFrame:
    """Each `add_to_cart` with no `checkout` by the same person within `trigger.minutes` after it.

    A stream-stream left outer join with a time-range condition: a cart's row waits in the join's
    state until a checkout matches it (dropped, the cart was bought) or until the watermark passes
    cart time + minutes (emitted with no checkout: abandoned). `carts` and `checkouts` are two
    streams of silver.live_events (one source each: the documented shape of a stream-stream join).
    """
    assert action.trigger is not None and action.trigger.kind == "cart_abandoned"
    within = _minutes(action.trigger.minutes)
    cart = (
        _watermarked(carts, lateness_minutes)
        .where(_is_event("add_to_cart"))
        .select(
            F.col("date").alias("cart_date"),
            F.col("person_id").alias("cart_person"),
            *source.provisional_identifier(),
            F.col("ts").alias("cart_ts"),
        )
    )
    order = (
        _watermarked(checkouts, lateness_minutes)
        .where(_is_event("checkout"))
        .select(F.col("person_id").alias("order_person"), F.col("ts").alias("order_ts"))
    )
    bought_in_time = (
        (F.col("order_person") == F.col("cart_person"))
        & (F.col("order_ts") >= F.col("cart_ts"))
        & (F.col("order_ts") <= F.col("cart_ts") + within)
    )
    joined = cart.join(order, on=bought_in_time, how="left_outer")
    return joined.where(F.col("order_ts").isNull()).select(
        F.col("cart_date").alias("date"),
        F.col("cart_person").alias("person_id"),
        "id_type",
        "id_value",
        F.lit(action.name).alias("action"),
        (F.col("cart_ts") + within).alias("fired_at"),
    )


def category_bursts(views: DataFrame, action: Action, *, lateness_minutes: int) -> DataFrame:
    """`trigger.views` product views of one category by one person within `trigger.minutes`: an
    event-time window aggregation (windows of that length sliding by one minute), emitted when the
    watermark closes a window that holds enough views. Overlapping windows of one burst each fire:
    the live job keeps the first fire per person, action and date (`decide.new_fires`)."""
    assert action.trigger is not None and action.trigger.kind == "category_views"
    trigger = action.trigger
    window = F.window(F.col("ts"), f"{trigger.minutes} minutes", "1 minute")
    counted = (
        _watermarked(views, lateness_minutes)
        .where(_is_event("product_view", "category"))
        .select("*", *source.provisional_identifier())
        .groupBy(F.col("person_id"), F.col("category"), window.alias("w"))
        .agg(
            F.count(F.lit(1)).alias("views"),
            F.min("date").alias("date"),
            F.max("ts").alias("last_view"),
            F.max("id_type").alias("id_type"),
            F.max("id_value").alias("id_value"),
        )
    )
    return counted.where(F.col("views") >= F.lit(trigger.views)).select(
        "date",
        "person_id",
        "id_type",
        "id_value",
        F.lit(action.name).alias("action"),
        F.col("last_view").alias("fired_at"),
    )
