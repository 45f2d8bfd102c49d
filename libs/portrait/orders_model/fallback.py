"""BG/NBD as the orders-only model when no training row can be labelled.

Every training label window must end by D (nothing after D is known to training), so the latest
training as-of date is D - horizon. When that date is not after the export's first purchase day,
no customer has a history to learn from at any training date: the model a run on D can have is
BG/NBD, fitted on the history up to D alone (it needs no label). It is calibrated on the
calibration persons at D and evaluated on the test persons at D, the same persons and labels the
main path uses (`models.labels.training_sets` with D as the only date), and registered as
`orders_purchase_<source>` with the version tag `family` = `bg_nbd`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

import mlflow
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import registry
from portrait.config import MlflowConfig, TrainConfig
from portrait.models import calibration, evaluation
from portrait.models.btyd import ClvParams
from portrait.models.btyd_stage import BgNbdPurchase
from portrait.models.family import FAMILY_TAG
from portrait.models.labels import training_sets

log = logging.getLogger(__name__)

BG_NBD = "bg_nbd"


def first_purchase_day(lines: DataFrame) -> dt.date | None:
    """The export's first purchase day (a product line that is not a return), None without one."""
    return lines.where(~F.col("is_return") & (F.col("quantity") > 0)).agg(F.min("day")).first()[0]


def no_training_row(
    calibration_date: dt.date, horizon_days: int, first_day: dt.date | None
) -> tuple[dt.date, dt.date] | None:
    """(latest possible training as-of date D - horizon, `first_day`) when that date is not after
    the export's first purchase day `first_day` (no training row can exist), else None."""
    latest = calibration_date - dt.timedelta(days=horizon_days)
    return (latest, first_day) if first_day is not None and latest <= first_day else None


def message(source: str, *, calibration_date: dt.date, horizon_days: int, latest: dt.date, first_day: dt.date) -> str:
    """The one line saying why BG/NBD is the model."""
    return (
        f"orders-model {source}: no labelled training row: the latest as-of date whose {horizon_days}-day "
        f"label window ends by {calibration_date} is {latest}, not after the export's first day {first_day}; "
        "BG/NBD, fitted on the history up to D, is the model"
    )


def summary_line(source: str, result: dict, *, short: Callable[..., str]) -> str:
    """What `portrait orders-model` prints: one line, the fallback's reason when BG/NBD is the model.

    Args:
        short: how a result is shortened for a line (`pipeline.short`).
    """
    if "no_training_row" not in result:
        return f"orders-model {source}: {short(result, limit=2000)}"
    version = result.get("model_version")
    registered = f"registered as orders_purchase_{source} v{version}" if version else "not registered"
    return f"{result['no_training_row']} (held-out AUC {result['auc']:.4f}; {registered})"


def bgnbd_model(
    rows: DataFrame, params: dict, conf: TrainConfig, *, calibration_date: dt.date, horizon_days: int
) -> tuple[PipelineModel, dict]:
    """BG/NBD with `params` (fitted at D) as a calibrated pipeline, and its held-out metrics.

    Args:
        rows: the labelled order-feature rows at D (`orders_model.labelled_rows`).

    Returns:
        The model and `auc` (calibrated), `auc_uncalibrated`, `test_rows`, `test_positive_rate`,
        `calibration_rows`.
    """
    sets = training_sets(
        rows,
        oot_dates=[calibration_date],
        test_fraction=conf.test_fraction,
        calibration_fraction=conf.calibration_fraction,
    )
    stage = BgNbdPurchase.of(ClvParams(**params), horizon_days=horizon_days)
    model, _ = calibration.calibrate(PipelineModel(stages=[stage]), sets.calibration)
    scored = evaluation.scored_rows(model, sets.test).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = scored.agg(F.count("*").alias("n"), F.avg("label").alias("rate")).first()
        metrics = {
            "auc": evaluation.auc(scored),
            "auc_uncalibrated": evaluation.auc(scored, score="p_raw"),
            "test_rows": int(counts["n"]),
            "test_positive_rate": float(counts["rate"]),
        }
    finally:
        scored.unpersist()
    return model, metrics


def run(
    rows: DataFrame,
    params: dict,
    conf: TrainConfig,
    mlflow_conf: MlflowConfig,
    *,
    source: str,
    calibration_date: dt.date,
    horizon_days: int,
    latest: dt.date,
    first_day: dt.date,
    register: bool,
) -> dict:
    """BG/NBD with `params` (fitted at D) calibrated, evaluated, logged and registered.

    Args:
        rows: the labelled order-feature rows at D (`orders_model.labelled_rows`).
        latest, first_day: the latest possible training as-of date and the export's first day.

    Returns:
        `family` (`bg_nbd`), `no_training_row` (the one line saying why), `latest_as_of_date`,
        `first_day`, `auc` (held-out, calibrated), `auc_uncalibrated`, `test_rows`,
        `test_positive_rate`, `btyd` and `model_version` when registered.
    """
    said = message(
        source, calibration_date=calibration_date, horizon_days=horizon_days, latest=latest, first_day=first_day
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    registry.configure(mlflow_conf)
    with mlflow.start_run(run_name=f"orders-model-{source}-{calibration_date}"):
        mlflow.set_tags({"model": f"orders_purchase_{source}", "source": source, "no_training_row": said})
        mlflow.log_params(
            {"calibration_date": calibration_date.isoformat(), "horizon_days": horizon_days, FAMILY_TAG: BG_NBD}
        )
        model, metrics = bgnbd_model(rows, params, conf, calibration_date=calibration_date, horizon_days=horizon_days)
        result = {
            FAMILY_TAG: {"chosen": BG_NBD},
            "no_training_row": said,
            "latest_as_of_date": latest.isoformat(),
            "first_day": first_day.isoformat(),
            **metrics,
            "btyd": params,
        }
        mlflow.log_metrics({"test_auc": result["auc"], "test_auc_uncalibrated": result["auc_uncalibrated"]})
        mlflow.log_text(json.dumps(result, indent=1, default=str), "orders_model.json")
        if register:
            result["model_version"] = registry.log_and_register(
                model, name=f"orders_purchase_{source}", tags={FAMILY_TAG: BG_NBD}
            )
    rows.unpersist()
    log.info("%s (held-out AUC %.4f)", said, result["auc"])
    return result
