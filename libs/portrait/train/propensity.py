"""One propensity model trained in the train stage: tuned, fitted, calibrated, evaluated, logged, registered, gated.

The building blocks are `models.*` (no side effects); the MLflow runs, the registration and the
promotion gate (`train.promotion`) happen here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Callable

import mlflow
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import registry, tuning
from portrait.config import TrainConfig
from portrait.features.point_in_time import assert_point_in_time
from portrait.models import labels, plots, propensity
from portrait.models.evaluation import Report
from portrait.models.family import FAMILY_TAG
from portrait.models.promotion import DECISION_TAG, PromotionPolicy
from portrait.train.promotion import gate

log = logging.getLogger(__name__)

TOP_IMPORTANCES = 20  # logged as metrics; all of them go to feature_importance.json


def _labelled(label: str, rows: DataFrame, daily: DataFrame, tc: TrainConfig) -> DataFrame:
    if label == "purchase":
        return labels.with_purchase_label(rows, daily, horizon_days=tc.horizon_days)
    if label == "churn":
        return labels.with_churn_label(rows, daily, churn_days=tc.churn_days, lookback_days=tc.churn_lookback_days)
    raise ValueError(f"unknown label {label!r}: expected 'purchase' or 'churn'")


def tuning_space(tc: TrainConfig) -> dict:
    return {
        "max_depth": tuning.IntRange(tc.max_depth[0], tc.max_depth[1]),
        "max_iter": tuning.IntRange(tc.max_iter[0], tc.max_iter[1], 5),
        "step_size": tuning.LogRange(tc.step_size[0], tc.step_size[1]),
        "subsampling_rate": tuning.LogRange(tc.subsampling_rate[0], tc.subsampling_rate[1]),
    }


def _log_report(report: Report, title: str) -> None:
    """The out-of-time report as metrics, small JSON tables and PNG plots in the active run."""
    top = report.importances[:TOP_IMPORTANCES]
    mlflow.log_metrics(
        {
            **{f"test_{k}": v for k, v in report.metrics.items()},
            **{f"importance_{r['feature']}": r["importance"] for r in top},
        }
    )
    for name, table in (
        ("calibration", report.calibration),
        ("deciles", report.deciles),
        ("roc", report.roc),
        ("feature_importance", report.importances),
    ):
        mlflow.log_text(json.dumps(table, indent=1), f"evaluation/{name}.json")
    for name, fig in plots.all_figures(report, title).items():
        mlflow.log_figure(fig, f"plots/{name}")
        plots.close(fig)


def log_family(trained: propensity.Trained) -> None:
    """The chosen family (param `family`, its logistic weight) and every family's validation AUC."""
    mlflow.log_params({FAMILY_TAG: trained.family.label, "family_logistic_weight": trained.family.logistic_weight})
    if trained.choice is not None:
        mlflow.log_metrics(
            {
                **{f"valid_auc_{name}": v for name, v in trained.choice.valid_auc.items()},
                **{f"valid_auc_logistic_weight_{w:g}": v for w, v in trained.choice.weight_auc.items()},
            }
        )


def _log_setup(label: str, dates: list[dt.date], feature_cols: list[str], tc: TrainConfig) -> None:
    """The run's settings as params, and its feature columns."""
    oot = ",".join(d.isoformat() for d in dates[: tc.oot_dates])
    mlflow.log_params(
        {
            "label": label,
            "window_days": tc.horizon_days if label == "purchase" else tc.churn_days,
            "train_dates": ",".join(d.isoformat() for d in dates[tc.oot_dates :]),
            "oot_dates": oot,
            "test_fraction": tc.test_fraction,
            "calibration_fraction": tc.calibration_fraction,
            "max_evals": tc.max_evals,
            "patience": tc.patience,
            "parallel_trials": tc.parallel_trials,
            "n_features": len(feature_cols),
            "families": "gbt, logistic, blend: by validation AUC",
            "calibration": "isotonic or platt, by two-fold log-loss",
            "calibration_dates": oot,
            "promotion_margin": tc.promotion_margin,
            "min_auc": tc.min_auc,
            "max_ece": tc.max_ece,
        }
    )
    mlflow.log_text("\n".join(feature_cols), "feature_columns.txt")


