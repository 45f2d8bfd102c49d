"""Evaluate (daily): the uplift of every action whose outcome window has closed, treated vs holdout.

Reads gold.actions_sent (the last `lookback_days` action dates) and silver.orders, replaces that
range of gold.action_outcomes (so a rerun, or a late order, re-measures it) and logs the pooled
uplift per action, with its 95 % CI, to MLflow.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import mlflow as mlflow_api
from pyspark.sql import functions as F

from portrait import catalog, registry
from portrait.actions import Policy, load_policy
from portrait.config_models import Config, EvaluateConfig, MlflowConfig
from portrait.evaluate.outcomes import action_outcomes, person_outcomes, pooled
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

INPUTS = (catalog.GOLD_ACTIONS_SENT, catalog.SILVER_ORDERS)
OUTPUTS = (catalog.GOLD_ACTION_OUTCOMES,)


@dataclass(frozen=True)
class RunConf:
    """What evaluate takes from the configuration (`RunConf.of(cfg)`)."""

    evaluate: EvaluateConfig  # the `evaluate` section: how far back actions are measured again
    policy: Policy  # the action policy: each action's outcome window
    mlflow: MlflowConfig | None = None  # where the uplift is logged (None: not logged)

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.evaluate, load_policy(cfg.conf_dir / cfg.score.policy_file), cfg.mlflow)


def run(lake: Lakehouse, conf: RunConf, date: dt.date) -> dict[str, object]:
    """Measure the actions of the `evaluate.lookback_days` before `date` whose windows have closed.

    Returns:
        rows written to gold.action_outcomes and, per action, the pooled uplift and its CI.
    """
    policy, mlflow = conf.policy, conf.mlflow
    start = date - dt.timedelta(days=conf.evaluate.lookback_days)
    sent = lake.read(catalog.GOLD_ACTIONS_SENT).where((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(date)))
    windows = {a.name: a.outcome_window_days for a in policy.actions}
    persons = person_outcomes(sent, lake.read(catalog.SILVER_ORDERS), windows, as_of=date)
    outcomes = action_outcomes(persons, evaluated_on=date).localCheckpoint()
    commit = lake.replace_range(
        catalog.GOLD_ACTION_OUTCOMES.conform(outcomes), catalog.GOLD_ACTION_OUTCOMES, start=start, end=date
    )
    per_action = {r["action"]: r.asDict() for r in pooled(outcomes).collect()}  # one row per action
    if mlflow is not None:
        registry.configure(mlflow)
        with mlflow_api.start_run(run_name=f"evaluate {date}"):
            mlflow_api.set_tags({"job": "evaluate", "date": date.isoformat(), "policy_version": policy.version})
            for action, m in per_action.items():
                mlflow_api.log_metrics(
                    {
                        f"{action}.{k}": float(m[k])
                        for k in (
                            "treated",
                            "control",
                            "treated_conversion",
                            "control_conversion",
                            "uplift",
                            "uplift_ci_low",
                            "uplift_ci_high",
                            "revenue_uplift",
                        )
                        if m[k] is not None
                    }
                )
    for action, m in per_action.items():
        log.info(
            "evaluate %s: %s uplift %s [%s, %s] (%s treated, %s control)",
            date,
            action,
            m["uplift"],
            m["uplift_ci_low"],
            m["uplift_ci_high"],
            m["treated"],
            m["control"],
        )
    return {"action_outcomes": commit.rows_new, "pooled": per_action}
