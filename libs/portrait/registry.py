"""MLflow: the tracking store, logging Spark models, the registry and its `champion` alias."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import mlflow.spark
from mlflow.tracking import MlflowClient
from pyspark import SparkContext
from pyspark.ml import PipelineModel

from portrait.config import MlflowConfig

CHAMPION = "champion"
CHALLENGER = "challenger"  # a registered version that was not promoted (train.promotion)


def configure(cfg: MlflowConfig) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    if cfg.tracking_uri.startswith("sqlite:///"):
        Path(cfg.tracking_uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.registry_uri or cfg.tracking_uri)
    experiment = mlflow.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        if cfg.artifact_root and cfg.artifact_root.startswith("file:"):
            os.makedirs(urlparse(cfg.artifact_root).path, exist_ok=True)
        location = f"{cfg.artifact_root.rstrip('/')}/{cfg.experiment.strip('/')}" if cfg.artifact_root else None
        experiment_id = mlflow.create_experiment(cfg.experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _requirements() -> list[str]:
    # Explicit requirements: inferring them starts another JVM (~14 s per model, STACK-NOTES).
    return [f"{p}=={metadata.version(p)}" for p in ("pyspark", "mlflow", "pandas", "numpy")]


def log_and_register(model: PipelineModel, *, name: str, tags: dict[str, str] | None = None) -> str:
    """Log a Spark model in the active run and register it; return the new version."""
    info = mlflow.spark.log_model(
        model, artifact_path="model", registered_model_name=name, pip_requirements=_requirements()
    )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    return version


def set_champion(name: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, version)


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def load_champion_if_any(name: str) -> tuple[PipelineModel, str, dict[str, str]] | None:
    """`load_champion`, or None when the model is not registered or has no `champion` alias yet."""
    try:
        return load_champion(name)
    except LookupError:
        return None


def champion_info(name: str) -> tuple[str, dict[str, str]]:
    """The `champion` version of a registered model and its tags, without loading the model."""
    return alias_info(name, CHAMPION)


def alias_info(name: str, alias: str) -> tuple[str, dict[str, str]]:
    """The version of a registered model that `alias` names, and its tags, without loading the model."""
    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"registered model {name!r} has no '{alias}' alias") from exc
    return mv.version, dict(mv.tags)


# The champion last loaded in this process per (registry, model name), with its (version, run id,
# Spark application): a registered version never changes, so a process that scores several dates (a
# backfill, a notebook, the tests) loads each champion once. A load costs 13 Spark jobs and an
# artifact download (score loads three). The alias and the tags are read from the registry on every
# call: both can change.
_LOADED: dict[tuple[str, str], tuple[tuple[str, str | None, str], PipelineModel]] = {}


def load_champion(name: str) -> tuple[PipelineModel, str, dict[str, str]]:
    """The `champion` of a registered model: the model, its version and its version tags (the model
    loaded once per process and version)."""
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(
            f"registered model {name!r} has no '{CHAMPION}' alias: run the `train` job first "
            f"(a version that failed the promotion gate is the '{CHALLENGER}', with a "
            "'promotion_decision' tag saying why)"
        ) from exc
    context = SparkContext._active_spark_context  # noqa: SLF001 - a model is bound to its JVM
    app = context.applicationId if context is not None else ""
    which, loaded = (mlflow.get_registry_uri(), name), (mv.version, mv.run_id, app)
    held = _LOADED.get(which)
    if held is None or held[0] != loaded:
        held = _LOADED[which] = (loaded, mlflow.spark.load_model(f"models:/{name}/{mv.version}"))
    return held[1], mv.version, dict(mv.tags)


def segment_names_tag(names: dict[int, str]) -> str:
    return json.dumps({str(k): v for k, v in sorted(names.items())})