def _trial_logger(label: str) -> Callable[[dict, dict], None]:
    def log_trial(params: dict, metrics: dict) -> None:
        with mlflow.start_run(run_name=f"{label}-trial", nested=True):
            mlflow.set_tag("label", label)
            mlflow.log_params(params)
            mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})

    return log_trial


def _log_trained(trained: propensity.Trained, title: str) -> None:
    """The tuned parameters, the family, the calibration and the out-of-time report."""
    mlflow.log_params({f"best_{k}": v for k, v in trained.params.items()})
    log_family(trained)
    mlflow.log_param("calibration_method", trained.model.stages[-1].getOrDefault("method"))
    # A candidate that could not be fitted has an infinite loss: it is not logged.
    mlflow.log_metrics({f"calibration_{k}": v for k, v in trained.calibration.items() if math.isfinite(v)})
    mlflow.log_metric("best_valid_auc", trained.valid_auc)
    _log_report(trained.test, title)


def train_label(
    label: str,
    model_name: str,
    *,
    rows: DataFrame,
    daily: DataFrame,
    dates: list[dt.date],
    feature_cols: list[str],
    tc: TrainConfig,
    lineage: dict[str, str],
    date: dt.date,
) -> dict:
    """Tune, choose the family, fit, calibrate, evaluate, register and gate one propensity model; return its summary."""
    labelled = (
        _labelled(label, rows, daily, tc)
        .where(F.col("as_of_date").isin([F.lit(d) for d in dates]))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    assert_point_in_time(labelled)  # every feature input precedes its label window, or training stops
    oot = dates[: tc.oot_dates]
    sets = labels.training_sets(
        labelled, oot_dates=oot, test_fraction=tc.test_fraction, calibration_fraction=tc.calibration_fraction
    )
    policy = PromotionPolicy(margin=tc.promotion_margin, min_auc=tc.min_auc, max_ece=tc.max_ece)

    with mlflow.start_run(run_name=f"{label}-propensity-{date}") as parent:
        mlflow.set_tags({**lineage, "model": model_name, "label": label})
        _log_setup(label, dates, feature_cols, tc)
        trained = propensity.train_propensity(
            sets,
            feature_cols,
            minimise=functools.partial(tuning.minimise, patience=tc.patience, parallel=tc.parallel_trials),
            space=tuning_space(tc),
            max_evals=tc.max_evals,
            seed=tc.seed,
            on_trial=_trial_logger(label),
        )
        report = trained.test
        _log_trained(trained, f"{label} propensity, out-of-time test")
        version = registry.log_and_register(
            trained.model,
            name=model_name,
            tags={"run_id": parent.info.run_id, "label": label, FAMILY_TAG: trained.family.label, **lineage},
        )
        decision = gate(model_name, version, metrics=report.metrics, oot_rows=sets.test, policy=policy)
        mlflow.set_tags(
            {"promoted": str(decision.promote).lower(), DECISION_TAG: decision.reason, "registered_version": version}
        )
        if decision.champion_auc is not None:
            mlflow.log_metric("champion_test_auc", decision.champion_auc)
    labelled.unpersist()
    log.info(
        "%s model v%s (%s) %s: %s",
        label,
        version,
        trained.family.label,
        "promoted" if decision.promote else "challenger",
        decision.reason,
    )
    return {
        "version": version,
        FAMILY_TAG: trained.family.label,
        "params": trained.params,
        "promoted": decision.promote,
        "decision": decision.reason,
        **{f"test_{k}": v for k, v in report.metrics.items()},
    }
