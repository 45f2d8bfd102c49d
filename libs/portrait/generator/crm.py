"""Customer-master extracts (CSV): a full extract on the first day, change extracts after.

Day 0 holds every account signed up before the window (and those signed up on day 0);
each later day holds the accounts created that day and the accounts whose consent changed
that day (the whole row, as of the change). A consent change flips one channel; the state
of a channel is its initial value flipped once per earlier change of that channel.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from . import activity, dirty, identifiers, rand
from .spec import Spec

COLUMNS = (
    "account_id",
    "name",
    "phone",
    "email",
    "wechat_id",
    "gender",
    "birth_year",
    "city",
    "city_tier",
    "signup_date",
    "consent_sms",
    "consent_email",
    "consent_push",
    "consent_wechat",
    "consent_updated_at",
)
CONSENT_CHANNELS = ("sms", "email", "push", "wechat")
CONSENT_SHARES = (0.55, 0.45, 0.70, 0.60)
CHANGE_RATE_PER_DAY = 0.001
CHANGE_SLOTS = 3
PLACEHOLDER_SHARE = 0.02
BAD_BIRTH_YEARS = ("unknown", "n/a", "19八五", "none", "1985.0x")
BAD_DATES = ("2023-13-45", "0000-00-00", "yesterday", "31/02/2020")
N_DIRTY_KINDS = 3  # missing account_id, non-numeric birth_year, invalid signup_date
ROW_KEYS = ("person_key", "row_key")


def _change_events(accounts: DataFrame, spec: Spec) -> DataFrame:
    """(person_key, row_key, file_day, updated_day, updated_ms, flips_<channel>) per consent change."""
    seed, days = spec.seed, spec.days
    first = F.greatest(F.col("signup_day"), F.lit(0)) + F.lit(1)
    df = accounts.select("person_key", first.alias("first")).withColumn(
        "row_key", F.explode(F.sequence(F.lit(0), F.lit(CHANGE_SLOTS - 1)))
    )
    p_slot = F.lit(CHANGE_RATE_PER_DAY) * (F.lit(days) - F.col("first")) / F.lit(CHANGE_SLOTS)
    df = df.where((F.col("first") < F.lit(days)) & (rand.uniform(seed, "consent_change", *ROW_KEYS) < p_slot))
    # Slot r changes on a day of its own third of the remaining window, so that an account
    # never has two rows in one day's extract.
    span = F.lit(days) - F.col("first")
    df = (
        df.withColumns(
            {
                "slot_from": F.col("first") + F.floor(F.col("row_key") * span / F.lit(CHANGE_SLOTS)).cast("int"),
                "slot_to": F.col("first")
                + F.floor((F.col("row_key") + F.lit(1)) * span / F.lit(CHANGE_SLOTS)).cast("int"),
            }
        )
        .where(F.col("slot_to") > F.col("slot_from"))
        .withColumn("slot_days", F.col("slot_to") - F.col("slot_from"))
    )
    df = df.select(
        "person_key",
        "row_key",
        (F.col("slot_from") + rand.randint(seed, "change_day", "slot_days", *ROW_KEYS)).alias("file_day"),
        rand.randint(seed, "change_ms", 86_400_000, *ROW_KEYS).alias("updated_ms"),
        rand.randint(seed, "change_channel", len(CONSENT_CHANNELS), *ROW_KEYS).alias("channel"),
    )
    history = (
        Window.partitionBy("person_key")
        .orderBy("file_day", "updated_ms", "row_key")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    flips = {
        f"flips_{c}": F.sum((F.col("channel") == F.lit(i)).cast("int")).over(history)
        for i, c in enumerate(CONSENT_CHANNELS)
    }
    return df.withColumns(flips).withColumn("updated_day", F.col("file_day")).drop("channel")


def _base_rows(accounts: DataFrame, spec: Spec) -> DataFrame:
    """The row of each account in the day-0 full extract or on its signup day."""
    before = F.col("signup_day") < F.lit(0)
    df = accounts.withColumn("since_signup", -F.col("signup_day"))
    return df.select(
        "person_key",
        F.lit(-1).alias("row_key"),
        F.greatest(F.col("signup_day"), F.lit(0)).alias("file_day"),
        F.when(before, F.col("signup_day") + rand.randint(spec.seed, "base_update_day", "since_signup", "person_key"))
        .otherwise(F.col("signup_day"))
        .alias("updated_day"),
        rand.randint(spec.seed, "base_update_ms", 86_400_000, "person_key").alias("updated_ms"),
        *[F.lit(0).alias(f"flips_{c}") for c in CONSENT_CHANNELS],
    )


def rows(persons: DataFrame, spec: Spec) -> DataFrame:
    """CRM rows (all string columns of ``COLUMNS``) plus ``date``, ``_dirty``, ``_dup``.

    Args:
        persons: ``spec.persons(spark)``.
        spec: the run's parameters.
    """
    seed = spec.seed
    accounts = persons.where(F.col("has_account"))
    df = spec.with_person_columns(_base_rows(accounts, spec).unionByName(_change_events(accounts, spec)))

    def account_u(salt):
        return rand.uniform(seed, "crm_" + salt, "person_key")

    def consent(i, channel):
        initial = rand.uniform(seed, "consent_" + channel, "person_key") < F.lit(CONSENT_SHARES[i])
        flipped = F.pmod(F.col(f"flips_{channel}"), F.lit(2)) == F.lit(1)
        return F.when(initial != flipped, F.lit("true")).otherwise(F.lit("false"))

    placeholder_phone = rand.pick_uniform(identifiers.PLACEHOLDER_PHONES, seed, "crm_ph_pick", "person_key")
    placeholder_mail = rand.pick_uniform(identifiers.PLACEHOLDER_EMAILS, seed, "crm_em_pick", "person_key")
    phone = F.when(account_u("phone_placeholder") < F.lit(PLACEHOLDER_SHARE), placeholder_phone).otherwise(
        F.col("phone")
    )
    fields = {
        "account_id": F.col("account_id"),
        "name": F.col("name"),
        "phone": identifiers.raw_phone(phone, rand.uniform(seed, "crm_raw_phone", *ROW_KEYS)),
        "email": F.when(account_u("email_placeholder") < F.lit(PLACEHOLDER_SHARE), placeholder_mail).otherwise(
            identifiers.raw_email(F.col("email"), rand.uniform(seed, "crm_raw_email", *ROW_KEYS))
        ),
        "wechat_id": F.when(account_u("wechat_linked") < F.lit(0.75), F.col("wechat_id")),
        "gender": F.when(account_u("gender_known") >= F.lit(0.05), F.col("gender")),
        "birth_year": F.when(account_u("birth_known") >= F.lit(0.08), F.col("birth_year").cast("string")),
        "city": F.col("city"),
        "city_tier": F.col("city_tier").cast("string"),
        "signup_date": activity.date_string(spec.start_date, F.col("signup_day")),
        **{f"consent_{c}": consent(i, c) for i, c in enumerate(CONSENT_CHANNELS)},
        "consent_updated_at": F.concat(
            activity.date_string(spec.start_date, F.col("updated_day")),
            F.lit(" "),
            activity.time_string(F.col("updated_ms"), millis=False),
        ),
    }
    df = df.select(*ROW_KEYS, "file_day", *[v.alias(k) for k, v in fields.items()])
    df = dirty.with_markers(df, seed, "crm", spec.dirty_fraction, N_DIRTY_KINDS, *ROW_KEYS)
    damaged = F.col("_dirty")
    df = df.withColumns(
        {
            "account_id": F.when(damaged & (F.col("_kind") == F.lit(0)), F.lit(None).cast("string")).otherwise(
                F.col("account_id")
            ),
            "birth_year": F.when(
                damaged & (F.col("_kind") == F.lit(1)), rand.pick_uniform(BAD_BIRTH_YEARS, seed, "bad_birth", *ROW_KEYS)
            ).otherwise(F.col("birth_year")),
            "signup_date": F.when(
                damaged & (F.col("_kind") == F.lit(2)), rand.pick_uniform(BAD_DATES, seed, "bad_date", *ROW_KEYS)
            ).otherwise(F.col("signup_date")),
        }
    )
    out = df.select(activity.date_string(spec.start_date, F.col("file_day")).alias("date"), *COLUMNS, "_dirty", "_dup")
    return dirty.with_duplicates(out)
