"""Evaluate: uplift of each action, treated vs holdout, once its outcome window has passed."""

from portrait.evaluate.outcomes import action_outcomes, order_days, person_outcomes, pooled
from portrait.evaluate.run import INPUTS, OUTPUTS, RunConf, run

__all__ = ["INPUTS", "OUTPUTS", "RunConf", "action_outcomes", "order_days", "person_outcomes", "pooled", "run"]
