"""Train: purchase and churn propensity models and the segment model, logged, registered, gated.

For each label (purchase in the next `horizon_days`, churn over the next `churn_days`) training
rows are portraits at weekly as-of dates whose label window ends by the run date (`models.labels`).
Persons are split by a hash of person_id: test persons appear only at the latest (out-of-time)
as-of dates, the others are split again into calibration persons (at those same latest dates) and
train persons (at the earlier dates). GBT parameters are tuned with TPE (each trial a nested MLflow
run), refitted on the train rows, calibrated with isotonic regression on the calibration persons
at the latest labelled dates, and evaluated out of time (AUC,
PR-AUC, Brier, ECE, lift/gain, feature importance; metrics and plots). The registered version
becomes `champion` only if it passes the floors and beats the champion on the same out-of-time
rows (`models.promotion`); otherwise it is the `challenger`. Runs and versions carry lineage:
Delta table versions, the code version and a hash of the resolved config.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import subprocess
from importlib import metadata
from pathlib import Path

import mlflow
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import features, registry, tuning
from portrait.config import Config, TrainConfig
from portrait.features.point_in_time import assert_point_in_time
from portrait.features.portrait import numeric_feature_columns
from portrait.io import Lakehouse
from portrait.models import labels, plots, promotion, propensity, segmentation
from portrait.models.evaluation import Report
from portrait import catalog

log = logging.getLogger(__name__)

TOP_IMPORTANCES = 20  # logged as metrics; all of them go to feature_importance.json


def _lineage(lake: Lakehouse, date: dt.date) -> dict[str, str]:
    tags = {"portrait.as_of_date": date.isoformat()}
    for name in (catalog.SILVER_EVENTS, catalog.SILVER_ORDERS, catalog.SILVER_SOCIAL, catalog.SILVER_CUSTOMERS, catalog.GOLD_PORTRAIT):
        tags[f"delta_version.{name}"] = str(lake.version(name))
    return tags


def code_version() -> dict[str, str]:
    """The git commit of the package's checkout and whether it had uncommitted changes to tracked
    files; the installed package version when it is not a git checkout (or git is missing)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.SubprocessError):
        return {"code_version": f"portrait=={metadata.version('portrait')}", "code_dirty": "unknown"}
    return {"code_version": sha, "code_dirty": str(dirty).lower()}


def config_sha256(cfg: Config) -> str:
    """SHA-256 of the resolved config (`model_dump`, JSON with sorted keys)."""
    text = json.dumps(cfg.model_dump(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _labelled(label: str, rows: DataFrame, daily: DataFrame, tc: TrainConfig) -> DataFrame:
    if label == "purchase":
        return labels.with_purchase_label(rows, daily, horizon_days=tc.horizon_days)
    if label == "churn":
        return labels.with_churn_label(rows, daily, churn_days=tc.churn_days, lookback_days=tc.churn_lookback_days)
    raise ValueError(f"unknown label {label!r}: expected 'purchase' or 'churn'")


def _space(tc: TrainConfig) -> dict:
    return {
        "max_depth": tuning.IntRange(tc.max_depth[0], tc.max_depth[1]),
        "max_iter": tuning.IntRange(tc.max_iter[0], tc.max_iter[1], 5),
        "step_size": tuning.LogRange(tc.step_size[0], tc.step_size[1]),
        "subsampling_rate": tuning.LogRange(tc.subsampling_rate[0], tc.subsampling_rate[1]),
    }


def _log_report(report: Report, title: str) -> None:
    """The out-of-time report as metrics, small JSON tables and PNG plots in the active run."""
    top = report.importances[:TOP_IMPORTANCES]
    mlflow.log_metrics({**{f"test_{k}": v for k, v in report.metrics.items()},
                        **{f"importance_{r['feature']}": r["importance"] for r in top}})
    for name, table in (("calibration", report.calibration), ("deciles", report.deciles), ("roc", report.roc),
                        ("feature_importance", report.importances)):
        mlflow.log_text(json.dumps(table, indent=1), f"evaluation/{name}.json")
    for name, fig in plots.all_figures(report, title).items():
        mlflow.log_figure(fig, f"plots/{name}")
        plots.close(fig)


def _train_label(label: str, model_name: str, *, rows: DataFrame, daily: DataFrame, dates: list[dt.date],
                 feature_cols: list[str], tc: TrainConfig, lineage: dict[str, str], date: dt.date) -> dict:
    """Tune, fit, calibrate, evaluate, register and gate one propensity model; return its summary."""
    labelled = (_labelled(label, rows, daily, tc).where(F.col("as_of_date").isin([F.lit(d) for d in dates]))
                .persist(StorageLevel.MEMORY_AND_DISK))
    assert_point_in_time(labelled)  # every feature input precedes its label window, or training stops
    oot = dates[:tc.oot_dates]
    sets = labels.training_sets(labelled, oot_dates=oot, test_fraction=tc.test_fraction,
                                calibration_fraction=tc.calibration_fraction)
    policy = promotion.PromotionPolicy(margin=tc.promotion_margin, min_auc=tc.min_auc, max_ece=tc.max_ece)

    with mlflow.start_run(run_name=f"{label}-propensity-{date}") as parent:
        mlflow.set_tags({**lineage, "model": model_name, "label": label})
        mlflow.log_params({
            "label": label, "window_days": tc.horizon_days if label == "purchase" else tc.churn_days,
            "train_dates": ",".join(d.isoformat() for d in dates[tc.oot_dates:]),
            "oot_dates": ",".join(d.isoformat() for d in oot),
            "test_fraction": tc.test_fraction, "calibration_fraction": tc.calibration_fraction,
            "max_evals": tc.max_evals, "n_features": len(feature_cols), "calibration": "isotonic",
            "calibration_dates": ",".join(d.isoformat() for d in oot),
            "promotion_margin": tc.promotion_margin, "min_auc": tc.min_auc, "max_ece": tc.max_ece,
        })
        mlflow.log_text("\n".join(feature_cols), "feature_columns.txt")

        def log_trial(params: dict, metrics: dict) -> None:
            with mlflow.start_run(run_name=f"{label}-trial", nested=True):
                mlflow.set_tag("label", label)
                mlflow.log_params(params)
                mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})

        trained = propensity.train_propensity(sets, feature_cols, minimise=tuning.minimise, space=_space(tc),
                                              max_evals=tc.max_evals, seed=tc.seed, on_trial=log_trial)
        report = trained.test
        mlflow.log_params({f"best_{k}": v for k, v in trained.params.items()})
        mlflow.log_metric("best_valid_auc", trained.valid_auc)
        _log_report(report, f"{label} propensity, out-of-time test")
        version = registry.log_and_register(trained.model, name=model_name,
                                            tags={"run_id": parent.info.run_id, "label": label, **lineage})
        decision = promotion.gate(model_name, version, metrics=report.metrics, oot_rows=sets.test, policy=policy)
        mlflow.set_tags({"promoted": str(decision.promote).lower(), promotion.DECISION_TAG: decision.reason,
                         "registered_version": version})
        if decision.champion_auc is not None:
            mlflow.log_metric("champion_test_auc", decision.champion_auc)
    labelled.unpersist()
    log.info("%s model v%s %s: %s", label, version, "promoted" if decision.promote else "challenger", decision.reason)
    return {"version": version, "params": trained.params, "promoted": decision.promote,
            "decision": decision.reason, **{f"test_{k}": v for k, v in report.metrics.items()}}


