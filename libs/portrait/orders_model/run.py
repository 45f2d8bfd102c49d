"""The orders-only purchase model of a mapped orders export (`portrait orders-model`).

Order features as of the calibration date D (and, for training, as of earlier dates
`training_step_days` apart whose whole label window ends by D: nothing after D is known to
training), labels in (D, D + horizon_days], BG/NBD and Gamma-Gamma fitted at
each as-of date on that date's history alone (their P(alive) and expected purchases are inputs
of the GBT), feature groups kept only when they raise the GBT's validation AUC, then the model
trained exactly as the main pipeline's propensities (`models.labels.training_sets`,
`models.propensity.train_propensity`): the GBT tuned, the family (GBT, regularised logistic
regression or their blend, `models.family`) chosen by validation AUC, calibrated. The references,
and every family fitted on the training rows, are measured on the same held-out persons.
Everything is logged to one MLflow run; the model is registered as `orders_purchase_<source>`
with its `family` tag.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import reduce

import mlflow
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import registry, tuning
from portrait.config import MlflowConfig, OrdersMappingConfig, TrainConfig
from portrait.ingest.mapping import table_of
from portrait.io import Lakehouse
from portrait.models import btyd, evaluation, labels, propensity
from portrait.models.family import FAMILY_TAG, FamilyChoice, family_aucs
from portrait.models.labels import TrainingSets, training_sets
from portrait.orders_model import features as of
from portrait.orders_model.references import clv_by_decile, reference_aucs
from portrait.train.propensity import tuning_space

log = logging.getLogger(__name__)


def labelled_rows(lines: DataFrame, *, as_of_dates: list[dt.date], horizon_days: int) -> tuple[DataFrame, dict]:
    """Order features, BTYD predictions (fitted per as-of date) and labels at every date.

    Returns:
        The union of the rows and the BTYD parameters per as-of date (ISO date -> params).
    """
    days = of.purchase_days(lines).persist(StorageLevel.MEMORY_AND_DISK)
    parts, fitted = [], {}
    for d in as_of_dates:
        stats = btyd.purchase_stats(days, as_of=d)
        params = btyd.fit(stats)  # aggregated statistics only
        fitted[d.isoformat()] = params.as_dict()
        rows = of.with_order_features(lines, as_of=d, horizon_days=horizon_days).transform(
            btyd.with_clv, stats, params=params, horizon_days=horizon_days
        )
        parts.append(of.with_purchase_label(rows, lines, as_of=d, horizon_days=horizon_days))
    return reduce(DataFrame.unionByName, parts), fitted


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
    scores, columns = {}, {}
    for name, groups in candidates.items():
        columns[name] = of.BASE_FEATURES + [c for g in groups for c in of.GROUPS[g]]
        model = propensity.build_pipeline(columns[name], params, seed=seed).fit(fit_part)
        scores[name] = evaluation.model_auc(model, valid)
        log.info("orders-model feature set %s: validation AUC %.4f", name, scores[name])
    best = max(scores, key=lambda k: scores[k])
    return columns[best], scores


def _training_rows(
    lines: DataFrame, conf: TrainConfig, *, calibration_date: dt.date, horizon_days: int
) -> tuple[DataFrame, dict, list[dt.date]]:
    """Labelled rows at D and at the training as-of dates, the BTYD parameters per date, the dates."""
    # Training as-of dates whose whole label window ends by D: what a model trained on D could know.
    # (Training on dates closer to D would label them with purchases after D, the test's own period.)
    training = labels.as_of_dates(
        calibration_date, window_days=horizon_days, count=conf.training_dates - 1, step_days=conf.training_step_days
    )
    dates = [calibration_date, *training]
    rows, fitted = labelled_rows(lines, as_of_dates=sorted(dates), horizon_days=horizon_days)
    return rows.persist(StorageLevel.MEMORY_AND_DISK), fitted, dates


def _on_trial(params: dict, metrics: dict) -> None:
    with mlflow.start_run(run_name="orders-trial", nested=True):
        mlflow.log_params(params)
        mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})


@dataclass(frozen=True)
class _Fitted:
    trained: propensity.Trained
    choice: FamilyChoice
    features: list[str]
    feature_sets: dict[str, float]  # validation AUC per feature set (empty without selection)


def _fit(sets: TrainingSets, conf: TrainConfig, *, select: bool) -> _Fitted:
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
        minimise=tuning.minimise,
        space=tuning_space(conf),
        max_evals=conf.max_evals,
        seed=conf.seed,
        on_trial=_on_trial,
    )
    if trained.choice is None:
        raise RuntimeError("train_propensity returned a model without the family choice it was chosen by")
    return _Fitted(trained, trained.choice, feature_cols, set_aucs)


def _held_out(fit: _Fitted, sets: TrainingSets, *, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """(references, families): the held-out AUC of each reference and of every family (uncalibrated,
    each fitted on the training rows) on the test persons: a record next to the chosen model."""
    linear_cols = [c for c in fit.features if c not in of.SIGNED]
    references = reference_aucs(sets.train, sets.test, all_features=linear_cols)
    families = family_aucs(
        sets.train,
        sets.test,
        fit.features,
        fit.features,
        fit.trained.params,
        seed=seed,
        blend_weight=fit.choice.blend_weight,
    )
    return references, families


def _result(fit: _Fitted, sets: TrainingSets, rows: DataFrame, *, calibration_date: dt.date, seed: int) -> dict:
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


def _log(result: dict) -> None:
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


def run(
    lake: Lakehouse,
    conf: TrainConfig,
    mlflow_conf: MlflowConfig,
    *,
    source: str,
    mapping: OrdersMappingConfig,
    calibration_date: dt.date,
    horizon_days: int,
    select: bool = True,
    register: bool = True,
) -> dict:
    """Train and evaluate the orders-only purchase model of the mapped export `source`.

    Args:
        lake: the lakehouse holding the export's bronze table.
        conf: the `train` section (tuning space and budget, training dates and step, fractions, seed).
        mlflow_conf: the `mlflow` section.
        source: the mapping's name in `ingest.mappings`; `mapping` its config.
        calibration_date: D: features as of D, labels in (D, D + horizon_days].
        horizon_days: the label horizon.
        select: choose feature groups by validation AUC (else use them all).
        register: log and register the Spark model (`orders_purchase_<source>`, tagged with its `family`).

    Returns:
        `auc` (held-out, published calibrated probability of the chosen family), `auc_uncalibrated`,
        `references` (name -> held-out AUC on the same persons), `family` (the chosen one, its
        logistic weight, every family's validation AUC, the blend's at every weight, and every
        family's held-out AUC, uncalibrated, for the record), `feature_sets` (validation AUC per set),
        `features`, `params`, `btyd` (parameters at D), `clv_deciles`, row counts and base rates.
    """
    lines = of.customer_lines(lake.read(table_of(source, mapping))).persist(StorageLevel.MEMORY_AND_DISK)
    rows, fitted, dates = _training_rows(lines, conf, calibration_date=calibration_date, horizon_days=horizon_days)
    sets = training_sets(
        rows,
        oot_dates=[calibration_date],
        test_fraction=conf.test_fraction,
        calibration_fraction=conf.calibration_fraction,
    )
    registry.configure(mlflow_conf)
    with mlflow.start_run(run_name=f"orders-model-{source}-{calibration_date}"):
        mlflow.set_tags({"model": f"orders_purchase_{source}", "source": source})
        mlflow.log_params(
            {
                "calibration_date": calibration_date.isoformat(),
                "horizon_days": horizon_days,
                "as_of_dates": len(dates),
                "step_days": conf.training_step_days,
            }
        )
        fit = _fit(sets, conf, select=select)
        result = _result(fit, sets, rows, calibration_date=calibration_date, seed=conf.seed)
        result["btyd"] = fitted[calibration_date.isoformat()]
        _log(result)
        if register:
            result["model_version"] = registry.log_and_register(
                fit.trained.model, name=f"orders_purchase_{source}", tags={FAMILY_TAG: fit.trained.family.label}
            )
    rows.unpersist()
    lines.unpersist()
    log.info(
        "orders-model %s at %s: %s, AUC %.4f, references %s",
        source,
        calibration_date,
        result[FAMILY_TAG]["chosen"],
        result["auc"],
        result["references"],
    )
    return result
