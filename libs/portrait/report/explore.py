"""What the notebooks call: open a lakehouse from a conf, and small aggregates for their charts.

Everything here returns a few rows (per segment, per feature, per run); the only per-person rows
are those of the one person a notebook looks at.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.config import Config, load_config
from portrait.io import Lakehouse
from portrait.models import segmentation
from portrait.models.evaluation import Report

# The portrait columns a person is compared with their segment on (radar chart).
RADAR_FEATURES = (
    "visit_days_90d",
    "sessions_30d",
    "product_views_90d",
    "cart_adds_90d",
    "orders_90d",
    "revenue_90d",
    "coupon_share_90d",
    "tenure_days",
)


@dataclass(frozen=True)
class Workspace:
    cfg: Config
    lake: Lakehouse
    date: dt.date | None


def open_workspace(conf: str, date: str | dt.date | None = None) -> Workspace:
    """Load `conf`, start (or reuse) its Spark session and open its lakehouse.

    A relative conf not found from the working directory is looked up from its parent, so a
    notebook opened in `notebooks/` finds `conf/local.yaml`, and the conf's relative paths
    (`./lakehouse`) then resolve from the repository root as they do for `make demo`.
    `date` defaults to the latest scored date of `gold.segments_daily`.
    """
    from portrait.spark import get_session

    if not Path(conf).exists() and (Path("..") / conf).exists():
        os.chdir("..")
    cfg = load_config(conf)
    lake = Lakehouse(get_session(cfg.spark), cfg.paths.lakehouse)
    day = dt.date.fromisoformat(date) if isinstance(date, str) and date else date or latest_scored_date(lake)
    return Workspace(cfg, lake, day)


def latest_scored_date(lake: Lakehouse) -> dt.date | None:
    """The newest date in `gold.segments_daily` (answered from the Delta log), None before scoring."""
    if not lake.exists(catalog.GOLD_SEGMENTS_DAILY):
        return None
    return lake.read(catalog.GOLD_SEGMENTS_DAILY).agg(F.max("date")).first()[0]


def _scored(lake: Lakehouse, date: dt.date) -> DataFrame:
    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    segments = lake.read(catalog.GOLD_SEGMENTS_DAILY).where(F.col("date") == F.lit(date))
    return portrait.join(segments.select("person_id", "segment_name"), on="person_id", how="inner")


def segment_profiles(lake: Lakehouse, date: dt.date, features=tuple(segmentation.PROFILE_FEATURES)) -> pd.DataFrame:
    """Persons and feature means per segment on `date` (one row per segment)."""
    df = _scored(lake, date)
    cols = [c for c in features if c in df.columns]
    return (
        df.groupBy("segment_name")
        .agg(F.count(F.lit(1)).alias("persons"), *[F.avg(c).alias(c) for c in cols])
        .orderBy(F.col("persons").desc())
        .toPandas()
    )


def person_vs_segment(lake: Lakehouse, person_id: str, date: dt.date, features=RADAR_FEATURES) -> pd.DataFrame:
    """Per feature: the person's value, their segment's mean, and where each stands in the date's
    population as a percentile (share of persons at or below it), the radar chart's [0, 1] scale."""
    df = _scored(lake, date)
    cols = [c for c in features if c in df.columns]
    me = df.where(F.col("person_id") == person_id).select("segment_name", *cols).first()
    if me is None:
        raise LookupError(f"person {person_id} has no portrait and segment on {date}")
    seg = df.where(F.col("segment_name") == me["segment_name"]).agg(*[F.avg(c).alias(c) for c in cols]).first()
    below = df.agg(
        *[
            F.avg((F.coalesce(F.col(c), F.lit(0)) <= F.lit(float(me[c] or 0))).cast("double")).alias(f"p_{c}")
            for c in cols
        ],
        *[
            F.avg((F.coalesce(F.col(c), F.lit(0)) <= F.lit(float(seg[c] or 0))).cast("double")).alias(f"s_{c}")
            for c in cols
        ],
    ).first()
    return pd.DataFrame(
        {
            "feature": cols,
            "person": [me[c] for c in cols],
            "segment_mean": [seg[c] for c in cols],
            "person_percentile": [below[f"p_{c}"] for c in cols],
            "segment_percentile": [below[f"s_{c}"] for c in cols],
            "segment_name": me["segment_name"],
        }
    )


def some_person(lake: Lakehouse, date: dt.date) -> str | None:
    """One person with an action on `date` (for a notebook run without a person given)."""
    actions = lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY).where(F.col("date") == F.lit(date))
    row = actions.where(F.col("action") != "none").select("person_id").orderBy("person_id").first()
    row = row or actions.select("person_id").orderBy("person_id").first()
    return None if row is None else row["person_id"]


def segment_movement(lake: Lakehouse) -> pd.DataFrame:
    """Every scored date's movement between segments (gold.segment_movement: one row per date)."""
    if not lake.exists(catalog.GOLD_SEGMENT_MOVEMENT):
        return pd.DataFrame(columns=["date", "previous_date", "persons_compared", "persons_moved", "share_moved"])
    return lake.read(catalog.GOLD_SEGMENT_MOVEMENT).orderBy("date").toPandas()


def training_runs(cfg: Config) -> pd.DataFrame:
    """Top-level training runs of the conf's experiment (newest first) with metrics and gate tags."""
    import mlflow

    from portrait import registry

    registry.configure(cfg.mlflow)
    runs = mlflow.search_runs(
        experiment_names=[cfg.mlflow.experiment],
        filter_string="tags.model != ''",
        order_by=["attributes.start_time DESC"],
    )
    if runs.empty:
        return runs
    if "tags.mlflow.parentRunId" in runs.columns:
        runs = runs[runs["tags.mlflow.parentRunId"].isna()]
    keep = [
        c
        for c in runs.columns
        if c
        in (
            "run_id",
            "start_time",
            "status",
            "tags.model",
            "tags.promoted",
            "tags.registered_version",
            "tags.promotion_decision",
            "tags.portrait.as_of_date",
        )
        or c.startswith("metrics.test_")
        or c in ("metrics.champion_test_auc", "metrics.silhouette")
    ]
    return runs[keep].reset_index(drop=True)


def run_report(cfg: Config, run_id: str) -> Report | None:
    """The out-of-time evaluation a propensity run logged (`evaluation/*.json`), as a `Report`."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from portrait import registry

    registry.configure(cfg.mlflow)
    tables = {}
    for name in ("calibration", "deciles", "roc", "feature_importance"):
        try:
            tables[name] = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/evaluation/{name}.json"))
        except (MlflowException, OSError):  # a segment run has no evaluation
            return None
    metrics = {
        k[len("test_") :]: v for k, v in MlflowClient().get_run(run_id).data.metrics.items() if k.startswith("test_")
    }
    return Report(metrics, tables["calibration"], tables["deciles"], tables["roc"], tables["feature_importance"])


def champions(cfg: Config) -> pd.DataFrame:
    """Champion and challenger of every registered model the conf names, with metrics and gate reason."""
    from portrait.inspect.status import registry_status

    models, _, note = registry_status(cfg)
    rows = [
        {"model": m.name, "alias": m.alias, "version": m.version, **m.metrics, "decision": m.decision} for m in models
    ]
    return pd.DataFrame(rows) if rows else pd.DataFrame({"note": [note]})
