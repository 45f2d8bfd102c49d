"""Typed, validated configuration.

A conf file is YAML. It may name a parent with `extends: base.yaml` (relative to itself); the
child's keys are merged over the parent's, section by section. The catalogs a conf names
(`tags.file`, `score.policy_file`) are relative to the file that names them; left at their
defaults they are found next to the conf, else next to its parents (a cluster conf elsewhere that
extends `conf/local.yaml` uses the catalogs in `conf/` until it has its own). The result is parsed into frozen
dataclasses once, at load time: an unknown key, a missing key or a value of the wrong type fails
with a `ConfigError` that names the key and the file.

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

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml


class ConfigError(ValueError):
    """A configuration file or override is wrong; the message names the key."""


def load_yaml_mapping(path: str | Path, *, what: str, allowed: tuple[str, ...]) -> dict:
    """A YAML file holding a mapping with no top-level keys but `allowed`; errors name the file,
    `what` it is and the bad key. (The tag catalog and the action policy are read with it.)"""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping with the keys {', '.join(allowed)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})")
    return data


@dataclass(frozen=True)
class PathsConfig:
    """Where data lives. Local paths are made absolute against the working directory."""

    lakehouse: str
    landing: str
    truth: str


@dataclass(frozen=True)
class SparkConfig:
    """How the session is built. `master` is None under spark-submit / on a cluster."""

    app_name: str
    master: Optional[str] = None
    shuffle_partitions: int = 8
    jars_dir: Optional[str] = None
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str
    experiment: str
    artifact_root: Optional[str] = None
    registry_uri: Optional[str] = None


@dataclass(frozen=True)
class PrivacyConfig:
    """PII hashing. The key comes from the environment variable `key_env`.

    `demo_key` is only allowed in the embedded demo profile (`allow_demo_key: true`);
    every other profile refuses to run without the environment variable.
    """

    key_env: str = "PORTRAIT_PII_KEY"
    allow_demo_key: bool = False
    demo_key: Optional[str] = None


@dataclass(frozen=True)
class GeneratorConfig:
    scale: float = 0.05
    seed: int = 42
    days: int = 90
    dirty_fraction: float = 0.001


@dataclass(frozen=True)
class OrdersColumns:
    """Which column of an orders export holds each bronze orders field (the others stay null)."""

    order_id: str
    product_id: str
    quantity: str
    order_ts: str
    unit_price: str
    account_id: Optional[str] = None
    description: Optional[str] = None
    country: Optional[str] = None


@dataclass(frozen=True)
class OrdersMappingConfig:
    """An orders export in its own layout (one file, not landing-date folders), read as it is.

    `header` is the file's header line as a list of columns, in file order; `columns` maps the
    bronze fields onto them. `path` is relative to the working directory unless absolute; the
    environment variable `path_env`, when set, replaces it. `account_id_pattern` is a regex whose
    group 1 is the customer number (a value that does not match is quarantined), prefixed with
    `account_id_prefix`. Invoices starting with `return_prefix` are returns. `line_classes` maps
    a class name to stock-code regexes (whole code, case-insensitive), first match wins; any other
    line is `product` (or `stock_adjustment` / `free_item` at price 0, see `ingest.mapping`).
    """

    target: str
    path: str
    header: list[str]
    columns: OrdersColumns
    timestamp_format: str
    currency: str
    format: str = "csv"
    path_env: Optional[str] = None
    account_id_pattern: str = "^(.+)$"
    account_id_prefix: str = ""
    return_prefix: Optional[str] = None
    channel: Optional[str] = None
    line_classes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestConfig:
    sources: list[str] = field(default_factory=lambda: ["clickstream", "orders", "social", "crm"])
    max_field_chars: int = 4096
    earliest_valid_date: str = "2000-01-01"
    mappings: dict[str, OrdersMappingConfig] = field(default_factory=dict)
    duplicate_lookback_days: int = 7  # an id kept on one of these earlier dates is a duplicate (CRM exempt)
    late_lookback_days: int = 30  # earlier landing dates searched for files not ingested yet


@dataclass(frozen=True)
class IdentityConfig:
    """Identity resolution. An identifier linked to more than `max_persons_per_identifier`
    identifiers of one other type (a kiosk cookie, a call-centre phone) is not used for linking;
    `placeholders` lists known dummy values per type (phone, email, wechat_id), in clear."""

    max_persons_per_identifier: int = 1
    max_iterations: int = 30
    placeholders: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FeaturesConfig:
    categories: list[str] = field(default_factory=list)
    history_days: int = 365


@dataclass(frozen=True)
class TrainConfig:
    """Training sets, tuning budget, calibration and the promotion gate (`portrait.train`).

    Each label (purchase, churn) gets `training_dates` weekly as-of dates whose label window ends
    by the run date; the latest `oot_dates` of them are the out-of-time test (test persons only).
    """

    horizon_days: int = 30            # purchase label: a completed order in (as_of, as_of + horizon]
    churn_days: int = 60              # churn label: no visit and no order in (as_of, as_of + churn_days]
    churn_lookback_days: int = 90     # ... for persons active in (as_of - lookback, as_of]
    training_dates: int = 6
    training_step_days: int = 7
    oot_dates: int = 1
    test_fraction: float = 0.25
    calibration_fraction: float = 0.2
    max_evals: int = 8
    seed: int = 7
    kmeans_k_range: list[int] = field(default_factory=lambda: [4, 8])  # k with the best silhouette
    kmeans_k: Optional[int] = None    # a fixed k instead of the range (tests, or to pin a k)
    segment_model: str = "portrait_segments"
    propensity_model: str = "portrait_purchase_propensity"
    churn_model: str = "portrait_churn_propensity"
    max_depth: list[int] = field(default_factory=lambda: [2, 6])
    max_iter: list[int] = field(default_factory=lambda: [10, 60])
    step_size: list[float] = field(default_factory=lambda: [0.03, 0.3])
    subsampling_rate: list[float] = field(default_factory=lambda: [0.5, 1.0])
    promotion_margin: float = 0.0     # a new version needs champion AUC + margin on the same OOT rows
    min_auc: float = 0.6
    max_ece: float = 0.1

    def __post_init__(self) -> None:
        for key in ("horizon_days", "churn_days", "churn_lookback_days", "training_step_days", "max_evals"):
            if getattr(self, key) < 1:
                raise ConfigError(f"'train.{key}' must be >= 1, got {getattr(self, key)}")
        if not 1 <= self.oot_dates < self.training_dates:
            raise ConfigError(f"'train.oot_dates' must be >= 1 and < train.training_dates "
                              f"({self.training_dates}), got {self.oot_dates}: earlier dates are the train rows")
        for key in ("test_fraction", "calibration_fraction"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise ConfigError(f"'train.{key}' must be in (0, 1), got {getattr(self, key)}")
        for key in ("max_depth", "max_iter", "step_size", "subsampling_rate"):
            low, high = getattr(self, key)
            if not 0 < low <= high:
                raise ConfigError(f"'train.{key}' must be [low, high] with 0 < low <= high, got {[low, high]}")
        if self.subsampling_rate[1] > 1.0:
            raise ConfigError(f"'train.subsampling_rate' must be within (0, 1], got {self.subsampling_rate}")
        if len(self.kmeans_k_range) != 2 or not 2 <= self.kmeans_k_range[0] <= self.kmeans_k_range[1] <= 10:
            raise ConfigError(f"'train.kmeans_k_range' must be [low, high] with 2 <= low <= high <= 10, "
                              f"got {self.kmeans_k_range}")
        if self.kmeans_k is not None and not 2 <= self.kmeans_k <= 10:
            raise ConfigError(f"'train.kmeans_k' must be within [2, 10] (or unset), got {self.kmeans_k}")

    @property
    def kmeans_ks(self) -> list[int]:
        """The k values the segment model tries: `kmeans_k` alone when set, else the range."""
        low, high = (self.kmeans_k, self.kmeans_k) if self.kmeans_k is not None else self.kmeans_k_range
        return list(range(low, high + 1))


@dataclass(frozen=True)
class TextConfig:
    """Text signals (`portrait.text`): the labelled posts, the held-out share and the model's settings."""

    model_name: str = "portrait_text_signals"
    labels_path: Optional[str] = None  # parquet (post_id, sentiment, topic); None: <paths.truth>/social_labels
    test_fraction: float = 0.2
    num_features: int = 65536
    reg_param: float = 0.01
    max_iter: int = 40
    retrain_days: int = 7              # the text job retrains when the champion is this old


