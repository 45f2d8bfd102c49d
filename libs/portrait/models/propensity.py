"""Propensity models: a GBT classifier on the portrait, tuned, then calibrated.

One function trains any binary label built in `models.labels` (purchase, churn): TPE over depth,
iterations, step size and subsampling rate on a person split of the train rows, a refit on all
train rows, and a calibration stage fitted on the calibration persons (`models.calibration`). It returns the model and its
report on the out-of-time test; MLflow logging and promotion are the caller's (`train.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier
from pyspark.sql import DataFrame

from portrait.keys import in_share
from portrait.models import calibration, evaluation
from portrait.models.evaluation import Report
from portrait.models.inputs import input_stages
from portrait.models.labels import TrainingSets, with_purchase_label  # noqa: F401 - re-exported

VALIDATION_FRACTION = 0.25  # share of train persons that score the tuning trials


def split_by_person(df: DataFrame, *, fraction: float, salt: str) -> tuple[DataFrame, DataFrame]:
    """(rest, held_out): each person lands entirely on one side."""
    held = in_share(salt, fraction)
    return df.where(~held), df.where(held)


def build_pipeline(feature_cols: list[str], params: dict, *, seed: int) -> Pipeline:
    gbt = GBTClassifier(
        labelCol="label",
        featuresCol="features",
        seed=seed,
        maxDepth=params["max_depth"],
        maxIter=params["max_iter"],
        stepSize=params["step_size"],
        subsamplingRate=params.get("subsampling_rate", 1.0),
    )
    return Pipeline(stages=[*input_stages(feature_cols), gbt])


def tune(
    train: DataFrame,
    feature_cols: list[str],
    *,
    minimise: Callable,
    space: dict,
    max_evals: int,
    seed: int,
    on_trial: Callable[[dict, dict], None],
) -> tuple[dict, float]:
    """Pick GBT parameters by validation AUC on a person split of `train`.

    `on_trial(params, metrics)` is called after every trial (the caller logs it to MLflow).
    """
    fit_part, valid = split_by_person(train, fraction=VALIDATION_FRACTION, salt="validation")

    def objective(params: dict) -> float:
        model = build_pipeline(feature_cols, params, seed=seed).fit(fit_part)
        metrics = {"auc": evaluation.model_auc(model, valid)}
        on_trial(params, metrics)
        return -metrics["auc"]

    return minimise(objective, space, max_evals=max_evals, seed=seed)


@dataclass
class Trained:
    model: PipelineModel  # input stages, GBT, calibration (calibrator.ScoreCalibrator)
    params: dict
    valid_auc: float  # best tuning trial
    test: Report  # on the out-of-time test rows
    calibration: dict[str, float] = field(default_factory=dict)  # candidates' held-out log-loss


def train_propensity(
    sets: TrainingSets,
    feature_cols: list[str],
    *,
    minimise: Callable,
    space: dict,
    max_evals: int,
    seed: int,
    on_trial: Callable[[dict, dict], None],
) -> Trained:
    """Tune on `sets.train`, refit on it, calibrate on `sets.calibration`, report on `sets.test`."""
    params, loss = tune(
        sets.train, feature_cols, minimise=minimise, space=space, max_evals=max_evals, seed=seed, on_trial=on_trial
    )
    return fit_calibrated(sets, feature_cols, params, seed=seed, valid_auc=-loss)


def fit_calibrated(
    sets: TrainingSets, feature_cols: list[str], params: dict, *, seed: int, valid_auc: float = float("nan")
) -> Trained:
    """Fit the GBT with `params` on `sets.train`, append the calibration stage, report on `sets.test`."""
    gbt = build_pipeline(feature_cols, params, seed=seed).fit(sets.train)
    model, losses = calibration.calibrate(gbt, sets.calibration)
    return Trained(
        model=model,
        params=params,
        valid_auc=valid_auc,
        test=evaluation.evaluate(model, sets.test, feature_cols),
        calibration=losses,
    )
