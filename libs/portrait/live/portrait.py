"""The live portrait (gold.portrait_live): one row per (landing date, person) from the live events.

Each micro-batch recomputes the rows of the persons it brought events for, from all their live
events of the date (not an increment added to the stored row): a micro-batch replayed after a
crash writes the same values again, so the MERGE needs no transaction id to stay exactly-once.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from portrait import catalog
from portrait.live import source

KEY = ("date", "person_id")


def live_portrait(events: DataFrame, *, updated_at: dt.datetime) -> DataFrame:
    """One gold.portrait_live row per (date, person_id) of `events` (silver.live_events rows).

    `open_cart_value` is the price of the cart adds after the person's last checkout of the date,
    less the removals after it (not below 0): what was added and neither bought nor taken out.
    """
    person_day = Window.partitionBy(*KEY).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    event = F.col("event_type")
    with_checkout = events.withColumn(
        "_last_checkout", F.max(F.when(event == F.lit("checkout"), F.col("ts"))).over(person_day)
    )
    after = F.col("_last_checkout").isNull() | (F.col("ts") > F.col("_last_checkout"))
    price = F.coalesce(F.col("price"), F.lit(0.0))
    added = F.sum(F.when(after & (event == F.lit("add_to_cart")), price).otherwise(F.lit(0.0)))
    removed = F.sum(F.when(after & (event == F.lit("remove_from_cart")), price).otherwise(F.lit(0.0)))
    id_type, id_value = source.provisional_identifier()
    rows = with_checkout.groupBy(*KEY).agg(
        F.bool_or("provisional").alias("provisional"),
        # one identifier per provisional id (the id is derived from it); null for resolved events
        F.max(id_type).alias("id_type"),
        F.max(id_value).alias("id_value"),
        F.count(F.lit(1)).alias("events"),
        F.count(F.when(event == F.lit("product_view"), F.lit(1))).alias("product_views"),
        F.count(F.when(event == F.lit("add_to_cart"), F.lit(1))).alias("cart_adds"),
        F.greatest(added - removed, F.lit(0.0)).alias("open_cart_value"),
        F.max_by(F.col("category"), F.when(F.col("category").isNotNull(), F.col("ts"))).alias("last_category"),
        F.max("ts").alias("last_seen"),
    )
    return catalog.GOLD_PORTRAIT_LIVE.conform(rows.withColumn("updated_at", F.lit(updated_at).cast("timestamp")))