@dataclass(frozen=True)
class ScoreConfig:
    policy_file: str = "actions.yaml"
    holdout_fraction: float = 0.1


@dataclass(frozen=True)
class TagsConfig:
    """The tag catalog (`portrait.tags`): a YAML file relative to the conf folder."""

    file: str = "tags.yaml"


@dataclass(frozen=True)
class Config:
    """The whole configuration; stages receive the typed piece they need."""

    source_file: str
    profile: str
    paths: PathsConfig
    spark: SparkConfig
    mlflow: MlflowConfig
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    text: TextConfig = field(default_factory=TextConfig)
    tags: TagsConfig = field(default_factory=TagsConfig)

    @property
    def conf_dir(self) -> Path:
        return Path(self.source_file).parent

    def pii_key(self) -> bytes:
        """The PII hashing key: from the environment, or the demo key in the demo profile only."""
        value = os.environ.get(self.privacy.key_env)
        if value:
            return value.encode("utf-8")
        if self.privacy.allow_demo_key and self.privacy.demo_key:
            return self.privacy.demo_key.encode("utf-8")
        raise ConfigError(
            f"environment variable {self.privacy.key_env} is not set: profile '{self.profile}' "
            f"({self.source_file}) needs a secret key to pseudonymise PII. "
            "Set it from your secret store; only the demo profile may use a built-in key."
        )


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
        ConfigError: naming the file and key that is unknown, missing or of the wrong type.
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
    cfg = _build(Config, raw, where="", file=str(path))
    _check_mappings(cfg.ingest.mappings, file=str(path))
    for key in ("duplicate_lookback_days", "late_lookback_days"):
        if getattr(cfg.ingest, key) < 0:
            raise ConfigError(f"{path}: 'ingest.{key}' must be >= 0, got {getattr(cfg.ingest, key)}")
    return _absolutise(cfg)


