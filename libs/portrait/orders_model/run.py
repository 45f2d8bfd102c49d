"""The orders-only purchase model of a mapped orders export (`portrait orders-model`).

Order features as of the calibration date D (and, for training, as of earlier dates
`training_step_days` apart whose whole label window ends by D: nothing after D is known to
training), labels in (D, D + horizon_days], BG/NBD and Gamma-Gamma fitted at
each as-of date on that date's history alone (their P(alive) and expected purchases are inputs
of the GBT), the GBT tuned and calibrated exactly as the main pipeline does
(`models.labels.training_sets`, `models.propensity.train_propensity`), feature groups kept only
when they raise the validation AUC, and the references measured on the same held-out persons,
with a GBT + logistic regression blend whose weight is chosen on validation (`blend`), reported
next to them.
Everything is logged to one MLflow run; the model is registered as `orders_purchase_<source>`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
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
from portrait.models.labels import training_sets
from portrait.orders_model import blend
from portrait.orders_model import features as of
from portrait.orders_model.references import clv_by_decile, logistic, reference_aucs
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
        register: log and register the Spark model (`orders_purchase_<source>`).

    Returns:
        `auc` (held-out, published calibrated probability), `auc_uncalibrated`, `references`
        (name -> held-out AUC on the same persons), `blend` (the logistic regression's weight, chosen
        on validation, the blend's held-out AUC and its validation AUC per weight), `feature_sets`
        (validation AUC per set),
        `features`, `params`, `btyd` (parameters at D), `clv_deciles`, row counts and base rates.
    """
    lines = of.customer_lines(lake.read(table_of(source, mapping))).persist(StorageLevel.MEMORY_AND_DISK)
    # Training as-of dates whose whole label window ends by D: what a model trained on D could know.
    # (Training on dates closer to D would label them with purchases after D, the test's own period.)
    training = labels.as_of_dates(
        calibration_date, window_days=horizon_days, count=conf.training_dates - 1, step_days=conf.training_step_days
    )
    dates = [calibration_date, *training]
    rows, fitted = labelled_rows(lines, as_of_dates=sorted(dates), horizon_days=horizon_days)
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
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
        feature_cols, set_aucs = (
            select_groups(sets.train, seed=conf.seed)
            if select
            else (of.BASE_FEATURES + [c for g in of.GROUPS.values() for c in g], {})
        )

        def on_trial(params: dict, metrics: dict) -> None:
            with mlflow.start_run(run_name="orders-trial", nested=True):
                mlflow.log_params(params)
                mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})

        trained = propensity.train_propensity(
            sets,
            feature_cols,
            minimise=tuning.minimise,
            space=tuning_space(conf),
            max_evals=conf.max_evals,
            seed=conf.seed,
            on_trial=on_trial,
        )
        linear_cols = [c for c in feature_cols if c not in of.SIGNED]
        references = reference_aucs(sets.train, sets.test, all_features=linear_cols)
        weight, weight_aucs = blend.choose_weight(sets.train, feature_cols, linear_cols, trained.params, seed=conf.seed)
        blend_scores = blend.blend_scores(trained.model, logistic(sets.train, linear_cols), sets.test)
        blend_auc = evaluation.auc(blend_scores.select(blend.blended(weight), "label"))
        deciles = clv_by_decile(rows.where(F.col("as_of_date") == F.lit(calibration_date)))
        sizes = {
            name: df.agg(F.count("*").alias("n"), F.avg("label").alias("rate")).first()
            for name, df in (("train", sets.train), ("test", sets.test))
        }
        result = {
            "auc": trained.test.metrics["auc"],
            "auc_uncalibrated": trained.test.metrics["auc_uncalibrated"],
            "references": references,
            "blend": {"logistic_weight": weight, "auc": blend_auc, "valid_auc": weight_aucs},
            "best_valid_auc": trained.valid_auc,
            "feature_sets": set_aucs,
            "features": feature_cols,
            "params": trained.params,
            "btyd": fitted[calibration_date.isoformat()],
            "clv_deciles": deciles,
            **{f"{n}_rows": int(r["n"]) for n, r in sizes.items()},
            **{f"{n}_positive_rate": float(r["rate"]) for n, r in sizes.items()},
        }
        mlflow.log_metrics(
            {
                "test_auc": result["auc"],
                "test_auc_uncalibrated": result["auc_uncalibrated"],
                **{f"test_auc_{k}": v for k, v in references.items()},
                **{f"valid_auc_{k}": v for k, v in set_aucs.items()},
                "test_auc_blend": blend_auc,
                "blend_logistic_weight": weight,
            }
        )
        mlflow.log_text(json.dumps(result, indent=1, default=str), "orders_model.json")
        if register:
            result["model_version"] = registry.log_and_register(trained.model, name=f"orders_purchase_{source}")
    rows.unpersist()
    lines.unpersist()
    log.info("orders-model %s at %s: AUC %.4f, references %s", source, calibration_date, result["auc"], references)
    return result
