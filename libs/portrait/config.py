"""Typed, validated configuration.

A conf file is YAML. It may name a parent with `extends: base.yaml` (relative to itself); the
child's keys are merged over the parent's, section by section. The catalogs a conf names
(`tags.file`, `score.policy_file`) are relative to the file that names them; left at their
defaults they are found next to the conf, else next to its parents (a cluster conf elsewhere that
extends `conf/local.yaml` uses the catalogs in `conf/` until it has its own). The result is validated
once, at load time, by the frozen pydantic models below (`portrait.validated`): an unknown key, a
missing key, a value of the wrong type or out of its declared bounds fails with a `ConfigError`
that has one line per problem, naming the file and the key path
(`conf/x.yaml: train.max_evals: must be >= 1, got 0`).

Environment variables override paths and supply secrets (never read from files in git):

| variable                      | overrides                |
|-------------------------------|--------------------------|
| PORTRAIT_LAKEHOUSE            | paths.lakehouse          |
| PORTRAIT_LANDING              | paths.landing            |
| PORTRAIT_TRUTH                | paths.truth              |
| PORTRAIT_MLFLOW_TRACKING_URI  | mlflow.tracking_uri      |
| PORTRAIT_MLFLOW_ARTIFACT_ROOT | mlflow.artifact_root     |
| PORTRAIT_SPARK_MASTER         | spark.master             |
| (ingest.mappings.<name>.path_env) | that mapping's `path` |
| (privacy.key_env, default PORTRAIT_PII_KEY) | the key for hashing PII |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from portrait.config_models import (
    Config,
    FeaturesConfig,
    GeneratorConfig,
    IdentityConfig,
    IngestConfig,
    LiveConfig,
    MlflowConfig,
    OrdersColumns,
    OrdersMappingConfig,
    PathsConfig,
    PrivacyConfig,
    ScoreConfig,
    SparkConfig,
    TagsConfig,
    TextConfig,
    TrainConfig,
)
from portrait.validated import ConfigError, load_yaml_mapping, load_yaml_model, replace, validate

__all__ = [
    "Config",
    "ConfigError",
    "FeaturesConfig",
    "GeneratorConfig",
    "IdentityConfig",
    "IngestConfig",
    "LiveConfig",
    "MlflowConfig",
    "OrdersColumns",
    "OrdersMappingConfig",
    "PathsConfig",
    "PrivacyConfig",
    "ScoreConfig",
    "SparkConfig",
    "TagsConfig",
    "TextConfig",
    "TrainConfig",
    "load_config",
    "load_yaml_mapping",
    "load_yaml_model",
    "replace",
]

_ENV_OVERRIDES = {
    "PORTRAIT_LAKEHOUSE": ("paths", "lakehouse"),
    "PORTRAIT_LANDING": ("paths", "landing"),
    "PORTRAIT_TRUTH": ("paths", "truth"),
    "PORTRAIT_MLFLOW_TRACKING_URI": ("mlflow", "tracking_uri"),
    "PORTRAIT_MLFLOW_ARTIFACT_ROOT": ("mlflow", "artifact_root"),
    "PORTRAIT_SPARK_MASTER": ("spark", "master"),
}


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Config:
    """Load, merge (`extends`), override from the environment and validate a conf file.

    Args:
        path: the YAML file, e.g. ``conf/local.yaml``.
        overrides: dotted keys to set after the environment, e.g. ``{"train.max_evals": 2}``
            (used by tests and the CLI; validated like the file).

    Returns:
        A frozen `Config`.

    Raises:
        ConfigError: one line per problem, naming the file and the key path that is unknown,
            missing, of the wrong type or out of bounds.
    """
    path = Path(path).resolve()
    chain: list[Path] = []
    raw = _read_with_parents(path, seen=(), chain=chain)
    _locate_catalogs(raw, chain)
    for env_name, (section, key) in _ENV_OVERRIDES.items():
        if os.environ.get(env_name):
            raw.setdefault(section, {})[key] = os.environ[env_name]
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"override '{dotted}' must be of the form section.key")
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"override '{dotted}': section '{section}' is not a mapping")
        raw.setdefault(section, {})[key] = value
    raw["source_file"] = str(path)
    raw.setdefault("profile", path.stem)
    return _absolutise(validate(Config, raw, file=str(path)))


# Files a conf names, as (section, key, default): relative to the conf file that sets them.
_CATALOGS = (("tags", "file", "tags.yaml"), ("score", "policy_file", "actions.yaml"))


def _catalog_set(data: dict[str, Any], section: str, key: str) -> bool:
    """Whether `data` (one file's or the merged mapping) sets the catalog path `section.key`."""
    block = data.get(section)
    return isinstance(block, dict) and isinstance(block.get(key), str)


def _locate_catalogs(raw: dict[str, Any], chain: list[Path]) -> None:
    """Make `_CATALOGS` paths absolute: a set value against its file, a default against the chain."""
    for section, key, default in _CATALOGS:
        block = raw.get(section)
        if _catalog_set(raw, section, key):
            continue  # set by a file (made absolute when read) or by an override (taken as given)
        if block is not None and not isinstance(block, dict):
            continue  # validation reports the bad section
        found = next((d.parent / default for d in chain if (d.parent / default).is_file()), chain[0].parent / default)
        raw.setdefault(section, {})[key] = str(found)


def _read_with_parents(path: Path, seen: tuple[Path, ...], chain: list[Path]) -> dict[str, Any]:
    chain.append(path)
    if path in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle through {[str(p) for p in seen]}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for section, key, _ in _CATALOGS:
        if _catalog_set(data, section, key):
            data[section][key] = str((path.parent / data[section][key]).resolve())
    parent = data.pop("extends", None)
    if parent is None:
        return data
    base = _read_with_parents((path.parent / parent).resolve(), seen + (path,), chain)
    return _merge(base, data)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_local(path: str) -> bool:
    return "://" not in path


def _absolutise(cfg: Config) -> Config:
    """Make local paths absolute (against the working directory) so that every stage agrees."""

    def local(p: str | None) -> str | None:
        return str(Path(p).resolve()) if p and _is_local(p) else p

    paths = cfg.paths.model_copy(
        update={
            "lakehouse": local(cfg.paths.lakehouse),
            "landing": local(cfg.paths.landing),
            "truth": local(cfg.paths.truth),
        }
    )
    tracking = cfg.mlflow.tracking_uri
    if tracking.startswith("sqlite:///") and not tracking.startswith("sqlite:////"):
        db = Path(tracking[len("sqlite:///") :]).resolve()
        tracking = f"sqlite:///{db}"
    artifact_root = cfg.mlflow.artifact_root
    if artifact_root and _is_local(artifact_root):
        artifact_root = Path(artifact_root).resolve().as_uri()
    mlflow_cfg = cfg.mlflow.model_copy(update={"tracking_uri": tracking, "artifact_root": artifact_root})
    spark_cfg = cfg.spark.model_copy(update={"jars_dir": local(cfg.spark.jars_dir)})
    mappings = {
        name: m.model_copy(update={"path": local((m.path_env and os.environ.get(m.path_env)) or m.path)})
        for name, m in cfg.ingest.mappings.items()
    }
    ingest_cfg = cfg.ingest.model_copy(update={"mappings": mappings})
    return cfg.model_copy(update={"paths": paths, "mlflow": mlflow_cfg, "spark": spark_cfg, "ingest": ingest_cfg})
