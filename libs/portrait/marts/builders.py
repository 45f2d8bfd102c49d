"""The analysts' marts as pure builders: DataFrames in, a mart's rows of one date out (no reads, no writes).

Each answers one of the questions analysts ask every day, from the same lake and the same person
ids as the portrait:

- `funnel`: where people drop out between a product view, a cart add and an order, by channel,
  device and category (`gold.funnel_daily`);
- `paths`: what people do in a session before they order, and in the sessions that end without
  one (`gold.paths_to_purchase`);
- `rfm_grid`: how many persons, and how much of the revenue, sit in each recency x frequency x
  monetary quintile, against the day before (`gold.rfm_grid`);
- `tag_coverage`: how many persons carry each tag, per segment, against the day before
  (`gold.tag_coverage`);
- `retention`: of the persons who first visited (first ordered) in a week, the share active
  (buying) in each week after (`gold.retention_cohorts`).

A mart's columns are its table's contract (`catalog`), which says what each means.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait import order_lines

ALL = "(all)"  # the row of every value of a dimension together
NONE = "(none)"  # an event without a category, a person without a segment
UNKNOWN = "(unknown)"  # a session whose first event names no channel or device
DIRECT = "(direct)"  # an ordering session with no step before its checkout
CHECKOUT = "checkout"
ORDERED, NOT_ORDERED = "ordered", "not_ordered"
STEP_SEPARATOR = " > "
MORE = "…"  # a path cut at its configured length
# gold.funnel_daily's session counts, step by step (the report draws them in this order)
FUNNEL_STEPS = ("sessions", "viewing_sessions", "carting_sessions", "ordering_sessions")


def _first(column: str) -> Column:
    """The value of `column` at a session's first event (ties in time broken by event_id)."""
    return F.min(F.struct("ts", "event_id", F.coalesce(F.col(column), F.lit(UNKNOWN)).alias("v")))["v"]


def _ratio(num: str, den: str) -> Column:
    return F.when(F.col(den) > 0, F.col(num) / F.col(den))


def funnel(events: DataFrame, orders: DataFrame, date: dt.date) -> DataFrame:
    """The funnel of `date`: per channel, device and category (and `(all)` categories), sessions and
    persons, the sessions that viewed a product, added to cart and ordered, the events, the completed
    orders placed in the sessions and their revenue, and the step rates.

    A session's channel and device are those of its first event. A session counts in a category when
    it has an event of it or ordered a line of it; an order belongs to the session whose checkout
    event names it (orders placed outside any session, e.g. offline, are not in the funnel).

    Args:
        events: `silver.events` of `date` (session_id, event_id, ts, event_type, category, channel,
            device_type, person_id, order_id).
        orders: `silver.orders` of `date` (order_id, category, status, quantity, unit_price,
            discount_amount).
    """
    ev = events.where(F.col("session_id").isNotNull())
    sessions = ev.groupBy("session_id").agg(
        _first("channel").alias("channel"),
        _first("device_type").alias("device_type"),
        F.max("person_id").alias("person_id"),
    )
    placed = ev.where((F.col("event_type") == CHECKOUT) & F.col("order_id").isNotNull())
    lines = orders.where(order_lines.is_completed()).select(
        "order_id", "category", order_lines.net_amount().alias("amount")
    )
    ordered = lines.join(placed.select("session_id", "order_id").distinct(), on="order_id")
    steps = ev.select(
        "session_id",
        "category",
        (F.col("event_type") == "product_view").cast("int").alias("viewed"),
        (F.col("event_type") == "add_to_cart").cast("int").alias("carted"),
        F.lit(None).cast("string").alias("order_id"),
        F.lit(None).cast("double").alias("amount"),
    ).unionByName(
        ordered.select(
            "session_id", "category", F.lit(0).alias("viewed"), F.lit(0).alias("carted"), "order_id", "amount"
        )
    )
    rows = steps.join(sessions, on="session_id").withColumn("category", F.coalesce("category", F.lit(NONE)))
    counts = [
        F.countDistinct("session_id").alias("sessions"),
        F.countDistinct("person_id").alias("persons"),
        F.countDistinct(F.when(F.col("viewed") == 1, F.col("session_id"))).alias("viewing_sessions"),
        F.countDistinct(F.when(F.col("carted") == 1, F.col("session_id"))).alias("carting_sessions"),
        F.countDistinct(F.when(F.col("order_id").isNotNull(), F.col("session_id"))).alias("ordering_sessions"),
        F.sum("viewed").alias("product_views"),
        F.sum("carted").alias("cart_adds"),
        F.countDistinct("order_id").alias("orders"),
        F.coalesce(F.sum("amount"), F.lit(0.0)).alias("revenue"),
    ]
    # Both levels in one aggregate (grouping sets: one scan and shuffle of the rows); category is
    # never null in the rows (NONE), so a null one is the every-category row.
    levels = [["channel", "device_type", "category"], ["channel", "device_type"]]
    together = rows.groupingSets(levels, "channel", "device_type", "category").agg(*counts)
    return together.withColumn("category", F.coalesce("category", F.lit(ALL))).withColumns(
        {
            "date": F.lit(date),
            "view_rate": _ratio("viewing_sessions", "sessions"),
            "view_to_cart_rate": _ratio("carting_sessions", "viewing_sessions"),
            "cart_to_order_rate": _ratio("ordering_sessions", "carting_sessions"),
            "session_to_order_rate": _ratio("ordering_sessions", "sessions"),
        }
    )


