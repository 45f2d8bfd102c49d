"""The recommender trained in the train stage: time-split check, fit, MLflow, registry, rankings.

The check fits ALS on the `lookback_days` before D - `test_days` and measures precision@k and
recall@k on what persons bought in the `test_days` after, against popularity and the person's own
history (logged to MLflow, nested under the run). The version fitted on the `lookback_days` up to
D is registered; it becomes champion, and its rankings replace gold.recommendations, only when ALS
beat popularity on the check. Otherwise the champion and the table stay as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import mlflow
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from portrait import catalog, registry
from portrait.config_models import RecommenderConfig
from portrait.io import Lakehouse
from portrait.models import recommend

log = logging.getLogger(__name__)


def train_recommender(
    lake: Lakehouse,
    conf: RecommenderConfig,
    *,
    seed: int,
    lineage: dict[str, str],
    date: dt.date,
) -> dict:
    """Check, fit, log and register the recommender as of `date`; return its version and metrics."""
    events, orders = lake.read(catalog.SILVER_EVENTS), lake.read(catalog.SILVER_ORDERS)
    params = {**conf.als_params, "seed": seed}
    with mlflow.start_run(run_name=f"recommender-{date}"):
        mlflow.set_tags({**lineage, "model": conf.model_name})
        mlflow.log_params(
            {**conf.als_params, "k": conf.k, "lookback_days": conf.lookback_days, "test_days": conf.test_days}
        )
        mlflow.log_param("weights", json.dumps(conf.weights, sort_keys=True))
        metrics = recommend.evaluate_split(
            events,
            orders,
            cut=date - dt.timedelta(days=conf.test_days),
            end=date,
            lookback_days=conf.lookback_days,
            exclude_days=conf.exclude_days,
            weights=conf.weights,
            k=conf.k,
            keep=conf.keep,
            als_params=params,
        )
        mlflow.log_metrics(metrics)
        k = conf.k
        beats = metrics[f"als_precision_at_{k}"] > metrics[f"popularity_precision_at_{k}"]
        decision = (
            f"ALS precision@{k} {metrics[f'als_precision_at_{k}']:.4f} "
            f"{'>' if beats else '<='} popularity {metrics[f'popularity_precision_at_{k}']:.4f} "
            f"on {int(metrics['test_persons'])} persons of the time split"
        )
        strengths = recommend.interactions(
            events,
            orders,
            start=date - dt.timedelta(days=conf.lookback_days - 1),
            end=date,
            weights=conf.weights,
        )
        model, users, items = recommend.fit(strengths, **params)  # type: ignore[arg-type]
        popular = recommend.popularity(strengths, conf.keep)
        mlflow.set_tags({"decision": decision, "popular_products": json.dumps(popular)})
        version = registry.log_and_register(
            PipelineModel(stages=[model]),
            name=conf.model_name,
            tags={"popular_products": json.dumps(popular), "decision": decision, "trained_date": str(date)},
        )
        if beats:
            ranked = recommend.ranked(model, users, items, conf.keep).withColumns(
                {"date": F.lit(date), "model_version": F.lit(version)}
            )
            lake.overwrite(catalog.GOLD_RECOMMENDATIONS.conform(ranked), catalog.GOLD_RECOMMENDATIONS)
            registry.set_champion(conf.model_name, version)
        else:
            registry.set_alias(conf.model_name, "challenger", version)
            log.warning("recommender version %s is not champion: %s", version, decision)
    log.info("recommender %s: version %s, %s", date, version, decision)
    return {"version": version, "promoted": beats, "decision": decision, **metrics}
