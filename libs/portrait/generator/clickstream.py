"""Clickstream events as JSON lines, one row per event, cut from the session frame.

A session is ``page_view [login] browse... [add_to_cart x lines, checkout x lines]``: the
checkout tail appears in sessions that carry an online order and has one ``checkout``
event per order line (same product as the order line). Events after the login carry the
account as ``user_id``; in a session on a device where the person stays signed in every event
carries it and there is no login event. Checkout events carry the ``order_id`` of the order
(as order-confirmation tracking does), which links a guest order's phone/e-mail to the cookie.
"""

from __future__ import annotations

import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from . import activity, catalog, dirty, orders, rand, text
from .persons import BARGAIN, by_archetype
from .spec import Spec

EVENT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout", "login")
BROWSE_TYPES = ("product_view", "search", "page_view", "add_to_cart", "remove_from_cart")
# Per archetype: weights of BROWSE_TYPES.
BROWSE_WEIGHTS = (
    (0.50, 0.12, 0.20, 0.13, 0.05),
    (0.42, 0.25, 0.15, 0.12, 0.06),
    (0.45, 0.10, 0.15, 0.20, 0.10),
    (0.48, 0.15, 0.20, 0.12, 0.05),
    (0.45, 0.12, 0.28, 0.10, 0.05),
    (0.40, 0.10, 0.40, 0.07, 0.03),
)
UNKNOWN_EVENT_TYPES = ("purchase", "click", "PAGEVIEW", "page-view", "app_start", "")
FIELDS = (
    "event_id",
    "anonymous_id",
    "user_id",
    "session_id",
    "event_type",
    "ts",
    "product_id",
    "category",
    "price",
    "search_query",
    "device_type",
    "channel",
    "dwell_ms",
    "order_id",
)
N_DIRTY_KINDS = 4  # truncated line, unknown event_type, missing event_id, ts out of range
EVENT_KEYS = ("person_key", "day", "s", "e")


def _browse_type(u: Column) -> Column:
    """A browsing event type drawn with the archetype's weights."""
    idx = F.lit(0)
    for i in range(len(BROWSE_TYPES) - 1):
        bound = [sum(w[: i + 1]) / sum(w) for w in BROWSE_WEIGHTS]
        idx = idx + (u >= by_archetype(bound)).cast("int")
    return rand.pick(BROWSE_TYPES, idx)


def _bad_ts(seed: int, end_date: datetime.date) -> Column:
    """A timestamp in the future (next years) or before 2000."""
    ms = rand.randint(seed, "bad_ts_ms", 86_400_000, *EVENT_KEYS)
    future = activity.iso_ts(end_date, F.lit(400) + rand.randint(seed, "bad_ts_day", 2000, *EVENT_KEYS), ms)
    past = activity.iso_ts(datetime.date(1970, 1, 1), rand.randint(seed, "bad_ts_day", 10_000, *EVENT_KEYS), ms)
    return F.when(rand.uniform(seed, "bad_ts", *EVENT_KEYS) < F.lit(0.5), future).otherwise(past)


def lines(sessions: DataFrame, spec: Spec) -> DataFrame:
    """JSON lines of the clickstream: ``date``, ``value``, ``_dirty``, ``_dup``.

    Args:
        sessions: the frame of ``activity.sessions``.
        spec: the run's parameters (seed, dates, dirty fraction).
    """
    seed = spec.seed
    df = _events(sessions, seed)
    df = df.select(*EVENT_KEYS, *[v.alias(k) for k, v in _event_fields(spec).items()])
    df = dirty.with_markers(df, seed, "clickstream", spec.dirty_fraction, N_DIRTY_KINDS, *EVENT_KEYS)
    df = df.withColumns(_damaged_fields(spec))
    out = df.select(
        activity.date_string(spec.start_date, F.col("day")).alias("date"),
        _json_value(seed).alias("value"),
        "_dirty",
        "_dup",
    )
    return dirty.with_duplicates(out)