def _collapsed(steps: Column) -> Column:
    """`steps` without a step equal to the one before it (a page viewed twice in a row is one step)."""
    return F.filter(steps, lambda x, i: (i == 0) | (x != F.element_at(steps, F.greatest(i, F.lit(1)))))


def session_paths(events: DataFrame, *, steps: int) -> DataFrame:
    """One row per session of `events`: its outcome (`ordered`: it has a checkout) and its path, the
    event types before its first checkout (all of them when it has none) in time order, repeats in a
    row collapsed, the first `steps` joined by ' > ' (`…` when cut; `(direct)` when empty)."""
    per_session = (
        events.where(F.col("session_id").isNotNull())
        .groupBy("session_id")
        .agg(
            F.array_sort(F.collect_list(F.struct("ts", "event_id", "event_type"))).alias("_events"),
            F.max("person_id").alias("person_id"),
        )
    )
    types = F.transform("_events", lambda e: e["event_type"])
    checkout = F.array_position(types, CHECKOUT)  # 1-based, 0: none
    before = F.when(checkout > 0, F.filter(types, lambda _, i: i < checkout - 1)).otherwise(types)
    collapsed = _collapsed(before)
    shown = F.array_join(F.slice(collapsed, 1, steps), STEP_SEPARATOR)
    path = (
        F.when(F.size(collapsed) == 0, F.lit(DIRECT))
        .when(F.size(collapsed) > steps, F.concat(shown, F.lit(STEP_SEPARATOR + MORE)))
        .otherwise(shown)
    )
    return per_session.select(
        "session_id",
        "person_id",
        F.when(checkout > 0, F.lit(ORDERED)).otherwise(F.lit(NOT_ORDERED)).alias("outcome"),
        path.alias("path"),
    )


def paths(events: DataFrame, date: dt.date, *, steps: int, top: int) -> DataFrame:
    """The `top` most frequent paths (`session_paths`) of the sessions of `date` that ordered, and of
    those that did not: sessions and persons per path, the path's share of its outcome's sessions and
    its rank (1 = most frequent; ties in order of the path)."""
    per_path = (
        session_paths(events, steps=steps)
        .groupBy("outcome", "path")
        .agg(F.count("*").alias("sessions"), F.countDistinct("person_id").alias("persons"))
    )
    by_outcome = Window.partitionBy("outcome")
    ranked = Window.partitionBy("outcome").orderBy(F.col("sessions").desc(), F.col("path"))
    return (
        per_path.withColumn("share", F.col("sessions") / F.sum("sessions").over(by_outcome))
        .withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= top)
        .withColumn("date", F.lit(date))
    )


# RFM: the portrait's columns measured, and whether a higher value scores higher.
RFM = (("r_score", "days_since_last_order", False), ("f_score", "orders_365d", True), ("m_score", "revenue_365d", True))
QUANTILES = [0.2, 0.4, 0.6, 0.8]


def _scored(buyers: DataFrame) -> DataFrame:
    """`buyers` with r_score, f_score and m_score, 1 to 5 (5: the most recent, most frequent, highest
    spending fifth), by the quintile cuts of this frame (one aggregate: no global sort)."""
    cuts = buyers.agg(*[F.percentile_approx(col, QUANTILES).alias(score) for score, col, _ in RFM]).first()
    scores = {}
    for score, col, higher in RFM:
        # No value (no order inside the history window) scores as the least recent, frequent or spending.
        over = [F.coalesce((F.col(col) > F.lit(c)).cast("int"), F.lit(0 if higher else 1)) for c in cuts[score] or []]
        above = reduce(lambda a, b: a + b, over, F.lit(0))
        scores[score] = (above + 1) if higher else (5 - above)
    return buyers.withColumns(scores)


def _rfm_cells(portrait: DataFrame) -> DataFrame:
    buyers = portrait.where(F.col("orders_365d") > 0)
    return (
        _scored(buyers)
        .groupBy("r_score", "f_score", "m_score")
        .agg(F.count("*").alias("persons"), F.sum("revenue_365d").alias("revenue"))
    )


def rfm_grid(portrait: DataFrame, previous: DataFrame, date: dt.date) -> DataFrame:
    """Persons with a completed order in the last 365 days, and their revenue, per recency x frequency
    x monetary quintile of `date`'s portrait; the same cell's persons in `previous` (the portrait of
    the day before, scored by its own quintiles; 0 without one) and the change.

    A fifth's cut is a value: persons with equal values share a score, so a fifth may hold more or
    fewer than 20 % (many persons with one order are one frequency score)."""
    now = _rfm_cells(portrait)
    before = _rfm_cells(previous).select("r_score", "f_score", "m_score", F.col("persons").alias("persons_previous"))
    return (
        now.join(before, on=["r_score", "f_score", "m_score"], how="full")
        .fillna(0, subset=["persons", "persons_previous"])
        .fillna(0.0, subset=["revenue"])
        .withColumns({"persons_change": F.col("persons") - F.col("persons_previous"), "date": F.lit(date)})
    )


