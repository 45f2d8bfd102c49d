"""A blend of the GBT with the logistic regression on the same features, weighted on validation.

On the Online Retail export the logistic regression on log-scaled order features ranks buyers at
least as well as the GBT on a person split of the training rows; averaging the two probabilities
can beat both when their errors differ. The weight is chosen on that validation split only (never
on the held-out persons), and the blend is reported as what it is: a score next to the GBT, not
the registered model. Both inputs are uncalibrated P(1) (the GBT's `probability`, the logistic
regression's), so validation and held-out blend the same kind of score.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.models import evaluation, propensity
from portrait.orders_model.references import logistic

LOGISTIC_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # share of the logistic regression in the blend
KEYS = ["person_id", "as_of_date"]


def _probability(model: PipelineModel, rows: DataFrame, name: str) -> DataFrame:
    out = model.transform(rows)
    return out.select(*KEYS, "label", evaluation.raw_probability(out).alias(name))


def blend_scores(gbt: PipelineModel, linear: PipelineModel, rows: DataFrame) -> DataFrame:
    """`person_id`, `as_of_date`, `label`, `p_gbt` and `p_logistic` of labelled `rows`.

    `rows` has one row per (person_id, as_of_date), so the join pairs each row's two scores.
    """
    return _probability(gbt, rows, "p_gbt").join(
        _probability(linear, rows, "p_logistic").drop("label"), on=KEYS, how="inner"
    )


def blended(weight: float) -> Column:
    """(1 - weight) * P(1) of the GBT + weight * P(1) of the logistic regression."""
    return (F.lit(1.0 - weight) * F.col("p_gbt") + F.lit(weight) * F.col("p_logistic")).alias("p")


def weight_aucs(scores: DataFrame) -> dict[float, float]:
    """The AUC of the blend at every weight of `LOGISTIC_WEIGHTS` on `blend_scores` rows."""
    return {w: evaluation.auc(scores.select(blended(w), "label")) for w in LOGISTIC_WEIGHTS}


def choose_weight(
    train: DataFrame, gbt_cols: list[str], logistic_cols: list[str], params: dict, *, seed: int
) -> tuple[float, dict[float, float]]:
    """The logistic regression's weight with the best AUC on the tuner's validation persons.

    Fits the GBT (with the tuned `params`) and the logistic regression on the tuner's fit part of
    `train` and scores its validation part (`propensity.split_by_person`, the same split).

    Returns:
        The chosen weight and the validation AUC at every weight.
    """
    fit_part, valid = propensity.split_by_person(train, fraction=propensity.VALIDATION_FRACTION, salt="validation")
    gbt = propensity.build_pipeline(gbt_cols, params, seed=seed).fit(fit_part)
    aucs = weight_aucs(blend_scores(gbt, logistic(fit_part, logistic_cols), valid))
    return max(aucs, key=lambda w: aucs[w]), aucs