def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, dict]:
    """Train the propensity and segment models with data up to `date`; return versions and metrics.

    Returns:
        {"propensity": purchase model, "churn": churn model, "segments": segment model}, each with
        its registered `version`, and for the propensities `promoted`, `decision` and `test_*` metrics.
    """
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    tc = cfg.train
    registry.configure(cfg.mlflow)
    lineage = {**_lineage(lake, date), **code_version(), "config_sha256": config_sha256(cfg)}

    label_dates = {
        label: labels.as_of_dates(date, window_days=window, count=tc.training_dates, step_days=tc.training_step_days)
        for label, window in (("purchase", tc.horizon_days), ("churn", tc.churn_days))
    }
    all_dates = sorted(set().union(*label_dates.values()))
    daily = features.daily_from_silver(lake, cfg, upto=date).persist(StorageLevel.MEMORY_AND_DISK)
    rows = features.portraits(lake, cfg, all_dates, daily=daily).persist(StorageLevel.MEMORY_AND_DISK)
    feature_cols = numeric_feature_columns(rows)
    results: dict[str, dict] = {}
    for key, label, model_name in (("propensity", "purchase", tc.propensity_model), ("churn", "churn", tc.churn_model)):
        results[key] = _train_label(label, model_name, rows=rows, daily=daily, dates=label_dates[label],
                                    feature_cols=feature_cols, tc=tc, lineage=lineage, date=date)

    latest = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    with mlflow.start_run(run_name=f"segments-{date}") as seg_run:
        mlflow.set_tags({**lineage, "model": tc.segment_model})
        seg_model, seg_metrics, curve = segmentation.fit_segments(latest, ks=tc.kmeans_ks, seed=tc.seed)
        try:
            previous, prev_version, prev_tags = registry.load_champion(tc.segment_model)
        except LookupError:
            previous, prev_version, prev_tags = None, None, {}
        mapping, mapping_note = segmentation.stable_segment_ids(
            seg_model, previous, json.loads(prev_tags.get("cluster_to_segment", "{}")), previous_version=prev_version)
        if mapping_note.startswith("changed"):
            log.warning("segments: cluster -> segment id %s", mapping_note)
        profiles = [r.asDict() for r in segmentation.profile_segments(seg_model, latest, mapping).collect()]  # k rows
        names = segmentation.name_segments(profiles)
        mlflow.log_params({"k_range": ",".join(map(str, tc.kmeans_ks)), "k": int(seg_metrics["k"]),
                           "features": ",".join(segmentation.SEGMENT_FEATURES),
                           "inputs": ",".join(segmentation.SEGMENT_INPUTS)})
        mlflow.log_metrics(seg_metrics)
        for k, value in curve.items():
            mlflow.log_metric("silhouette_by_k", value, step=k)
        fig = segmentation.silhouette_figure(curve, int(seg_metrics["k"]))
        mlflow.log_figure(fig, "plots/silhouette_by_k.png")
        plots.close(fig)
        described = [{**p, "name": names[int(p["segment_id"])]} for p in profiles]
        mlflow.log_text(json.dumps(described, indent=2, default=str), "segment_profiles.json")
        mlflow.log_text(segmentation.profiles_markdown(profiles, names), "segment_profiles.md")
        mlflow.set_tags({"segment_mapping": mapping_note})
        version = registry.log_and_register(
            seg_model, name=tc.segment_model,
            tags={"run_id": seg_run.info.run_id, "segment_names": registry.segment_names_tag(names),
                  "cluster_to_segment": json.dumps({str(c): s for c, s in sorted(mapping.items())}),
                  "segment_mapping": mapping_note, **lineage},
        )
        registry.set_champion(tc.segment_model, version)
        results["segments"] = {"version": version, "names": names, "cluster_to_segment": mapping,
                               "silhouette_by_k": curve, **seg_metrics}

    daily.unpersist()
    rows.unpersist()
    log.info("train %s: %s", date, results)
    return results