def _coverage(tags: DataFrame, segments: DataFrame) -> DataFrame:
    rows = (
        tags.select("person_id", "tag")
        .join(segments.select("person_id", "segment_name"), on="person_id", how="left")
        .withColumn("segment_name", F.coalesce("segment_name", F.lit(NONE)))
    )
    # Both levels in one aggregate (grouping sets); segment_name is never null in the rows (NONE).
    levels = [["tag", "segment_name"], ["tag"]]
    together = rows.groupingSets(levels, "tag", "segment_name").agg(F.countDistinct("person_id").alias("persons"))
    return together.withColumn("segment_name", F.coalesce("segment_name", F.lit(ALL)))


def tag_coverage(
    tags: DataFrame, segments: DataFrame, previous_tags: DataFrame, previous_segments: DataFrame, date: dt.date
) -> DataFrame:
    """Persons per tag and segment of `date` (and `(all)` segments; `(none)`: no segment that day),
    the same of the day before and the change (0 where a tag had nobody)."""
    before = _coverage(previous_tags, previous_segments).withColumnRenamed("persons", "persons_previous")
    return (
        _coverage(tags, segments)
        .join(before, on=["tag", "segment_name"], how="full")
        .fillna(0, subset=["persons", "persons_previous"])
        .withColumns({"persons_change": F.col("persons") - F.col("persons_previous"), "date": F.lit(date)})
    )


COHORTS = (("first_visit", "visited"), ("first_order", "bought"))  # a cohort's kind and the act that starts it


def _week(day: Column) -> Column:
    """The Monday of `day`'s week."""
    return F.to_date(F.date_trunc("week", day))


def retention(activity: DataFrame, date: dt.date, *, weeks: int, lookback_weeks: int) -> DataFrame:
    """Weekly cohorts of `date`: the persons whose first visit (first order) fell in each of the
    `weeks` weeks up to `date`'s, with none in the `lookback_weeks` weeks before them, and for each
    week since (`week_offset`, 0: the cohort's own week) how many were active (had a session) and
    how many bought (a completed order), and their shares of the cohort.

    "First" means first in the `weeks + lookback_weeks` weeks read: a person back after more than
    `lookback_weeks` quiet weeks starts a cohort again, as in the usual acquisition reports. The read
    is bounded by those weeks, whatever the history.

    Args:
        activity: `silver.daily_activity` (person_id, day, sessions, orders).
    """
    monday = date - dt.timedelta(days=date.weekday())
    first_week = monday - dt.timedelta(weeks=weeks - 1)  # the Monday of the first cohort week
    read_from = first_week - dt.timedelta(weeks=lookback_weeks)
    end_week, start = F.lit(monday), F.lit(first_week)
    acts = activity.where((F.col("day") >= F.lit(read_from)) & (F.col("day") <= F.lit(date))).select(
        "person_id",
        _week(F.col("day")).alias("week"),
        (F.coalesce("sessions", F.lit(0)) > 0).alias("visited"),
        (F.coalesce("orders", F.lit(0)) > 0).alias("bought"),
    )
    per_week = (
        acts.where(F.col("visited") | F.col("bought"))
        .groupBy("person_id", "week")
        .agg(F.max("visited").alias("visited"), F.max("bought").alias("bought"))
    )
    firsts = per_week.groupBy("person_id").agg(
        *[F.min(F.when(F.col(act), F.col("week"))).alias(kind) for kind, act in COHORTS]
    )
    out = []
    for kind, _ in COHORTS:
        cohort = firsts.where(F.col(kind) >= start).select("person_id", F.col(kind).alias("cohort_week"))
        sizes = cohort.groupBy("cohort_week").agg(F.count("*").alias("persons"))
        # Every week from the cohort's to D's, whether or not anyone came back in it.
        grid = sizes.withColumn(
            "week_offset", F.explode(F.sequence(F.lit(0), (F.datediff(end_week, "cohort_week") / 7).cast("int")))
        )
        later = (
            cohort.join(per_week, on="person_id")
            .withColumn("week_offset", (F.datediff("week", "cohort_week") / 7).cast("int"))
            .where(F.col("week_offset") >= 0)
            .groupBy("cohort_week", "week_offset")
            .agg(
                F.count(F.when(F.col("visited"), 1)).alias("active_persons"),
                F.count(F.when(F.col("bought"), 1)).alias("buying_persons"),
            )
        )
        out.append(
            grid.join(later, on=["cohort_week", "week_offset"], how="left")
            .fillna(0, subset=["active_persons", "buying_persons"])
            .withColumn("cohort", F.lit(kind))
        )
    return reduce(DataFrame.unionByName, out).withColumns(
        {
            "active_share": F.col("active_persons") / F.col("persons"),
            "buying_share": F.col("buying_persons") / F.col("persons"),
            "date": F.lit(date),
        }
    )
