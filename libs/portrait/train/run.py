"""Train: purchase and churn propensity models and the segment model, logged, registered, gated.

For each label (purchase in the next `horizon_days`, churn over the next `churn_days`) training
rows are portraits at weekly as-of dates whose label window ends by the run date (`models.labels`).
Persons are split by a hash of person_id: test persons appear only at the latest (out-of-time)
as-of dates, the others are split again into calibration persons (at those same latest dates) and
train persons (at the earlier dates). GBT parameters are tuned with TPE (each trial a nested MLflow
run); the GBT, a regularised logistic regression and their blend are compared on the tuner's
validation persons and the best family (`models.family`) is refitted on the train rows, calibrated
on the calibration persons at the latest labelled dates (isotonic interpolated between its block centres, or Platt scaling: whichever has the lower
held-out log-loss), and evaluated out of time (AUC, PR-AUC, Brier, ECE, lift/gain, feature
importance; metrics and plots). The registered version
becomes `champion` only if it passes the floors and beats the champion on the same out-of-time
rows (`models.promotion`, applied by `train.promotion`); otherwise it is the `challenger`. Runs and versions carry lineage:
Delta table versions, the code version and a hash of the resolved config.

With silver clickstream and orders, the product recommender (ALS, `train.recommend`) is checked
against popularity on a time split and, when it wins, writes gold.recommendations.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import catalog, features, registry
from portrait.config import Config, FeaturesConfig, MlflowConfig, TrainConfig
from portrait.features.portrait import numeric_feature_columns
from portrait.io import Lakehouse
from portrait.models import labels
from portrait.train.lineage import INPUTS, code_version, config_sha256, table_versions  # noqa: F401 - INPUTS: the stage's declared inputs
from portrait.train.propensity import train_label
from portrait.train.recommend import train_recommender
from portrait.train.segments import train_segments

log = logging.getLogger(__name__)

OUTPUTS = (catalog.GOLD_RECOMMENDATIONS,)  # and MLflow runs and registered model versions


@dataclass(frozen=True)
class RunConf:
    """What training takes from the configuration (`RunConf.of(cfg)`)."""

    train: TrainConfig  # the `train` section
    mlflow: MlflowConfig  # the tracking and registry store
    features: FeaturesConfig  # the feature settings the portraits are built with (as the features stage does)
    config_sha256: str  # the hash of the whole resolved config (`lineage.config_sha256`), a lineage tag

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.train, cfg.mlflow, cfg.features, config_sha256(cfg))


def run(lake: Lakehouse, conf: RunConf, date: dt.date) -> dict[str, dict]:
    """Train the propensity and segment models with data up to `date`; return versions and metrics.

    Returns:
        {"propensity": purchase model, "churn": churn model, "segments": segment model,
        "recommender": product recommender (precision@k against popularity)}, each with
        its registered `version`, and for the propensities `promoted`, `decision` and `test_*` metrics.
    """
    tc, features_conf = conf.train, conf.features
    registry.configure(conf.mlflow)
    lineage = {**table_versions(lake, date), **code_version(), "config_sha256": conf.config_sha256}

    label_dates = {
        label: labels.as_of_dates(date, window_days=window, count=tc.training_dates, step_days=tc.training_step_days)
        for label, window in (("purchase", tc.horizon_days), ("churn", tc.churn_days))
    }
    all_dates = sorted(set().union(*label_dates.values()))
    daily = features.daily_from_silver(lake, features_conf, upto=date).persist(StorageLevel.MEMORY_AND_DISK)
    rows = features.portraits(lake, features_conf, all_dates, daily=daily).persist(StorageLevel.MEMORY_AND_DISK)
    feature_cols = numeric_feature_columns(rows)
    results: dict[str, dict] = {}
    for key, label, model_name in (("propensity", "purchase", tc.propensity_model), ("churn", "churn", tc.churn_model)):
        results[key] = train_label(
            label,
            model_name,
            rows=rows,
            daily=daily,
            dates=label_dates[label],
            feature_cols=feature_cols,
            tc=tc,
            lineage=lineage,
            date=date,
        )

    latest = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    results["segments"] = train_segments(latest, tc, lineage=lineage, date=date)
    if tc.recommender.enabled and lake.exists(catalog.SILVER_EVENTS) and lake.exists(catalog.SILVER_ORDERS):
        results["recommender"] = train_recommender(lake, tc.recommender, seed=tc.seed, lineage=lineage, date=date)

    daily.unpersist()
    rows.unpersist()
    log.info("train %s: %s", date, results)
    return results
