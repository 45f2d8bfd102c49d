"""Fitting and reporting the orders-only model on labelled rows: the feature groups kept, the
propensity trained as `train` trains it (the family chosen on validation), the held-out
comparisons and what is logged (`orders_model.run` reads the rows and owns the MLflow run)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mlflow
from pyspark import inheritable_thread_target
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import tuning
from portrait.config import TrainConfig
from portrait.models import evaluation, propensity
from portrait.models.family import BLEND, FAMILY_TAG, FamilyChoice, family_aucs
from portrait.models.labels import TrainingSets
from portrait.orders_model import features as of
from portrait.orders_model.references import clv_by_decile, reference_aucs
from portrait.train.propensity import tuning_space

log = logging.getLogger(__name__)
SELECTION_THREADS = 2  # feature-set fits at once


def select_groups(train: DataFrame, *, seed: int) -> tuple[list[str], dict[str, float]]:
    """Keep the feature groups that help, by validation AUC on a person split of `train`.

    Fits the GBT with fixed middle-of-the-space parameters on: the base features, all groups, and
    all groups but one (for each group). Returns the best set and every set's validation AUC.
    """
    fit_part, valid = propensity.split_by_person(train, fraction=propensity.VALIDATION_FRACTION, salt="validation")
    params = {"max_depth": 3, "max_iter": 40, "step_size": 0.1, "subsampling_rate": 0.8}
    candidates = (
        {"base": []}
        | {"all": list(of.GROUPS)}
        | {  # type: ignore[var-annotated]
            f"all_but_{g}": [h for h in of.GROUPS if h != g] for g in of.GROUPS
        }
    )
    columns = {
        name: of.BASE_FEATURES + [c for g in groups for c in of.GROUPS[g]] for name, groups in candidates.items()
    }

    def score(name: str) -> float:
        model = propensity.build_pipeline(columns[name], params, seed=seed).fit(fit_part)
        auc = evaluation.model_auc(model, valid)
        log.info("orders-model feature set %s: validation AUC %.4f", name, auc)
        return auc

    # The fits are independent (each its own seed-fixed GBT): two at a time, so that one's Spark jobs
    # run while the other's wait on the scheduler (a small fit is hundreds of jobs of a few tasks).
    # Each fit runs with its own copy of the caller's Spark local properties (job group, scheduler
    # pool): `inheritable_thread_target(session)` copies them when called, here, once per fit.
    spark = train.sparkSession
    with ThreadPoolExecutor(max_workers=SELECTION_THREADS) as pool:
        running = {
            name: pool.submit(inheritable_thread_target(spark)(functools.partial(score, name))) for name in columns
        }
        scores = {name: fit.result() for name, fit in running.items()}
    best = max(scores, key=lambda k: scores[k])
    return columns[best], scores


def _on_trial(params: dict, metrics: dict) -> None:
    with mlflow.start_run(run_name="orders-trial", nested=True):
        mlflow.log_params(params)
        mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})


@dataclass(frozen=True)
class Fitted:
    trained: propensity.Trained
    choice: FamilyChoice
    features: list[str]
    feature_sets: dict[str, float]  # validation AUC per feature set (empty without selection)


def fit(sets: TrainingSets, conf: TrainConfig, *, select: bool) -> Fitted:
    """The feature groups (chosen on validation, or all), then the propensity trained as `train` does:
    the GBT tuned, the family chosen on validation, calibrated."""
    feature_cols, set_aucs = (
        select_groups(sets.train, seed=conf.seed)
        if select
        else (of.BASE_FEATURES + [c for g in of.GROUPS.values() for c in g], {})
    )
    trained = propensity.train_propensity(
        sets,
        feature_cols,
        minimise=functools.partial(tuning.minimise, patience=conf.patience, parallel=conf.parallel_trials),
        space=tuning_space(conf),
        max_evals=conf.max_evals,
        seed=conf.seed,
        on_trial=_on_trial,
    )
    if trained.choice is None:
        raise RuntimeError("train_propensity returned a model without the family choice it was chosen by")
    return Fitted(trained, trained.choice, feature_cols, set_aucs)


def _held_out(fit: Fitted, sets: TrainingSets, *, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """(references, families): the held-out AUC of each reference and of every family (uncalibrated,
    each fitted on the training rows) on the test persons: a record next to the chosen model."""
    linear_cols = [c for c in fit.features if c not in of.SIGNED]
    references = reference_aucs(sets.train, sets.test, all_features=linear_cols)
    # A chosen blend (at the choice's blend weight) is that very pipeline, fitted on the same rows
    # with the same parameters and seed.
    same = fit.trained.family.name == BLEND
    families = family_aucs(
        sets.train,
        sets.test,
        fit.features,
        fit.features,
        fit.trained.params,
        seed=seed,
        blend_weight=fit.choice.blend_weight,
        fitted_blend=fit.trained.model if same else None,
    )
    return references, families


def result_of(fit: Fitted, sets: TrainingSets, rows: DataFrame, *, calibration_date: dt.date, seed: int) -> dict:
    trained, choice = fit.trained, fit.choice
    references, families = _held_out(fit, sets, seed=seed)
    sizes = {
        name: df.agg(F.count("*").alias("n"), F.avg("label").alias("rate")).first()
        for name, df in (("train", sets.train), ("test", sets.test))
    }
    return {
        "auc": trained.test.metrics["auc"],
        "auc_uncalibrated": trained.test.metrics["auc_uncalibrated"],
        "references": references,
        FAMILY_TAG: {
            "chosen": trained.family.label,
            "logistic_weight": trained.family.logistic_weight,
            "valid_auc": choice.valid_auc,
            "blend_weight": choice.blend_weight,
            "valid_auc_by_weight": choice.weight_auc,
            "test_auc_uncalibrated": families,
        },
        "best_valid_auc": trained.valid_auc,
        "feature_sets": fit.feature_sets,
        "features": fit.features,
        "params": trained.params,
        "clv_deciles": clv_by_decile(rows.where(F.col("as_of_date") == F.lit(calibration_date))),
        **{f"{n}_rows": int(r["n"]) for n, r in sizes.items()},
        **{f"{n}_positive_rate": float(r["rate"]) for n, r in sizes.items()},
    }


def log_result(result: dict) -> None:
    """The result's AUCs as metrics, the family as a param, all of it as `orders_model.json`."""
    family = result[FAMILY_TAG]
    mlflow.log_metrics(
        {
            "test_auc": result["auc"],
            "test_auc_uncalibrated": result["auc_uncalibrated"],
            **{f"test_auc_{k}": v for k, v in result["references"].items()},
            **{f"valid_auc_{k}": v for k, v in result["feature_sets"].items()},
            **{f"valid_auc_{k}": v for k, v in family["valid_auc"].items()},
            **{f"test_auc_uncalibrated_{k}": v for k, v in family["test_auc_uncalibrated"].items()},
            "family_logistic_weight": family["logistic_weight"],
        }
    )
    mlflow.log_param(FAMILY_TAG, family["chosen"])
    mlflow.log_text(json.dumps(result, indent=1, default=str), "orders_model.json")
