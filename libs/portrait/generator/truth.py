"""The truth behind the landing zone: persons, shared identifiers, social labels.

Never read by the pipeline; tests and benchmarks compare the pipeline's output with it.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import activity, identifiers, model
from .spec import Spec

CHURN_LOOKBACK_DAYS = 90


def persons(persons_df: DataFrame, visit_days: DataFrame, spec: Spec) -> DataFrame:
    """One row per person with archetype, canonical identifiers and future outcomes.

    ``purchase_prob`` is 1 - exp(-c Σλ) over the ``horizon_days`` after ``end_date`` and
    ``purchased_in_horizon`` a draw with that probability; ``churn_prob`` is the
    probability of no visit and no order in the ``churn_days`` after ``end_date`` for persons
    active (a visit or order) in the last 90 days of history, else 0, and ``churned`` its draw.

    Args:
        persons_df: ``spec.persons(spark)``.
        visit_days: ``activity.visits(spark, spec)`` (person-days with a visit or an order).
        spec: the run's parameters.
    """
    days = spec.days
    lookback = min(CHURN_LOOKBACK_DAYS, days)
    recent = (
        visit_days.where(F.col("day") >= F.lit(days - lookback))
        .groupBy("person_key")
        .agg(F.max("day").alias("last_active_day"))
    )
    df = persons_df.join(recent, on="person_key", how="left").withColumns(
        {
            "purchase_prob": model.purchase_prob(days=days, horizon_days=spec.horizon_days),
            "quiet_prob": model.quiet_prob(days=days, churn_days=spec.churn_days),
        }
    )
    active = F.col("last_active_day").isNotNull()
    bought, quiet = model.future_draws(
        spec.seed,
        purchase=F.col("purchase_prob"),
        quiet=F.col("quiet_prob"),
        coupled=spec.horizon_days <= spec.churn_days,
    )
    return df.select(
        F.col("person_key").cast("long").alias("person_key"),
        "archetype",
        "account_id",
        "cookies",
        "phone",
        "email",
        "wechat_id",
        "preferred_categories",
        "purchase_prob",
        bought.alias("purchased_in_horizon"),
        (active & quiet).alias("churned"),
        F.when(active, F.col("quiet_prob")).otherwise(F.lit(0.0)).alias("churn_prob"),
        active.alias("active_in_history"),
        "name",
        "gender",
        "birth_year",
        "city",
        "city_tier",
        activity.date_string(spec.start_date, F.col("signup_day")).cast("date").alias("signup_date"),
        F.col("pref_channel").alias("preferred_channel"),
        "social_author_ids",
    )


def shared_identifiers(spark: SparkSession, persons_df: DataFrame) -> DataFrame:
    """Identifier values deliberately used by several persons: ``id_type``, ``value``, ``kind``,
    ``n_persons`` (persons the generator gave it; null for placeholders, used by anyone)."""
    cookie = F.explode(
        F.array(
            F.struct(F.col("family_cookie").alias("value"), F.lit("family_device").alias("kind")),
            F.struct(F.col("kiosk_cookie").alias("value"), F.lit("kiosk").alias("kind")),
        )
    )
    cookies = (
        persons_df.select(cookie.alias("c"))
        .select("c.value", "c.kind")
        .where(F.col("value").isNotNull())
        .groupBy("value", "kind")
        .agg(F.count(F.lit(1)).alias("n_persons"))
        .select(F.lit("anonymous_id").alias("id_type"), "value", "kind", "n_persons")
    )
    fixed = (
        [("phone", p, "placeholder") for p in identifiers.PLACEHOLDER_PHONES]
        + [("email", e, "placeholder") for e in identifiers.PLACEHOLDER_EMAILS]
        + [("phone", identifiers.CALL_CENTRE_PHONE, "call_centre")]
    )
    schema = T.StructType([T.StructField(name, T.StringType(), False) for name in ("id_type", "value", "kind")])
    fixed_df = spark.createDataFrame(fixed, schema).withColumn("n_persons", F.lit(None).cast("long"))
    return cookies.unionByName(fixed_df)
