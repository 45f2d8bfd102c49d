"""Propensity models: the best of a GBT, a logistic regression and their blend, tuned, then calibrated.

One function trains any binary label built in `models.labels` (purchase, churn): TPE over the GBT's
depth, iterations, step size and subsampling rate on a person split of the train rows, the model
family chosen on that same validation split (`models.family`: the tuned GBT, a regularised
logistic regression on the same features, or their blend), a refit of that family on all train
rows, and a calibration stage fitted on the calibration persons (`models.calibration`). It returns
the model and its report on the out-of-time test; MLflow logging and promotion are the caller's
(`train.run`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark import inheritable_thread_target
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame

from portrait.keys import in_share
from portrait.models import calibration, evaluation
from portrait.models.evaluation import Report
from portrait.models.family import GBT_FAMILY, Family, FamilyChoice, choose, pipeline
from portrait.models.labels import TrainingSets, with_purchase_label  # noqa: F401 - re-exported

VALIDATION_FRACTION = 0.25  # share of train persons that score the tuning trials


def split_by_person(df: DataFrame, *, fraction: float, salt: str) -> tuple[DataFrame, DataFrame]:
    """(rest, held_out): each person lands entirely on one side."""
    held = in_share(salt, fraction)
    return df.where(~held), df.where(held)


def build_pipeline(feature_cols: list[str], params: dict, *, seed: int) -> Pipeline:
    """The GBT family's pipeline: imputed inputs and the GBT with `params`."""
    return pipeline(GBT_FAMILY, feature_cols, [], params, seed=seed)


def validation_split(train: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(fit part, validation part) of the train rows: the persons the tuner and the family choice score."""
    return split_by_person(train, fraction=VALIDATION_FRACTION, salt="validation")


def tune(
    train: DataFrame,
    feature_cols: list[str],
    *,
    minimise: Callable,
    space: dict,
    max_evals: int,
    seed: int,
    on_trial: Callable[[dict, dict], None],
) -> tuple[dict, float, PipelineModel | None]:
    """Pick GBT parameters by validation AUC on a person split of `train`.

    `on_trial(params, metrics)` is called after every trial, in the caller's thread (the caller
    logs it to MLflow, whose active run is the thread's): `minimise` may fit trials in threads.

    Returns:
        The best parameters, their loss, and the GBT pipeline the best trial fitted on the fit
        persons (None if the tuner's answer is not a trial's parameters), so that the family choice
        does not fit it a second time.
    """
    fit_part, valid = validation_split(train)
    fitted: dict[tuple, tuple[PipelineModel, dict]] = {}  # by the trial's parameters
    lock = threading.Lock()

    def objective(params: dict) -> float:
        model = build_pipeline(feature_cols, params, seed=seed).fit(fit_part)
        metrics = {"auc": evaluation.model_auc(model, valid)}
        with lock:
            fitted[_key(params)] = (model, metrics)
        return -metrics["auc"]

    top: list = []  # (key, AUC) of the first best trial logged so far: trials are logged in trial order

    def logged(params: dict, _loss: float) -> None:
        key = _key(params)
        metrics = fitted[key][1]
        on_trial(params, metrics)
        # Keep the model of the first best trial only (the tuner answers it): the others are dropped.
        beaten = top and metrics["auc"] > top[1]
        dropped = [top[0]] if beaten else ([key] if top and key != top[0] else [])
        if beaten or not top:
            top[:] = [key, metrics["auc"]]
        with lock:
            for k in dropped:
                fitted.pop(k, None)

    # Each trial runs with its own copy of the caller's Spark local properties and session tags.
    spark = train.sparkSession
    params, loss = minimise(
        objective,
        space,
        max_evals=max_evals,
        seed=seed,
        on_trial=logged,
        in_thread=lambda call: inheritable_thread_target(spark)(call),
    )
    best = fitted.get(_key(params))
    return params, loss, best[0] if best is not None else None


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


@dataclass
class Trained:
    model: PipelineModel  # input stages, the family's classifier(s), calibration (calibrator.ScoreCalibrator)
    params: dict  # the GBT's tuned parameters (also those of a blend's GBT)
    valid_auc: float  # the chosen family's validation AUC (`models.family.choose`)
    test: Report  # on the out-of-time test rows
    calibration: dict[str, float] = field(default_factory=dict)  # candidates' held-out log-loss
    family: Family = GBT_FAMILY
    choice: FamilyChoice | None = None  # the validation AUCs the family was chosen on


def train_propensity(
    sets: TrainingSets,
    feature_cols: list[str],
    *,
    minimise: Callable,
    space: dict,
    max_evals: int,
    seed: int,
    on_trial: Callable[[dict, dict], None],
    logistic_cols: list[str] | None = None,
) -> Trained:
    """Tune the GBT on `sets.train`, choose the family on the same validation persons, refit it on
    `sets.train`, calibrate on `sets.calibration`, report on `sets.test`.

    Args:
        logistic_cols: the logistic regression's inputs (default: `feature_cols`).
    """
    params, _, tuned_gbt = tune(
        sets.train, feature_cols, minimise=minimise, space=space, max_evals=max_evals, seed=seed, on_trial=on_trial
    )
    linear = feature_cols if logistic_cols is None else logistic_cols
    fit_part, valid = validation_split(sets.train)
    choice = choose(fit_part, valid, feature_cols, linear, params, seed=seed, fitted_gbt=tuned_gbt)
    trained = fit_calibrated(
        sets, feature_cols, params, seed=seed, valid_auc=choice.auc, family=choice.family, logistic_cols=linear
    )
    trained.choice = choice
    return trained


def fit_calibrated(
    sets: TrainingSets,
    feature_cols: list[str],
    params: dict,
    *,
    seed: int,
    valid_auc: float = float("nan"),
    family: Family = GBT_FAMILY,
    logistic_cols: list[str] | None = None,
) -> Trained:
    """Fit `family` (the GBT with `params` by default) on `sets.train`, append the calibration
    stage, report on `sets.test`."""
    linear = feature_cols if logistic_cols is None else logistic_cols
    fitted = pipeline(family, feature_cols, linear, params, seed=seed).fit(sets.train)
    model, losses = calibration.calibrate(fitted, sets.calibration)
    return Trained(
        model=model,
        params=params,
        valid_auc=valid_auc,
        test=evaluation.evaluate(model, sets.test, [*feature_cols, *(c for c in linear if c not in feature_cols)]),
        calibration=losses,
        family=family,
    )