def _events(sessions: DataFrame, seed: int) -> DataFrame:
    """One row per event (``e``) of a session: its type, product number and time offsets.

    Browsing events first (``page_view``, then ``login`` if the session logs in), then for an
    online order one ``add_to_cart`` per line and one ``checkout`` per line.
    """
    n_events = F.col("n_browse") + F.when(F.col("is_purchase"), F.lit(2) * F.col("n_lines")).otherwise(F.lit(0))
    df = sessions.withColumn("n_events", n_events).withColumn(
        "e", F.explode(F.sequence(F.lit(0), F.col("n_events") - F.lit(1)))
    )
    e = F.col("e")
    tail_pos = e - F.col("n_browse")
    df = df.withColumns(
        {
            "e_next": e + F.lit(1),
            "line": F.when(tail_pos < F.col("n_lines"), tail_pos).otherwise(tail_pos - F.col("n_lines")),
            "browse_cat": catalog.pick_category(seed, "browse", *EVENT_KEYS, p_first=0.45, p_second=0.25),
            "u_type": rand.uniform(seed, "event_type", *EVENT_KEYS),
        }
    )
    event_type = (
        F.when(e == F.lit(0), F.lit("page_view"))
        .when(F.col("logged_in") & (e == F.lit(1)), F.lit("login"))
        .when(e < F.col("n_browse"), _browse_type(F.col("u_type")))
        .when(tail_pos < F.col("n_lines"), F.lit("add_to_cart"))
        .otherwise(F.lit("checkout"))
    )
    return df.withColumns(
        {
            "event_type": event_type,
            "product_number": F.when(e >= F.col("n_browse"), activity.line_product(seed, "line")).otherwise(
                catalog.pick_product(seed, "browse", F.col("browse_cat"), *EVENT_KEYS)
            ),
            "offset_ms": activity.event_offset_ms(seed, "e"),
            "next_offset_ms": activity.event_offset_ms(seed, "e_next"),
        }
    )


def _event_fields(spec: Spec) -> dict[str, Column]:
    """The clean value of every field of an event's JSON line (``FIELDS`` order)."""
    seed = spec.seed
    e = F.col("e")
    has_product = F.col("event_type").isin("product_view", "add_to_cart", "remove_from_cart", "checkout")
    is_last = e == F.col("n_events") - F.lit(1)
    return {
        "event_id": rand.uuid_like(seed, "event", *EVENT_KEYS),
        "anonymous_id": F.col("anonymous_id"),
        "user_id": F.when(F.col("signed_in") | (F.col("logged_in") & (e >= F.lit(1))), F.col("account_id")),
        "session_id": F.col("session_id"),
        "event_type": F.col("event_type"),
        "ts": activity.iso_ts(spec.start_date, F.col("day"), F.col("start_ms") + F.col("offset_ms")),
        "product_id": F.when(has_product, catalog.product_id(F.col("product_number"))),
        "category": F.when(has_product, catalog.product_category(F.col("product_number"))),
        "price": F.when(has_product, catalog.product_price(seed, "product_number")),
        "search_query": F.when(
            F.col("event_type") == F.lit("search"),
            text.search_query(seed, EVENT_KEYS, F.col("browse_cat"), F.col("arch") == F.lit(BARGAIN)),
        ),
        "device_type": F.col("device_type"),
        "channel": F.col("channel"),
        "dwell_ms": F.when(is_last, F.lit(5_000) + rand.randint(seed, "dwell", 55_000, *EVENT_KEYS))
        .otherwise(F.col("next_offset_ms") - F.col("offset_ms"))
        .cast("long"),
        # Order-confirmation tracking: checkout events name the order they placed (signed in or guest).
        "order_id": F.when(F.col("event_type") == F.lit("checkout"), orders.order_id_column(spec)),
    }


def _damaged_fields(spec: Spec) -> dict[str, Column]:
    """The fields a dirty line of kind 1 (unknown event type) or 3 (timestamp out of range) has damaged."""
    seed = spec.seed
    damaged = F.col("_dirty")
    return {
        "event_type": F.when(
            damaged & (F.col("_kind") == F.lit(1)),
            rand.pick_uniform(UNKNOWN_EVENT_TYPES, seed, "unknown_type", *EVENT_KEYS),
        ).otherwise(F.col("event_type")),
        "ts": F.when(damaged & (F.col("_kind") == F.lit(3)), _bad_ts(seed, spec.end_date)).otherwise(F.col("ts")),
    }


def _json_value(seed: int) -> Column:
    """The line as written: the fields as JSON, truncated (dirty kind 0) or without ``event_id`` (kind 2)."""
    damaged = F.col("_dirty")
    options = {"ignoreNullFields": "false"}
    full = F.to_json(F.struct(*FIELDS), options)
    without_id = F.to_json(F.struct(*FIELDS[1:]), options)
    return (
        F.when(
            damaged & (F.col("_kind") == F.lit(0)), dirty.truncate(full, rand.uniform(seed, "truncate", *EVENT_KEYS))
        )
        .when(damaged & (F.col("_kind") == F.lit(2)), without_id)
        .otherwise(full)
    )
