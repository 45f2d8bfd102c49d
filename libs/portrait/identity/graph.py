"""The identity graph: identifiers seen in every source and the deterministic links between them.

Identifier types: `cookie` (clickstream anonymous_id), `account` (account_id), `phone`, `email`,
`wechat_id` (keyed hashes from ingest) and `social_author` (a platform's author id on social
records). Links: signed-in events (cookie-account), orders (account-phone, account-email, and
phone-email on guest orders), checkout events naming a guest order (cookie-phone, cookie-email), CRM (account-phone/email/wechat_id) and social records (the author
with the brand account a member bound on that platform, and with the WeChat id WeChat records
carry; that WeChat id with the account).
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.keys import typed

# Lower rank = better anchor for a stable person id (an account outlives cookies and phones).
ANCHOR_RANK = {"account": 0, "phone": 1, "email": 2, "wechat_id": 3, "social_author": 4, "cookie": 5}
PAIR = ("type_a", "value_a", "type_b", "value_b")


def node_id(id_type: Column | str, id_value: Column | str) -> Column:
    """A 64-bit node id for an identifier (type and value)."""
    t = F.lit(id_type) if isinstance(id_type, str) else id_type
    v = F.col(id_value) if isinstance(id_value, str) else id_value
    return F.xxhash64(t, v)


def _day(df: DataFrame) -> Column:
    """The record's `date` (landing date), or a null date for frames without one (unit tests)."""
    return F.col("date") if "date" in df.columns else F.lit(None).cast("date")


def _pairs(df: DataFrame, a: tuple[str, str], b: tuple[str, str]) -> DataFrame:
    (ta, ca), (tb, cb) = a, b
    day = _day(df)
    return df.where(F.col(ca).isNotNull() & F.col(cb).isNotNull()).select(
        F.lit(ta).alias("type_a"),
        F.col(ca).alias("value_a"),
        F.lit(tb).alias("type_b"),
        F.col(cb).alias("value_b"),
        day.alias("first_seen"),
    )


def checkout_orders(checkout_clicks: DataFrame, orders: DataFrame) -> DataFrame:
    """Guest orders joined to the checkout events that name them (`order_id`, `anonymous_id`,
    `phone_hash`, `email_hash`, `date`: the later of the two records' dates)."""
    guest = orders.where(F.col("account_id").isNull())
    checkouts = checkout_clicks.where(F.col("order_id").isNotNull()).select(
        "order_id", "anonymous_id", _day(checkout_clicks).alias("_click_day")
    )
    return checkouts.join(
        guest.select("order_id", "phone_hash", "email_hash", _day(guest).alias("_order_day")),
        on="order_id",
        how="inner",
    ).select(
        "order_id", "anonymous_id", "phone_hash", "email_hash", F.greatest("_click_day", "_order_day").alias("date")
    )


def links(
    clickstream: DataFrame, orders: DataFrame, social: DataFrame, crm: DataFrame, *, ordered: DataFrame | None = None
) -> DataFrame:
    """Distinct identifier pairs (`type_a`, `value_a`, `type_b`, `value_b`) from every source.

    Every pair comes from one record that names both identifiers. `social` needs `author_id`,
    `wechat_id_hash` and `account_id` (the brand account bound by the author, may be null).
    `ordered` (from `checkout_orders`) replaces the checkout-to-guest-order join of `clickstream`
    and `orders` (the daily run joins one day's records with the whole history).
    """
    return dated_links(clickstream, orders, social, crm, ordered=ordered).drop("first_seen")


def dated_links(
    clickstream: DataFrame, orders: DataFrame, social: DataFrame, crm: DataFrame, *, ordered: DataFrame | None = None
) -> DataFrame:
    """`links` with `first_seen`: the earliest `date` of a record stating the pair (null without dates)."""
    guest = orders.where(F.col("account_id").isNull())
    # A checkout event names its order: the cookie that placed a guest order gets its phone/e-mail.
    if ordered is None:
        ordered = checkout_orders(clickstream, orders)
    parts = [
        _pairs(ordered, typed("anonymous_id"), typed("phone_hash")),
        _pairs(ordered, typed("anonymous_id"), typed("email_hash")),
        _pairs(social, typed("author_id"), typed("account_id")),
        _pairs(social, typed("author_id"), typed("wechat_id_hash")),
        _pairs(social, typed("account_id"), typed("wechat_id_hash")),  # as CRM orients it
        _pairs(clickstream, typed("anonymous_id"), typed("user_id")),
        _pairs(orders, typed("account_id"), typed("phone_hash")),
        _pairs(orders, typed("account_id"), typed("email_hash")),
        _pairs(guest, typed("phone_hash"), typed("email_hash")),
        _pairs(crm, typed("account_id"), typed("phone_hash")),
        _pairs(crm, typed("account_id"), typed("email_hash")),
        _pairs(crm, typed("account_id"), typed("wechat_id_hash")),
    ]
    return reduce(DataFrame.unionByName, parts).groupBy(*PAIR).agg(F.min("first_seen").alias("first_seen"))


