"""Column contracts of the published tables: name, Spark SQL type, meaning.

A published schema only grows; `conform` selects and casts a DataFrame to its contract, so a
transform cannot change a published table by accident.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

PUBLISHED_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "gold.segments_daily": [
        ("date", "date", "scoring date (portrait as of the end of this day)"),
        ("person_id", "string", "pseudonymous person id from identity resolution"),
        ("segment_id", "int", "cluster number of the segment model"),
        ("segment_name", "string", "segment name from its profile (champions, loyal, at_risk, ...)"),
        ("segment_model_version", "string", "registered version of the segment model"),
    ],
    "gold.propensity_daily": [
        ("date", "date", "scoring date"),
        ("person_id", "string", "pseudonymous person id"),
        ("purchase_propensity", "double", "probability of a completed purchase in the next horizon_days"),
        ("propensity_decile", "int", "1 = the top 10 % of propensity on this date, 10 = the lowest"),
        ("horizon_days", "int", "label horizon of the model"),
        ("propensity_model_version", "string", "registered version of the propensity model"),
        ("churn_propensity", "double", "probability of no visit and no order in the next churn_days; null for "
                                       "persons with neither in the churn lookback (train.churn_lookback_days: "
                                       "no churn to predict) or without a churn champion"),
        ("churn_days", "int", "churn window of the churn model"),
        ("churn_model_version", "string", "registered version of the churn model; null without a champion"),
    ],
    "gold.next_actions_daily": [
        ("date", "date", "scoring date"),
        ("person_id", "string", "pseudonymous person id"),
        ("action", "string", "action to send; 'none' for holdout, no consent or no rule"),
        ("intended_action", "string", "action the policy chose before consent and holdout"),
        ("channel", "string", "consented channel to send on (sms, email, push, wechat); null when none"),
        ("reason", "string", "why: the rule's reason, 'no_consent', 'holdout' or the default"),
        ("holdout", "boolean", "true if the person is in the control group (never sent an action)"),
        ("purchase_propensity", "double", "propensity used by the policy"),
        ("segment_name", "string", "segment used by the policy"),
        ("policy_version", "string", "version of conf/actions.yaml that made the row"),
        ("propensity_model_version", "string", "registered version of the propensity model"),
        ("segment_model_version", "string", "registered version of the segment model"),
    ],
}


def conform(df: DataFrame, table: str) -> DataFrame:
    """Select and cast `df` to the published contract of `table` (missing columns fail)."""
    return df.select(*[F.col(name).cast(sql_type).alias(name) for name, sql_type, _ in PUBLISHED_COLUMNS[table]])


# Columns a published table gained after lakes were written with it: added by an explicit migration
# (`Lakehouse.add_columns`) before the first write that carries them.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "gold.propensity_daily": ("churn_propensity", "churn_days", "churn_model_version"),
}


def added_columns(table: str) -> dict[str, str]:
    """The columns `table` gained since its first release, with their SQL types (for `add_columns`)."""
    types = {name: sql_type for name, sql_type, _ in PUBLISHED_COLUMNS[table]}
    return {name: types[name].upper() for name in ADDED_COLUMNS.get(table, ())}
