"""The shape of a conf file: one frozen pydantic model per section, bounds declared on the fields.

Loaded by `portrait.config.load_config` (which merges `extends`, applies the environment and
names the file in errors); import the classes from `portrait.config`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from portrait.validated import ConfigError, Frozen


def _ordered(pair: list[Any]) -> list[Any]:
    if pair[0] > pair[1]:
        raise ValueError(f"must be [low, high] with low <= high, got {pair}")
    return pair


def _distinct(names: list[str]) -> list[str]:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"names {twice} more than once: {names}")
    return names


_PAIR = Field(min_length=2, max_length=2)
Name = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=1)]
Days = Annotated[int, Field(ge=0)]
Trials = Annotated[int, Field(ge=0)]  # a number of tuning trials, 0 allowed
Share = Annotated[float, Field(gt=0, lt=1)]  # a share of persons that must leave some on each side
Probability = Annotated[float, Field(ge=0, le=1)]
Names = Annotated[list[Name], AfterValidator(_distinct)]
CountRange = Annotated[list[Count], _PAIR, AfterValidator(_ordered)]
PositiveRange = Annotated[list[Annotated[float, Field(gt=0)]], _PAIR, AfterValidator(_ordered)]
RateRange = Annotated[list[Annotated[float, Field(gt=0, le=1)]], _PAIR, AfterValidator(_ordered)]
KRange = Annotated[list[Annotated[int, Field(ge=2, le=10)]], _PAIR, AfterValidator(_ordered)]


def _spark_value(value: Any) -> Any:
    """Spark conf values are strings; YAML numbers and booleans are written as Spark spells them."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (int, float)) else value


class PathsConfig(Frozen):
    """Where data lives. Local paths are made absolute against the working directory."""

    lakehouse: Name
    landing: Name
    truth: Name


class SparkConfig(Frozen):
    """How the session is built. `master` is None under spark-submit / on a cluster."""

    app_name: Name
    master: str | None = None
    shuffle_partitions: Count = 8
    jars_dir: str | None = None
    # Reliable checkpoints of iterative algorithms (identity's connected components): shared storage
    # on a cluster (hdfs://, s3a://); None: <paths.lakehouse>/_checkpoints.
    checkpoint_dir: str | None = None
    conf: dict[str, Annotated[str, BeforeValidator(_spark_value)]] = Field(default_factory=dict)


class MlflowConfig(Frozen):
    tracking_uri: Name
    experiment: Name
    artifact_root: str | None = None
    registry_uri: str | None = None


class PrivacyConfig(Frozen):
    """PII hashing. The key comes from the environment variable `key_env`.

    `demo_key` is only allowed in the embedded demo profile (`allow_demo_key: true`);
    every other profile refuses to run without the environment variable.
    """

    key_env: Name = "PORTRAIT_PII_KEY"
    allow_demo_key: bool = False
    demo_key: str | None = None


class GeneratorConfig(Frozen):
    scale: Annotated[float, Field(gt=0)] = 0.05
    seed: int = 42
    days: Count = 90
    dirty_fraction: Probability = 0.001