def identifiers(clickstream: DataFrame, orders: DataFrame, social: DataFrame, crm: DataFrame) -> DataFrame:
    """Every distinct identifier (`id_type`, `id_value`) seen in any source."""

    def ids(df: DataFrame, id_type: str, col: str) -> DataFrame:
        return df.where(F.col(col).isNotNull()).select(F.lit(id_type).alias("id_type"), F.col(col).alias("id_value"))

    parts = [
        ids(clickstream, *typed("anonymous_id")),
        ids(clickstream, *typed("user_id")),
        ids(orders, *typed("account_id")),
        ids(orders, *typed("phone_hash")),
        ids(orders, *typed("email_hash")),
        ids(social, *typed("wechat_id_hash")),
        ids(social, *typed("author_id")),
        ids(social, *typed("account_id")),
        ids(crm, *typed("account_id")),
        ids(crm, *typed("phone_hash")),
        ids(crm, *typed("email_hash")),
        ids(crm, *typed("wechat_id_hash")),
    ]
    return reduce(DataFrame.unionByName, parts).distinct()


def hubs(pairs: DataFrame, *, max_links: int, placeholders: DataFrame) -> DataFrame:
    """Identifiers left out of linking, with the reason.

    An identifier is a hub when it links to more than `max_links` distinct identifiers of one
    other type (a kiosk cookie logged into by many accounts, a call-centre phone on many
    orders): linking through it would stitch different persons together. Accounts are never
    hubs: an account is one customer, and many cookies or phones on it are that customer's.
    Known placeholder values (hashed like real ones) are always excluded.
    """
    both = pairs.unionByName(
        pairs.select(
            F.col("type_b").alias("type_a"),
            F.col("value_b").alias("value_a"),
            F.col("type_a").alias("type_b"),
            F.col("value_a").alias("value_b"),
        )
    ).where(F.col("type_a") != "account")

    def link_counts(links: DataFrame) -> DataFrame:
        # Distinct neighbours: two sources may state one link in opposite directions.
        return (
            links.groupBy("type_a", "value_a", "type_b")
            .agg(F.countDistinct("value_b").alias("links"))
            .groupBy(F.col("type_a").alias("id_type"), F.col("value_a").alias("id_value"))
            .agg(F.max("links").alias("links"))
        )

    # A neighbour more connected than the identifier itself is the bigger hub (a call-centre
    # phone next to a customer's email): it does not count against the identifier.
    raw = link_counts(both)
    neighbour = raw.select(
        F.col("id_type").alias("type_b"), F.col("id_value").alias("value_b"), F.col("links").alias("neighbour_links")
    )
    own = raw.select(
        F.col("id_type").alias("type_a"), F.col("id_value").alias("value_a"), F.col("links").alias("own_links")
    )
    kept = (
        both.join(own, on=["type_a", "value_a"], how="inner")
        .join(neighbour, on=["type_b", "value_b"], how="left")
        .where(F.coalesce(F.col("neighbour_links"), F.lit(0)) <= F.col("own_links"))
    )
    degree = link_counts(kept)
    too_many = degree.where(F.col("links") > max_links).select(
        "id_type", "id_value", "links", F.lit("links_too_many_identifiers").alias("reason")
    )
    known = placeholders.join(degree, on=["id_type", "id_value"], how="left").select(
        "id_type",
        "id_value",
        F.coalesce("links", F.lit(0)).alias("links"),
        F.lit("placeholder_value").alias("reason"),
    )
    return known.unionByName(too_many.join(known, on=["id_type", "id_value"], how="left_anti"))
