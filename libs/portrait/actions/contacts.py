"""Contact history (gold.actions_sent) -> the caps' state per person on a scoring date.

Holdout rows count as sent: a control person is capped exactly as a treated one would be, so the
two groups stay comparable day after day (`portrait.evaluate`).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.actions.policy import Policy

WINDOW_DAYS = 7  # the rolling window of `Caps.max_per_7d`


def lookback_days(policy: Policy) -> int:
    """How many days of history the caps and cooldowns can look at."""
    return max([WINDOW_DAYS, policy.caps.quiet_days, *[a.cooldown_days for a in policy.actions]])


def history_window(policy: Policy, date: dt.date, *, include_date: bool = False) -> Column:
    """Rows of gold.actions_sent that can cap `date`: strictly before it (a rerun of `date`
    replaces that date, it never caps itself) and within `lookback_days`. `include_date`: the
    contacts of `date` itself count too (the live job: an earlier contact today caps the next)."""
    start = date - dt.timedelta(days=lookback_days(policy))
    through = F.col("date") <= F.lit(date) if include_date else F.col("date") < F.lit(date)
    return through & (F.col("date") >= F.lit(start))


def days_since_column(action: str) -> str:
    """The contact-state column holding the days since `action` was last chosen for a person."""
    return f"days_since_{action}"


def contact_state(history: DataFrame, policy: Policy, *, date: dt.date, include_date: bool = False) -> DataFrame:
    """Per person with a recent action: `sent_7d` (actions in the 6 days before `date`, so that
    today's would be the 7th day), `days_since_last_action` and `days_since_<action>` per action.

    Args:
        history: gold.actions_sent (date, person_id, action, ...), any dates.
        policy: the policy whose actions and caps apply.
        date: the scoring date.
        include_date: count the contacts of `date` too (age 0: `sent_7d` then spans `date` and the
            6 days before it, the 7 days a new contact of `date` falls in).
    """
    recent = history.where(history_window(policy, date, include_date=include_date))
    age = F.datediff(F.lit(date), F.col("date"))
    return recent.groupBy("person_id").agg(
        F.count(F.when(age < WINDOW_DAYS, True)).cast("int").alias("sent_7d"),
        F.min(age).alias("days_since_last_action"),
        *[F.min(F.when(F.col("action") == a.name, age)).alias(days_since_column(a.name)) for a in policy.actions],
    )