def _iso_date(value: Any) -> Any:
    """A date (YAML reads an unquoted 2000-01-01 as one) or an ISO date string, kept as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be an ISO date (YYYY-MM-DD), got {value!r}") from None
    return value


class OrdersColumns(Frozen):
    """Which column of an orders export holds each role (roles with no column stay null or take a
    constant from the mapping's `constants`).

    Required: `quantity`, `order_ts` and exactly one of `unit_price` and `line_total` (the other is
    derived: line_total = quantity * unit_price, unit_price = line_total / quantity). Optional:
    `order_id` (derived from the customer and the timestamp when absent: one order per customer and
    second), `product_id` (null when absent: every line is then classed by price alone),
    `account_id`, `description`, `country`, `currency` (else the mapping's `currency`).
    """

    quantity: Name
    order_ts: Name
    unit_price: str | None = None
    line_total: str | None = None
    order_id: str | None = None
    product_id: str | None = None
    account_id: str | None = None
    description: str | None = None
    country: str | None = None
    currency: str | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> OrdersColumns:
        if (self.unit_price is None) == (self.line_total is None):
            raise ValueError("name exactly one of unit_price and line_total (the other is derived)")
        return self


_DERIVED_LINE_CLASSES = ("product", "stock_adjustment", "free_item")


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from None


class OrdersRules(Frozen):
    """How a mapped export's lines are classified (returns, fees, free items); see `ingest.mapping`.

    A line is a return when its order id starts with `return_prefix` (Online Retail's "C" invoices)
    or, with `negative_quantity_is_return`, when its quantity is negative (exports with no return
    invoices). `line_classes` maps a class name to product-code regexes (whole code, any case),
    first match wins. Any other line is `product`, except at price 0: `zero_price_class` for a
    customer's line (`free_item`, or `product` to count it as a sale) and `zero_price_guest_class`
    for a line with no customer (`stock_adjustment`: write-offs and found stock, whose negative
    quantity is then allowed).
    """

    return_prefix: str | None = None
    negative_quantity_is_return: bool = False
    line_classes: dict[str, list[str]] = Field(default_factory=dict)
    zero_price_class: Literal["free_item", "product"] = "free_item"
    zero_price_guest_class: Literal["stock_adjustment", "free_item", "product"] = "stock_adjustment"

    @field_validator("line_classes")
    @classmethod
    def _classes(cls, classes: dict[str, list[str]]) -> dict[str, list[str]]:
        reserved = sorted(set(classes) & set(_DERIVED_LINE_CLASSES))
        if reserved:
            raise ValueError(f"may not define {reserved}: they are derived")
        for name, patterns in classes.items():
            for i, pattern in enumerate(patterns):
                try:
                    _regex(pattern)
                except ValueError as exc:
                    raise ValueError(f"{name}[{i}]: {exc}") from None
        return classes


class OrdersMappingConfig(Frozen):
    """An orders export in its own layout (one file, not landing-date folders), read as it is.

    `header` is the file's header line as a list of columns, in file order; `columns` maps roles
    onto them (`OrdersColumns`); `constants` fills roles the file lacks (country, channel,
    description). `path` is relative to the working directory unless absolute; the environment
    variable `path_env`, when set, replaces it. Kept lines go to `bronze.<table>` (default
    `orders_<mapping name>`): one table per mapping. `timestamp_formats` are tried in order.
    Timestamps before `earliest_date` (default `ingest.earliest_valid_date`) or after
    `latest_date` are quarantined. `account_id_pattern` is a regex whose group 1 is the customer
    number (a value that does not match is quarantined), prefixed with `account_id_prefix`.
    `rules` classify the lines (`OrdersRules`).
    """

    target: Literal["orders"]
    path: Name
    header: Annotated[Names, Field(min_length=1)]
    columns: OrdersColumns
    timestamp_formats: Annotated[list[Name], Field(min_length=1)]
    currency: str | None = None
    format: Literal["csv"] = "csv"
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    table: Annotated[str, Field(pattern=r"^orders_[a-z0-9_]+$")] | None = None
    path_env: str | None = None
    earliest_date: Annotated[str, BeforeValidator(_iso_date)] | None = None
    latest_date: Annotated[str, BeforeValidator(_iso_date)] | None = None
    account_id_pattern: str = "^(.+)$"
    account_id_prefix: str = ""
    constants: dict[Literal["country", "channel", "description"], str] = Field(default_factory=dict)
    rules: OrdersRules = Field(default_factory=OrdersRules)

    @field_validator("timestamp_formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("account_id_pattern")
    @classmethod
    def _one_group(cls, pattern: str) -> str:
        if _regex(pattern).groups < 1:
            raise ValueError(f"{pattern!r} needs a group: the customer number")
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> OrdersMappingConfig:
        for role, column in self.columns.model_dump().items():
            if column is not None and column not in self.header:
                raise ValueError(f"columns.{role} is {column!r}, which is not in header {self.header}")
        if (self.currency is None) == (self.columns.currency is None):
            raise ValueError("set exactly one of currency (a constant) and columns.currency")
        if self.rules.line_classes and self.columns.product_id is None:
            raise ValueError("rules.line_classes match product codes, but columns.product_id is not mapped")
        if self.rules.return_prefix and self.columns.order_id is None:
            raise ValueError("rules.return_prefix matches order ids, but columns.order_id is not mapped")
        if self.earliest_date and self.latest_date and self.earliest_date > self.latest_date:
            raise ValueError(f"earliest_date {self.earliest_date} is after latest_date {self.latest_date}")
        return self


class IngestConfig(Frozen):
    sources: Names = Field(default_factory=lambda: ["clickstream", "orders", "social", "crm"])
    max_field_chars: Count = 4096
    earliest_valid_date: Annotated[str, BeforeValidator(_iso_date)] = "2000-01-01"
    mappings: dict[str, OrdersMappingConfig] = Field(default_factory=dict)
    duplicate_lookback_days: Days = 7  # an id kept on one of these earlier dates is a duplicate (CRM exempt)
    late_lookback_days: Days = 30  # earlier landing dates searched for files not ingested yet

    @model_validator(mode="after")
    def _one_table_per_mapping(self) -> IngestConfig:
        tables = [m.table or f"{m.target}_{name}" for name, m in self.mappings.items()]
        twice = sorted({t for t in tables if tables.count(t) > 1})
        if twice:
            raise ValueError(f"mappings: bronze table(s) {twice} named by more than one mapping")
        return self


class IdentityConfig(Frozen):
    """Identity resolution. An identifier linked to more than `max_persons_per_identifier`
    identifiers of one other type (a kiosk cookie, a call-centre phone) is not used for linking;
    `placeholders` lists known dummy values per type (phone, email, wechat_id), in clear."""

    max_persons_per_identifier: Count = 1
    max_iterations: Count = 30
    # Connected components of a graph of at most this many links run on the driver (union-find)
    # instead of Spark rounds: a day's touched subgraph; 0 always uses Spark.
    driver_components_max_edges: Annotated[int, Field(ge=0)] = 200_000
    placeholders: dict[Literal["phone", "email", "wechat_id"], list[str]] = Field(default_factory=dict)


class FeaturesConfig(Frozen):
    categories: Names = Field(default_factory=list)
    history_days: Count = 365


class RecommenderConfig(Frozen):
    """Product recommendations (`portrait.models.recommend`), trained with the weekly models.

    ALS (implicit feedback) over `lookback_days` of weighted views, cart adds and purchases; checked
    on a time split (fit before D - `test_days`, precision@k / recall@k on what persons bought after)
    against popularity. The version becomes champion, and its rankings are written to
    gold.recommendations, only when its precision@k beats popularity's on that split.
    """

    enabled: bool = True
    model_name: Name = "portrait_recommender"
    lookback_days: Count = 90
    test_days: Count = 14
    exclude_days: Count = 14  # categories bought in the last N days are never recommended
    k: Annotated[int, Field(ge=1, le=20)] = 3  # products recommended per person
    keep: Annotated[int, Field(ge=1, le=200)] = 20  # ranked products stored per person (room for exclusions)
    rank: Annotated[int, Field(ge=1, le=200)] = 8
    max_iter: Count = 10
    reg_param: Annotated[float, Field(ge=0)] = 1.0
    alpha: Annotated[float, Field(gt=0)] = 1.0  # confidence 1 + alpha x strength; 10+ overfits (measured)
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
    )

    @field_validator("weights")
    @classmethod
    def _feedback_kinds(cls, weights: dict[str, float]) -> dict[str, float]:
        kinds = ("product_view", "add_to_cart", "purchase")
        unknown = sorted(set(weights) - set(kinds))
        if unknown:
            raise ValueError(f"unknown feedback {unknown}; allowed: {', '.join(kinds)}")
        return weights

    @property
    def als_params(self) -> dict[str, float | int]:
        return {"rank": self.rank, "max_iter": self.max_iter, "reg_param": self.reg_param, "alpha": self.alpha}


class TrainConfig(Frozen):
    """Training sets, tuning budget, calibration and the promotion gate (`portrait.train`).

    Each label (purchase, churn) gets `training_dates` weekly as-of dates whose label window ends
    by the run date; the latest `oot_dates` of them are the out-of-time test (test persons only).
    """

    horizon_days: Count = 30  # purchase label: a completed order in (as_of, as_of + horizon]
    churn_days: Count = 60  # churn label: no visit and no order in (as_of, as_of + churn_days]
    churn_lookback_days: Count = 90  # ... for persons active in (as_of - lookback, as_of]
    training_dates: Annotated[int, Field(ge=2)] = 6
    training_step_days: Count = 7
    oot_dates: Count = 1  # < training_dates: the earlier dates are the train rows
    test_fraction: Share = 0.25
    calibration_fraction: Share = 0.2
    max_evals: Count = 8
    # Tuning stops after this many trials in a row without a lower loss, the first counted (0: all `max_evals`).
    patience: Trials = 4
    # Tuning trials fitted at once (threads; the same trials and answer as one at a time while TPE
    # draws at random, its first 20): a small Spark ML fit is mostly job overhead.
    parallel_trials: Annotated[int, Field(ge=1, le=16)] = 2
    seed: int = 7
    kmeans_k_range: KRange = Field(default_factory=lambda: [4, 8])  # k with the best silhouette
    kmeans_k: Annotated[int, Field(ge=2, le=10)] | None = None  # a fixed k instead of the range
    segment_model: Name = "portrait_segments"
    propensity_model: Name = "portrait_purchase_propensity"
    churn_model: Name = "portrait_churn_propensity"
    max_depth: CountRange = Field(default_factory=lambda: [2, 6])
    max_iter: CountRange = Field(default_factory=lambda: [10, 60])
    step_size: PositiveRange = Field(default_factory=lambda: [0.03, 0.3])
    subsampling_rate: RateRange = Field(default_factory=lambda: [0.5, 1.0])
    promotion_margin: Probability = 0.0  # a new version needs champion AUC + margin on the same OOT rows
    min_auc: Probability = 0.6
    max_ece: Probability = 0.1
    recommender: RecommenderConfig = Field(default_factory=RecommenderConfig)

    @model_validator(mode="after")
    def _oot_before_training(self) -> TrainConfig:
        if self.oot_dates >= self.training_dates:
            raise ValueError(
                f"oot_dates ({self.oot_dates}) must be < training_dates ({self.training_dates}): "
                "the earlier dates are the train rows"
            )
        return self

    @property
    def kmeans_ks(self) -> list[int]:
        """The k values the segment model tries: `kmeans_k` alone when set, else the range."""
        low, high = (self.kmeans_k, self.kmeans_k) if self.kmeans_k is not None else self.kmeans_k_range
        return list(range(low, high + 1))


class TextConfig(Frozen):
    """Text signals (`portrait.text`): the labelled posts, the held-out share and the model's settings."""

    model_name: Name = "portrait_text_signals"
    labels_path: str | None = None  # parquet (post_id, sentiment, topic); None: <paths.truth>/social_labels
    test_fraction: Share = 0.2
    num_features: Count = 65536
    reg_param: Annotated[float, Field(ge=0)] = 0.01
    max_iter: Count = 40
    retrain_days: Days = 7  # the text job retrains when its newest model (champion or challenger) is this old
    # The gate a retrained model passes to become champion (`text.model.decide`): both labels'
    # held-out accuracy at least `min_accuracy`, and its mean macro-F1 on the same held-out posts at
    # least the champion's plus `margin`.
    min_accuracy: Probability = 0.5
    margin: float = 0.0


class ReasonInput(Frozen):
    """An input that may explain a propensity: `phrase` is a Java format string of its value times
    `scale` (`"no purchase for %.0f days"`), `phrase_one` the phrase when that value rounds to 1
    (`"no purchase for 1 day"`: the singular; `phrase` is used when it is not set), `when_null`
    the phrase for a missing value."""

    column: Name
    phrase: Name
    phrase_one: str | None = None
    when_null: str | None = None
    scale: float = 1.0


def _default_reason_inputs() -> list[ReasonInput]:
    return [
        ReasonInput(column=c, phrase=p, phrase_one=one, when_null=n, scale=s)
        for c, p, one, n, s in (
            (
                "days_since_last_order",
                "no purchase for %.0f days",
                "no purchase for 1 day",
                "no purchase in the history",
                1.0,
            ),
            ("orders_90d", "%.0f orders in 90 days", "1 order in 90 days", None, 1.0),
            ("revenue_90d", "spent %.0f in 90 days", None, None, 1.0),
            ("days_since_last_visit", "no visit for %.0f days", "no visit for 1 day", "no visit in the history", 1.0),
            ("sessions_30d", "%.0f sessions in 30 days", "1 session in 30 days", None, 1.0),
            ("cart_adds_30d", "%.0f cart adds in 30 days", "1 cart add in 30 days", None, 1.0),
            ("cart_abandonment_rate_30d", "%.0f %% of carts abandoned in 30 days", None, "no cart in 30 days", 100.0),
            ("tenure_days", "customer for %.0f days", "customer for 1 day", "tenure unknown", 1.0),
        )
    ]


class GateConfig(Frozen):
    """The quality gate before publishing a scored day (`portrait.scoring.gate`): the batch is not
    published when a check fails. `max_row_change`: |rows - previous rows| / previous rows;
    `max_null_rate`: per column; `max_psi`: PSI of purchase_propensity (10 bins) against the
    previous published day."""

    enabled: bool = True
    max_row_change: Annotated[float, Field(ge=0)] = 0.2
    max_null_rate: dict[Name, Probability] = Field(
        default_factory=lambda: {"purchase_propensity": 0.0, "segment_id": 0.0, "action": 0.0}
    )
    max_psi: Annotated[float, Field(ge=0)] = 0.25


class ScoreConfig(Frozen):
    policy_file: Name = "actions.yaml"
    holdout_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1  # 0: no holdout; everyone held out is no policy
    reason_inputs: Annotated[list[ReasonInput], Field(min_length=1)] = Field(default_factory=_default_reason_inputs)
    gate: GateConfig = Field(default_factory=GateConfig)


class EvaluateConfig(Frozen):
    """`evaluate`: the outcome tables it measures against and how far back it re-measures."""

    lookback_days: Count = 60  # action dates re-measured by each run (their windows may have closed)


class MartsConfig(Frozen):
    """`marts`: the analysts' tables (`portrait.marts`)."""

    path_steps: Count = 5  # steps of a path to purchase shown before it is cut with '…'
    paths_top: Count = 20  # paths kept per outcome and date
    cohort_weeks: Count = 12  # weekly retention cohorts kept, up to the date's week
    cohort_lookback_weeks: Count = 12  # quiet weeks before a first visit or order for it to be one


class TagsConfig(Frozen):
    """The tag catalog (`portrait.tags`): a YAML file relative to the conf folder."""

    file: Name = "tags.yaml"


class LiveConfig(Frozen):
    """`portrait live` (`portrait.live`): the Structured Streaming job over the clickstream landing
    folders. `trigger_seconds`: the micro-batch interval of the long-running job (`--trigger-seconds`
    overrides it); `max_files_per_trigger`: new landing files taken per micro-batch;
    `lateness_minutes`: the watermark delay, how late (in event time) an event may arrive and still
    count for a trigger; `duplicate_lookback_days`: an event_id kept on one of these earlier landing
    dates is a duplicate; `checkpoint_dir`: where the queries keep their progress and state (shared
    storage on a cluster); None: `<paths.lakehouse>/_checkpoints/live`."""

    trigger_seconds: Count = 10
    max_files_per_trigger: Count = 100
    lateness_minutes: Days = 10
    duplicate_lookback_days: Days = 1
    checkpoint_dir: str | None = None


class Config(Frozen):
    """The whole configuration; stages receive the typed piece they need."""

    source_file: str
    profile: Name
    paths: PathsConfig
    spark: SparkConfig
    mlflow: MlflowConfig
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    tags: TagsConfig = Field(default_factory=TagsConfig)
    marts: MartsConfig = Field(default_factory=MartsConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)

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
