"""Train: segment and purchase-propensity models, tuned, logged, registered and promoted.

Training rows are portraits at several earlier as-of dates, each labelled from the following
`horizon_days`; a hash of person_id holds out test persons. GBT parameters are tuned with TPE
(each trial a nested MLflow run), the best are refitted on all training persons and evaluated
on the held-out ones. Both models are registered and get the `champion` alias.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import mlflow
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import features, registry, tuning
from portrait.config import Config
from portrait.features.point_in_time import assert_point_in_time
from portrait.features.portrait import numeric_feature_columns
from portrait.io import Lakehouse
from portrait.models import propensity, segmentation

log = logging.getLogger(__name__)


def _lineage(lake: Lakehouse, date: dt.date) -> dict[str, str]:
    tags = {"portrait.as_of_date": date.isoformat()}
    for name in ("silver.events", "silver.orders", "silver.social", "silver.customers", "gold.portrait"):
        tags[f"delta_version.{name}"] = str(lake.version(name))
    return tags


def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, dict]:
    """Train both models with data up to `date`; return their versions and metrics."""
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    tc = cfg.train
    registry.configure(cfg.mlflow)
    lineage = _lineage(lake, date)

    dates = propensity.training_dates(date, horizon_days=tc.horizon_days, count=tc.training_dates,
                                      step_days=tc.training_step_days)
    daily = features.daily_from_silver(lake, cfg, upto=date).persist(StorageLevel.MEMORY_AND_DISK)
    rows = features.portraits(lake, cfg, dates, daily=daily)
    labelled = propensity.with_purchase_label(rows, daily, horizon_days=tc.horizon_days)
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)
    assert_point_in_time(labelled)  # every feature input precedes its label window, or training stops
    train_rows, test_rows = propensity.split_by_person(labelled, fraction=tc.test_fraction, salt="test")
    feature_cols = numeric_feature_columns(rows)
    space = {
        "max_depth": tuning.IntRange(tc.max_depth[0], tc.max_depth[1]),
        "max_iter": tuning.IntRange(tc.max_iter[0], tc.max_iter[1], 5),
        "step_size": tuning.LogRange(tc.step_size[0], tc.step_size[1]),
    }
    results: dict[str, dict] = {}

    with mlflow.start_run(run_name=f"propensity-{date}") as parent:
        mlflow.set_tags({**lineage, "model": tc.propensity_model})
        mlflow.log_params({"horizon_days": tc.horizon_days, "training_dates": ",".join(d.isoformat() for d in dates),
                           "test_fraction": tc.test_fraction, "max_evals": tc.max_evals,
                           "n_features": len(feature_cols)})
        mlflow.log_text("\n".join(feature_cols), "feature_columns.txt")

        def log_trial(params: dict, metrics: dict) -> None:
            with mlflow.start_run(run_name="trial", nested=True):
                mlflow.log_params(params)
                mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})

        best, loss = propensity.tune(train_rows, feature_cols, minimise=tuning.minimise, space=space,
                                     max_evals=tc.max_evals, seed=tc.seed, on_trial=log_trial)
        model = propensity.build_pipeline(feature_cols, best, seed=tc.seed).fit(train_rows)
        test_metrics = propensity.evaluate(model, test_rows)
        mlflow.log_params({f"best_{k}": v for k, v in best.items()})
        mlflow.log_metrics({"best_valid_auc": -loss, **{f"test_{k}": v for k, v in test_metrics.items()}})
        version = registry.log_and_register(model, name=tc.propensity_model,
                                            tags={"run_id": parent.info.run_id, **lineage})
        registry.set_champion(tc.propensity_model, version)
        results["propensity"] = {"version": version, "params": best, **{f"test_{k}": v for k, v in test_metrics.items()}}

    latest = lake.read("gold.portrait").where(F.col("as_of_date") == F.lit(date))
    with mlflow.start_run(run_name=f"segments-{date}") as seg_run:
        mlflow.set_tags({**lineage, "model": tc.segment_model})
        seg_model, seg_metrics = segmentation.fit_segments(latest, k=tc.kmeans_k, seed=tc.seed)
        profiles = [r.asDict() for r in segmentation.profile_segments(seg_model, latest).collect()]  # k rows
        names = segmentation.name_segments(profiles)
        mlflow.log_params({"k": tc.kmeans_k, "features": ",".join(segmentation.SEGMENT_FEATURES)})
        mlflow.log_metrics(seg_metrics)
        mlflow.log_text(json.dumps({names[int(p["cluster"])]: p for p in profiles}, indent=2, default=str),
                        "segment_profiles.json")
        version = registry.log_and_register(
            seg_model, name=tc.segment_model,
            tags={"run_id": seg_run.info.run_id, "segment_names": registry.segment_names_tag(names), **lineage},
        )
        registry.set_champion(tc.segment_model, version)
        results["segments"] = {"version": version, "names": names, **seg_metrics}

    daily.unpersist()
    labelled.unpersist()
    log.info("train %s: %s", date, results)
    return results
