"""Person-days, visits and sessions: the frames clickstream and orders are cut from.

Both the clickstream and the orders are derived from the same session frame, so an order
always has its checkout session (unless placed through the call centre) and its
``order_ts`` is the time of that session's checkout event.

The person-day frame is ``spark.range`` over ``day * n_persons + person_key``: Spark slices
a range into contiguous id blocks, and with the partition counts chosen here every
partition holds whole days, so the writers get one file per day without a shuffle and no
per-person data ever passes through the driver.

Sign-in: account holders stay signed in on most of their own devices (a cookie of theirs is
remembered with probability ``STAY_SIGNED_IN_SHARE``, drawn once per person and cookie): every
session there is ``signed_in`` and carries the account on every event, without a login event.
On their other cookies, and on shared family tablets and store kiosks, they log in during a
session with the archetype's ``LOGIN_PROB`` (always to check out with their account). So
nearly every own cookie of an account holder shows its account at least once in 90 days;
the cookies of persons without an account never do.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from . import catalog, identifiers, model, rand
from .persons import by_archetype
from .spec import Spec

PERSON_DAYS_PER_PARTITION = 100_000
MAX_BROWSE_EVENTS = 40
EVENT_STEP_MS = 45_000
EVENT_JITTER_MS = 40_000

# Per archetype (persons.ARCHETYPES order).
EXTRA_SESSION_P = ((0.25, 0.06), (0.22, 0.05), (0.28, 0.08), (0.22, 0.05), (0.15, 0.03), (0.08, 0.01))
BROWSE_MEAN_EXTRA = (1.8, 2.2, 2.6, 1.9, 1.6, 1.2)
LOGIN_PROB = (0.70, 0.45, 0.35, 0.60, 0.40, 0.30)
STAY_SIGNED_IN_SHARE = 0.90
EXTRA_LINE_P = ((0.40, 0.15), (0.15, 0.04), (0.10, 0.02), (0.20, 0.05), (0.15, 0.04), (0.10, 0.02))
CALL_CENTRE_ORDER_SHARE = 0.04
GUEST_CHECKOUT_SHARE = 0.08

SESSION_KEYS = ("person_key", "day", "s")
# The session frame's contract: only what clickstream and orders use, so that the explodes
# downstream do not carry the ~70 person columns along.
SESSION_COLUMNS = (
    "person_key",
    "day",
    "s",
    "arch",
    "pref_cat1",
    "pref_cat2",
    "city",
    "has_account",
    "account_id",
    "phone",
    "email",
    "n_orders",
    "is_order",
    "is_call_centre",
    "is_guest_order",
    "is_purchase",
    "n_lines",
    "n_browse",
    "start_ms",
    "session_id",
    "anonymous_id",
    "device_type",
    "channel",
    "signed_in",
    "logged_in",
)

# The person columns a session is built from (visit day columns first).
_SESSION_PERSON_COLUMNS = (
    "person_key",
    "day",
    "n_orders",
    "arch",
    "pref_cat1",
    "pref_cat2",
    "city",
    "has_account",
    "account_id",
    "phone",
    "email",
    "habit_hour",
    "pref_channel",
    "primary_device",
    "n_cookies",
    "is_family",
    "family_cookie",
    "is_kiosk_user",
    "kiosk_cookie",
)


def day_partitions(n_persons: int, days: int) -> int:
    """Partitions of the person-day range such that each holds whole days.

    Above ``PERSON_DAYS_PER_PARTITION`` persons a day is split in equal blocks (a few files
    per day); below it, partitions group whole days (a divisor of ``days``).
    """
    blocks_per_day = math.ceil(n_persons / PERSON_DAYS_PER_PARTITION)
    if blocks_per_day > 1:
        return days * blocks_per_day
    target = math.ceil(n_persons * days / PERSON_DAYS_PER_PARTITION)
    return max(d for d in range(1, days + 1) if days % d == 0 and d <= max(target, 1))


def person_days(spark: SparkSession, spec: Spec) -> DataFrame:
    """Every (person_key, day) of the window, partitioned by whole days."""
    n = spec.n_persons
    return spark.range(0, spec.days * n, 1, day_partitions(n, spec.days)).select(
        F.pmod(F.col("id"), F.lit(n)).alias("person_key"), F.floor(F.col("id") / F.lit(n)).cast("int").alias("day")
    )


def visits(spark: SparkSession, spec: Spec) -> DataFrame:
    """Person-days with a visit: ``person_key``, ``day``, ``n_orders`` (0-3).

    A person orders N ~ Poisson(λ(day)) times a day and visits on order days and with
    probability v(day) on others.
    """
    pd = spec.with_person_columns(person_days(spark, spec))
    day = F.col("day")
    n_orders = model.poisson_small(rand.uniform(spec.seed, "orders", "person_key", "day"), model.order_rate(day))
    browsing = rand.uniform(spec.seed, "visit", "person_key", "day") < model.visit_prob(day)
    return (
        pd.withColumn("n_orders", n_orders)
        .where((F.col("n_orders") > F.lit(0)) | browsing)
        .select("person_key", "day", "n_orders")
    )


def event_offset_ms(seed: int, e: str) -> Column:
    """Milliseconds from session start to the event whose index is in column ``e``
    (strictly increasing in the index)."""
    return F.col(e) * F.lit(EVENT_STEP_MS) + rand.randint(seed, "event_jitter", EVENT_JITTER_MS, *SESSION_KEYS, e)


def _cookie_stages(seed: int) -> list[dict[str, Column]]:
    """Which cookie a session runs on, and that cookie's device and channel.

    Own cookie 0 is the primary device; cookie 1 a second device (often a tablet);
    cookie 2 a newer phone. Device and channel are stable per cookie.
    """
    n_own = F.col("n_cookies")
    choice = {
        "use_kiosk": F.col("is_kiosk_user")
        & (rand.uniform(seed, "use_kiosk", *SESSION_KEYS) < F.lit(identifiers.KIOSK_SESSION_SHARE)),
        "u_family": rand.uniform(seed, "use_family", *SESSION_KEYS),
        "own_idx": F.least(
            F.floor(F.pow(rand.uniform(seed, "own_cookie", *SESSION_KEYS), F.lit(1.8)) * n_own), n_own - F.lit(1)
        ).cast("int"),
        "second_is_tablet": rand.uniform(seed, "second_device", "person_key") < F.lit(0.4),
    }
    use_family = (
        (~F.col("use_kiosk")) & F.col("is_family") & (F.col("u_family") < F.lit(identifiers.FAMILY_SESSION_SHARE))
    )
    own_idx = F.col("own_idx")
    other = F.when(F.col("primary_device") == F.lit("mobile"), F.lit("desktop")).otherwise(F.lit("mobile"))
    device = {
        "use_family": use_family,
        "own_device": (
            F.when(own_idx == F.lit(0), F.col("primary_device"))
            .when(own_idx == F.lit(1), F.when(F.col("second_is_tablet"), F.lit("tablet")).otherwise(other))
            .otherwise(F.lit("mobile"))
        ),
        "cookie_channel": rand.pick_uniform(catalog.CHANNELS, seed, "cookie_channel", "person_key", "own_idx"),
    }
    own_device = F.col("own_device")
    own_channel = (
        F.when(own_device == F.lit("desktop"), F.lit("web"))
        .when(own_device == F.lit("tablet"), F.lit("app"))
        .when(own_idx == F.lit(0), F.col("pref_channel"))
        .otherwise(F.col("cookie_channel"))
    )
    use_kiosk, use_family = F.col("use_kiosk"), F.col("use_family")
    session = {
        "anonymous_id": F.when(use_kiosk, F.col("kiosk_cookie"))
        .when(use_family, F.col("family_cookie"))
        .otherwise(identifiers.own_cookie(seed, "own_idx")),
        "device_type": F.when(use_kiosk | use_family, F.lit("tablet")).otherwise(own_device),
        "channel": F.when(use_kiosk, F.lit("web")).when(use_family, F.lit("app")).otherwise(own_channel),
    }
    return [choice, device, session]


def sessions(visit_days: DataFrame, spec: Spec, *, orders_only: bool = False) -> DataFrame:
    """One row per session of a visit day, with the person's latent and identifier columns.

    Session ``s < n_orders`` carries order ``s``: ``is_order``, ``is_call_centre`` (placed by
    phone: no checkout session), ``is_guest_order``, ``is_purchase`` (online checkout),
    ``n_lines``. Every session has ``n_browse`` browsing events, ``signed_in`` (on a remembered
    own cookie: the account on every event), ``logged_in`` (a login event in the session),
    ``start_ms`` (ms after midnight UTC), ``session_id``, ``anonymous_id``, ``device_type``
    and ``channel``. With ``orders_only`` only the sessions carrying an order are built (the
    same rows, with the same values, as in the full frame: every draw is keyed by person,
    day and session index).
    """
    seed = spec.seed
    if orders_only:
        visit_days = visit_days.where(F.col("n_orders") > F.lit(0))
    df = spec.with_person_columns(visit_days).select(*_SESSION_PERSON_COLUMNS)
    df = df.withColumn("s", F.explode(F.sequence(F.lit(0), _session_count(seed, orders_only=orders_only) - F.lit(1))))
    df = df.withColumns(_session_draws(seed))
    for stage in _cookie_stages(seed):
        df = df.withColumns(stage)
    df = df.withColumns(
        {
            "is_guest_order": F.col("is_order")
            & (F.col("is_call_centre") | ~F.col("has_account") | F.col("guest_checkout")),
            "is_purchase": F.col("is_order") & ~F.col("is_call_centre"),
        }
    )
    return _with_sign_in(df, seed).select(*SESSION_COLUMNS)


def _session_count(seed: int, *, orders_only: bool) -> Column:
    """How many sessions a visit day has: one per order, at least one, and up to two extra ones
    by archetype; with ``orders_only`` exactly one per order."""
    if orders_only:
        return F.col("n_orders")
    u_sessions = rand.uniform(seed, "n_sessions", "person_key", "day")
    return F.greatest(
        F.col("n_orders"),
        F.lit(1)
        + (u_sessions < by_archetype([p[0] for p in EXTRA_SESSION_P])).cast("int")
        + (u_sessions < by_archetype([p[1] for p in EXTRA_SESSION_P])).cast("int"),
    )


def _session_draws(seed: int) -> dict[str, Column]:
    """What a session (``s``) holds apart from its cookie: whether it carries an order and how,
    its lines and browsing events, its start time and id, and the login draw."""
    is_order = F.col("s") < F.col("n_orders")
    u_lines = rand.uniform(seed, "n_lines", *SESSION_KEYS)
    extra_browse = F.floor(-F.log1p(-rand.uniform(seed, "n_browse", *SESSION_KEYS)) * by_archetype(BROWSE_MEAN_EXTRA))
    offset_hours = F.col("s") * F.lit(5) + rand.randint(seed, "session_hour", 5, *SESSION_KEYS) - F.lit(2)
    return {
        "is_order": is_order,
        "is_call_centre": is_order
        & (rand.uniform(seed, "call_centre", *SESSION_KEYS) < F.lit(CALL_CENTRE_ORDER_SHARE)),
        "guest_checkout": rand.uniform(seed, "guest_checkout", *SESSION_KEYS) < F.lit(GUEST_CHECKOUT_SHARE),
        "n_lines": F.lit(1)
        + (u_lines < by_archetype([p[0] for p in EXTRA_LINE_P])).cast("int")
        + (u_lines < by_archetype([p[1] for p in EXTRA_LINE_P])).cast("int"),
        "n_browse": F.least(F.lit(2) + extra_browse, F.lit(MAX_BROWSE_EVENTS)).cast("int"),
        # Sessions start at the person's habitual hour (+5 h per further session), before
        # 23:00 UTC, so that a session never crosses midnight.
        "start_ms": (
            F.pmod(F.col("habit_hour") + offset_hours, F.lit(23)) * F.lit(3_600_000)
            + rand.randint(seed, "session_ms", 3_600_000, *SESSION_KEYS)
        ).cast("long"),
        "session_id": F.concat(F.lit("s_"), rand.hex16(seed, "session", *SESSION_KEYS)),
        "login_draw": rand.uniform(seed, "login", *SESSION_KEYS) < by_archetype(LOGIN_PROB),
    }


def _with_sign_in(df: DataFrame, seed: int) -> DataFrame:
    """Whether a session is signed in (an account holder's remembered own cookie, not a guest
    checkout) and whether it has a login event (to check out with the account, else the draw)."""
    remembered = (
        F.col("has_account")
        & ~F.col("use_kiosk")
        & ~F.col("use_family")
        & (rand.uniform(seed, "stay_signed_in", "person_key", "own_idx") < F.lit(STAY_SIGNED_IN_SHARE))
    )
    # A guest checkout is made signed out, even on a remembered device.
    df = df.withColumn("signed_in", remembered & ~(F.col("is_purchase") & F.col("is_guest_order")))
    return df.withColumn(
        "logged_in",
        F.col("has_account")
        & ~F.col("signed_in")
        & F.when(F.col("is_purchase"), ~F.col("is_guest_order")).otherwise(F.col("login_draw")),
    )


def line_product(seed: int, line: str) -> Column:
    """Product number of the order line whose index is in column ``line`` (clickstream and
    orders agree: the draw is keyed by person, day, session and line index)."""
    keys = (*SESSION_KEYS, line)
    return catalog.pick_product(seed, "line", catalog.pick_category(seed, "line", *keys), *keys)


def date_string(start_date, day: Column) -> Column:
    """``yyyy-MM-dd`` of day index ``day`` (time-zone independent)."""
    return F.date_add(F.lit(start_date), day).cast("string")


def time_string(ms_of_day: Column, *, millis: bool) -> Column:
    """``HH:mm:ss`` or ``HH:mm:ss.SSS`` of milliseconds after midnight (lpad: format_string is 2x slower)."""
    ms = ms_of_day.cast("long")

    def two(x: Column) -> Column:
        return F.lpad(x.cast("int").cast("string"), 2, "0")

    hms = [
        two(F.floor(ms / F.lit(3_600_000))),
        F.lit(":"),
        two(F.pmod(F.floor(ms / F.lit(60_000)), F.lit(60))),
        F.lit(":"),
        two(F.pmod(F.floor(ms / F.lit(1000)), F.lit(60))),
    ]
    if millis:
        hms += [F.lit("."), F.lpad(F.pmod(ms, F.lit(1000)).cast("int").cast("string"), 3, "0")]
    return F.concat(*hms)


def iso_ts(start_date, day: Column, ms_of_day: Column) -> Column:
    """ISO-8601 UTC string ``2026-10-03T14:22:05.123Z``."""
    return F.concat(date_string(start_date, day), F.lit("T"), time_string(ms_of_day, millis=True), F.lit("Z"))
