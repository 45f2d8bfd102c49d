"""The live decisions: fired triggers through the same arbitration as the daily actions
(`actions.with_next_action`: eligibility, expected value, consent per channel, contact caps, quiet
period, cooldown and the experiment's holdout), one micro-batch at a time. Pure builders.

Each triggered action is eligible only for a person whose events fired it (`gated`); the caps count
the daily contacts (gold.actions_sent) and the live ones (gold.live_actions) together, today's
included. A trigger fires at most once per person, action and landing date (`new_fires`): a second
abandoned cart the same day, or the overlapping windows of one burst of views, decide nothing again.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.actions import NONE, Policy, with_next_action
from portrait.features.registry import CONSENT_CHANNELS


def new_fires(fired: DataFrame, decided: DataFrame) -> DataFrame:
    """One row per (date, person_id) of `fired` (the micro-batch's fired rows): the actions that
    fired for the first time that date (`decided`: gold.live_actions rows of the same dates) and
    when the first of them fired. Persons with nothing new are left out."""
    before = decided.select("date", "person_id", F.explode("fired_actions").alias("action"))
    fresh = fired.join(before, on=["date", "person_id", "action"], how="left_anti")
    return fresh.groupBy("date", "person_id").agg(
        F.max("id_type").alias("id_type"),
        F.max("id_value").alias("id_value"),
        F.array_sort(F.collect_set("action")).alias("fired_actions"),
        F.min("fired_at").alias("fired_at"),
    )


def with_context(fires: DataFrame, consent: DataFrame, propensity: DataFrame) -> DataFrame:
    """The rows the policy reads: `fires` with the person's consent per channel (false when the CRM
    does not know the person: a provisional id has none) and the latest published purchase propensity.

    Args:
        consent: one row per person_id with `consent_<channel>` (`features.portrait.person_profile`).
        propensity: one row per person_id with `purchase_propensity` (the latest published day).
    """
    rows = fires.join(consent, on="person_id", how="left").join(propensity, on="person_id", how="left")
    return rows.select(
        "date",
        "person_id",
        "id_type",
        "id_value",
        "fired_actions",
        "fired_at",
        *[F.coalesce(F.col(f"consent_{c}"), F.lit(False)).alias(f"consent_{c}") for c in CONSENT_CHANNELS],
        F.col("purchase_propensity").cast("double").alias("purchase_propensity"),
    )


def gated(policy: Policy) -> Policy:
    """The live policy with each action eligible only where its trigger fired: its `when` is
    `array_contains(fired_actions, '<name>') AND (<when>)` (names are snake_case: no quoting)."""
    actions = [
        a.model_copy(update={"when": f"array_contains(fired_actions, '{a.name}') AND ({a.when})"})
        for a in policy.actions
    ]
    return policy.model_copy(update={"actions": actions})


def decide(rows: DataFrame, policy: Policy, *, history: DataFrame, date: dt.date, holdout_share: float) -> DataFrame:
    """The decision of every row of one landing date (`with_context` output, one row per person),
    with the contacts of `date` itself counted by the caps (`include_date`)."""
    return with_next_action(
        rows, gated(policy), history=history, date=date, holdout_share=holdout_share, include_date=True
    )


def live_action_rows(decided: DataFrame, *, query_id: str, batch_id: int, decided_at: dt.datetime) -> DataFrame:
    """gold.live_actions rows of decided rows: one per person and date, sent, held out or none."""
    return catalog.GOLD_LIVE_ACTIONS.conform(
        decided.select(
            "*",
            (F.col("action") != F.lit(NONE)).alias("contacted"),
            F.lit(query_id).alias("query_id"),
            F.lit(batch_id).cast("long").alias("batch_id"),
            F.lit(decided_at).cast("timestamp").alias("decided_at"),
        )
    )