_MAPPING_TARGETS = ("orders",)
_MAPPING_FORMATS = ("csv",)
_DERIVED_LINE_CLASSES = ("product", "stock_adjustment", "free_item")


def _check_mappings(mappings: dict[str, OrdersMappingConfig], *, file: str) -> None:
    """Values of `ingest.mappings` that types alone cannot check."""
    for name, m in mappings.items():
        where = f"ingest.mappings.{name}"
        if m.target not in _MAPPING_TARGETS:
            raise ConfigError(f"{file}: '{where}.target' must be one of {list(_MAPPING_TARGETS)}, got {m.target!r}")
        if m.format not in _MAPPING_FORMATS:
            raise ConfigError(f"{file}: '{where}.format' must be one of {list(_MAPPING_FORMATS)}, got {m.format!r}")
        if len(set(m.header)) != len(m.header):
            raise ConfigError(f"{file}: '{where}.header' names a column twice: {m.header}")
        for role, column in dataclasses.asdict(m.columns).items():
            if column is not None and column not in m.header:
                raise ConfigError(
                    f"{file}: '{where}.columns.{role}' is {column!r}, which is not in '{where}.header' {m.header}"
                )
        patterns = {"account_id_pattern": m.account_id_pattern}
        patterns.update({f"line_classes.{c}[{i}]": p for c, ps in m.line_classes.items() for i, p in enumerate(ps)})
        for key, pattern in patterns.items():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{file}: '{where}.{key}' is not a valid regex: {exc}") from None
            if key == "account_id_pattern" and compiled.groups < 1:
                raise ConfigError(f"{file}: '{where}.account_id_pattern' needs a group: the customer number")
        reserved = sorted(set(m.line_classes) & set(_DERIVED_LINE_CLASSES))
        if reserved:
            raise ConfigError(f"{file}: '{where}.line_classes' may not define {reserved}: they are derived")


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
            continue  # _build reports the bad section
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


def _build(cls: type, data: Any, *, where: str, file: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: '{where or '<top>'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"{file}: unknown key '{key}' (allowed in '{where or '<top>'}': {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{file}: missing required key '{dotted}'")
            continue
        kwargs[name] = _coerce(hints[name], data[name], where=dotted, file=file)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, *, where: str, file: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where=where, file=file)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where=where, file=file)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{file}: '{where}' must be a list, got {value!r}")
        return [_coerce(args[0], v, where=f"{where}[{i}]", file=file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: '{where}' must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, where=f"{where}.{k}", file=file) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{file}: '{where}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"{file}: '{where}' must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{file}: '{where}' must be an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{file}: '{where}' must be a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{file}: '{where}' must be a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"{file}: '{where}' must be a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{file}: '{where}' has an unsupported type {tp}")  # a bug in this module


def _is_local(path: str) -> bool:
    return "://" not in path


def _absolutise(cfg: Config) -> Config:
    """Make local paths absolute (against the working directory) so that every stage agrees."""

    def local(p: Optional[str]) -> Optional[str]:
        return str(Path(p).resolve()) if p and _is_local(p) else p

    paths = dataclasses.replace(
        cfg.paths, lakehouse=local(cfg.paths.lakehouse), landing=local(cfg.paths.landing),
        truth=local(cfg.paths.truth),
    )
    tracking = cfg.mlflow.tracking_uri
    if tracking.startswith("sqlite:///") and not tracking.startswith("sqlite:////"):
        db = Path(tracking[len("sqlite:///"):]).resolve()
        tracking = f"sqlite:///{db}"
    artifact_root = cfg.mlflow.artifact_root
    if artifact_root and _is_local(artifact_root):
        artifact_root = Path(artifact_root).resolve().as_uri()
    mlflow_cfg = dataclasses.replace(cfg.mlflow, tracking_uri=tracking, artifact_root=artifact_root)
    spark_cfg = dataclasses.replace(cfg.spark, jars_dir=local(cfg.spark.jars_dir))
    mappings = {
        name: dataclasses.replace(m, path=local((m.path_env and os.environ.get(m.path_env)) or m.path))
        for name, m in cfg.ingest.mappings.items()
    }
    ingest_cfg = dataclasses.replace(cfg.ingest, mappings=mappings)
    return dataclasses.replace(cfg, paths=paths, mlflow=mlflow_cfg, spark=spark_cfg, ingest=ingest_cfg)
