"""Order lines as exported by the order system (CSV), cut from the session frame.

Session ``s`` of a day carries order ``s`` when ``s < n_orders``. Guest orders have no
account id: the buyer is known by phone and/or e-mail (a placeholder when the buyer gave
none), and call-centre orders carry the call-centre's phone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from . import activity, catalog, dirty, identifiers, model, rand
from .persons import by_archetype
from .spec import Spec

COLUMNS = (
    "order_id",
    "line_no",
    "account_id",
    "phone",
    "email",
    "order_ts",
    "product_id",
    "category",
    "quantity",
    "unit_price",
    "discount_amount",
    "coupon_code",
    "channel",
    "status",
    "ship_city",
)
COUPON_PROB = (0.15, 0.60, 0.10, 0.35, 0.10, 0.05)
PROMO_PROB = (0.05, 0.30, 0.05, 0.10, 0.05, 0.05)
EXTRA_QTY_P = ((0.25, 0.08), (0.12, 0.03), (0.10, 0.02), (0.12, 0.03), (0.12, 0.03), (0.10, 0.02))
BAD_QUANTITIES = ("two", "1x", "N/A", "?", "1,0", "一")
N_DIRTY_KINDS = 3  # negative unit_price, non-numeric quantity, missing order_id
ORDER_KEYS = ("person_key", "day", "s")
LINE_KEYS = ("person_key", "day", "s", "i")


def _money(x: Column) -> Column:
    return x.cast("decimal(12,2)").cast("string")


def _buyer_contacts(seed: int) -> dict[str, Column]:
    """Canonical phone/e-mail written on the order (before raw formatting)."""
    u_phone = rand.uniform(seed, "order_phone", *ORDER_KEYS)
    u_mail = rand.uniform(seed, "order_email", *ORDER_KEYS)
    placeholder_phone = rand.pick_uniform(identifiers.PLACEHOLDER_PHONES, seed, "order_ph_pick", *ORDER_KEYS)
    placeholder_mail = rand.pick_uniform(identifiers.PLACEHOLDER_EMAILS, seed, "order_em_pick", *ORDER_KEYS)
    guest = F.col("is_guest_order")
    phone = (
        F.when(F.col("is_call_centre"), F.lit(identifiers.CALL_CENTRE_PHONE))
        .when(guest & F.col("phone").isNotNull(), F.col("phone"))
        .when(guest, placeholder_phone)
        .when(F.col("phone").isNotNull() & (u_phone < F.lit(0.80)), F.col("phone"))
        .when(u_phone < F.lit(0.83), placeholder_phone)
    )
    email = (
        F.when(guest & F.col("email").isNotNull(), F.col("email"))
        .when(guest & (u_mail < F.lit(0.2)), placeholder_mail)
        .when(guest, F.lit(None).cast("string"))
        .when(F.col("email").isNotNull() & (u_mail < F.lit(0.5)), F.col("email"))
        .when(u_mail < F.lit(0.53), placeholder_mail)
    )
    return {"phone_canonical": phone, "email_canonical": email}


def order_id_column(spec: Spec) -> Column:
    """The order id of the order a session carries (``O<yyyymmdd><scrambled person><session>``).

    The clickstream's checkout events carry the same id, as a shop's order-confirmation tracking does.
    """
    digits = identifiers.account_digits(spec.n_persons)
    date = activity.date_string(spec.start_date, F.col("day"))
    return F.concat(
        F.lit("O"),
        F.regexp_replace(date, "-", ""),
        F.lpad(rand.scramble("person_key", 10**digits, 2_718_281, 77).cast("string"), digits, "0"),
        F.col("s").cast("string"),
    )


def lines(sessions: DataFrame, spec: Spec) -> DataFrame:
    """Order-line rows (all string columns of ``COLUMNS``) plus ``date``, ``_dirty``, ``_dup``."""
    seed = spec.seed
    orders = sessions.where(F.col("is_order")).withColumns(_buyer_contacts(seed))
    df = orders.withColumn("i", F.explode(F.sequence(F.lit(0), F.col("n_lines") - F.lit(1))))
    date = activity.date_string(spec.start_date, F.col("day"))
    order_id = order_id_column(spec)
    df = df.withColumns(
        {
            "checkout_e": F.col("n_browse") + F.col("n_lines"),
            "u_qty": rand.uniform(seed, "quantity", *LINE_KEYS),
            "has_coupon": rand.uniform(seed, "coupon", *ORDER_KEYS) < by_archetype(COUPON_PROB),
            "coupon_idx": rand.randint(seed, "coupon_code", len(catalog.COUPONS), *ORDER_KEYS),
            "promo": rand.uniform(seed, "promo", *LINE_KEYS) < by_archetype(PROMO_PROB),
            "product_number": activity.line_product(seed, "i"),
        }
    )
    phone_hours_ms = F.lit(3_600_000) + rand.randint(seed, "call_centre_ms", 9 * 3_600_000, *ORDER_KEYS)
    checkout_ms = F.col("start_ms") + activity.event_offset_ms(seed, "checkout_e")
    order_ms = F.when(F.col("is_call_centre"), phone_hours_ms).otherwise(checkout_ms)
    u_qty = F.col("u_qty")
    promo_rate = F.when(
        F.col("promo"), F.lit(0.05) + F.lit(0.15) * rand.uniform(seed, "promo_rate", *LINE_KEYS)
    ).otherwise(F.lit(0.0))
    df = df.withColumns(
        {
            "unit_price_d": catalog.product_price(seed, "product_number"),
            "quantity_i": (
                F.lit(1)
                + (u_qty < by_archetype([p[0] for p in EXTRA_QTY_P])).cast("int")
                + (u_qty < by_archetype([p[1] for p in EXTRA_QTY_P])).cast("int")
            ),
            "rate": F.when(F.col("has_coupon"), rand.pick(catalog.COUPON_RATES, "coupon_idx")).otherwise(promo_rate),
            "u_status": rand.uniform(seed, "status", *ORDER_KEYS),
        }
    )
    ship_city = F.when(
        rand.uniform(seed, "ship_elsewhere", *ORDER_KEYS) < F.lit(0.08),
        rand.pick_uniform(catalog.CITY_NAMES, seed, "ship_city", *ORDER_KEYS),
    ).otherwise(F.col("city"))
    fields = {
        "order_id": order_id,
        "line_no": (F.col("i") + F.lit(1)).cast("string"),
        "account_id": F.when(~F.col("is_guest_order"), F.col("account_id")),
        "phone": identifiers.raw_phone(F.col("phone_canonical"), rand.uniform(seed, "raw_phone", *ORDER_KEYS)),
        "email": identifiers.raw_email(F.col("email_canonical"), rand.uniform(seed, "raw_email", *ORDER_KEYS)),
        "order_ts": F.concat(date, F.lit(" "), activity.time_string(order_ms, millis=False)),
        "product_id": catalog.product_id(F.col("product_number")),
        "category": catalog.product_category(F.col("product_number")),
        "quantity": F.col("quantity_i").cast("string"),
        "unit_price": _money(F.col("unit_price_d")),
        "discount_amount": _money(F.round(F.col("unit_price_d") * F.col("quantity_i") * F.col("rate"), 2)),
        "coupon_code": F.when(F.col("has_coupon"), rand.pick(catalog.COUPON_CODES, "coupon_idx")),
        "channel": F.when(F.col("is_call_centre"), F.lit("call_center")).otherwise(F.col("channel")),
        "status": rand.pick(model.ORDER_STATUSES, rand.weighted_index("u_status", model.ORDER_STATUS_SHARES)),
        "ship_city": ship_city,
    }
    df = df.select(*LINE_KEYS, *[v.alias(k) for k, v in fields.items()])
    df = dirty.with_markers(df, seed, "orders", spec.dirty_fraction, N_DIRTY_KINDS, *LINE_KEYS)
    damaged = F.col("_dirty")
    df = df.withColumns(
        {
            "unit_price": F.when(
                damaged & (F.col("_kind") == F.lit(0)), F.concat(F.lit("-"), F.col("unit_price"))
            ).otherwise(F.col("unit_price")),
            "quantity": F.when(
                damaged & (F.col("_kind") == F.lit(1)),
                rand.pick_uniform(BAD_QUANTITIES, seed, "bad_quantity", *LINE_KEYS),
            ).otherwise(F.col("quantity")),
            "order_id": F.when(damaged & (F.col("_kind") == F.lit(2)), F.lit(None).cast("string")).otherwise(
                F.col("order_id")
            ),
        }
    )
    out = df.select(activity.date_string(spec.start_date, F.col("day")).alias("date"), *COLUMNS, "_dirty", "_dup")
    return dirty.with_duplicates(out)
