"""The text stage: train the text model when due, then score what is new into `silver.social_signals`.

Only posts the champion version has not scored yet are scored, and the rows of persons whose id
changed get their new `person_id`; a new champion version rescores every post once (one overwrite).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import mlflow
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait import catalog, registry
from portrait.config_models import Config, MlflowConfig, TextConfig
from portrait.io import Commit, Lakehouse
from portrait.models.promotion import DECISION_TAG
from portrait.spark import per_core
from portrait.text.model import build_pipeline, decide, evaluate, score_posts, split, training_rows

log = logging.getLogger(__name__)

INPUTS = (catalog.SILVER_SOCIAL,)
OUTPUTS = (catalog.SILVER_SOCIAL_SIGNALS,)
SIGNAL_COLUMNS = (
    "post_id",
    "person_id",
    "sentiment",
    "sentiment_score",
    "topic",
    "topic_confidence",
    "model_version",
    "as_of_date",
)


def _last_trained_on(model_name: str) -> dt.date | None:
    """The training date of the newest text model, promoted (`champion`) or not (`challenger`): a
    model the gate turned down is not retrained before `retrain_days` either."""
    dates = []
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        try:
            _, tags = registry.alias_info(model_name, alias)
        except LookupError:
            continue
        if "trained_on" in tags:
            dates.append(dt.date.fromisoformat(tags["trained_on"]))
    return max(dates, default=None)


def _gate(conf: TextConfig, version: str, metrics: dict[str, float], test_rows: DataFrame) -> tuple[bool, str]:
    """Decide on the registered `version` against the champion re-measured on the same held-out
    posts (`text.model.decide`); set its alias (`champion` or `challenger`) and its decision tag."""
    current = registry.load_champion_if_any(conf.model_name)
    champion, champion_version = None, None
    if current is not None:
        champion_version = str(current[1])
        try:
            champion = evaluate(current[0], test_rows)
        except AnalysisException as exc:  # it cannot read today's posts: it cannot score them either
            log.warning("text champion v%s cannot score the held-out posts: %s", champion_version, exc)
    promote, reason = decide(
        metrics, champion, min_accuracy=conf.min_accuracy, margin=conf.margin, champion_version=champion_version
    )
    if promote:
        registry.set_champion(conf.model_name, version)
    else:
        registry.set_alias(conf.model_name, registry.CHALLENGER, version)
        log.warning("text model v%s not promoted: %s", version, reason)
    decision = ("promoted: " if promote else "not promoted: ") + reason
    registry.set_version_tags(conf.model_name, version, {DECISION_TAG: decision})
    return promote, decision


def unscored(social: DataFrame, signals: DataFrame, version: str) -> DataFrame:
    """Posts of `social` (`post_id`, `text`, `person_id`) that `version` has not scored."""
    done = signals.where(F.col("model_version") == F.lit(version)).select("post_id")
    return social.join(done, on="post_id", how="left_anti")


def moved(social: DataFrame, signals: DataFrame) -> DataFrame:
    """Signals whose post's person changed since they were written: (`post_id`, `person_id` now)."""
    return (
        signals.select("post_id", F.col("person_id").alias("_old"))
        .join(
            social.select("post_id", "person_id"),
            on="post_id",
            how="inner",
        )
        .where(~F.col("person_id").eqNullSafe(F.col("_old")))
        .select("post_id", "person_id")
    )


def _train(
    lake: Lakehouse, conf: TextConfig, date: dt.date, social: DataFrame, *, topics: tuple[str, ...], labels_path: str
) -> dict:
    """Fit, evaluate on the held-out posts, register the model and pass it through the gate (`_gate`);
    return its test metrics and whether it was promoted."""
    labels = lake.spark.read.parquet(labels_path)
    # One partition per core: each of the regressions' iterations is a Spark job, costed per task.
    rows = per_core(training_rows(social, labels, topics=topics)).persist(StorageLevel.MEMORY_AND_DISK)
    train_rows, test_rows = split(rows, test_fraction=conf.test_fraction)
    with mlflow.start_run(run_name=f"text-{date}") as run_:
        mlflow.set_tags(
            {
                "model": conf.model_name,
                "portrait.as_of_date": date.isoformat(),
                "delta_version.silver.social": str(lake.version(catalog.SILVER_SOCIAL)),
                "labels_path": labels_path,
            }
        )
        mlflow.log_params(
            {
                "num_features": conf.num_features,
                "reg_param": conf.reg_param,
                "max_iter": conf.max_iter,
                "test_fraction": conf.test_fraction,
                "topics": ",".join(topics),
            }
        )
        model = build_pipeline(
            topics=topics, num_features=conf.num_features, reg_param=conf.reg_param, max_iter=conf.max_iter
        ).fit(train_rows)
        metrics = evaluate(model, test_rows)
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        version = registry.log_and_register(
            model, name=conf.model_name, tags={"run_id": run_.info.run_id, "trained_on": date.isoformat()}
        )
        promoted, decision = _gate(conf, version, metrics, test_rows)
        mlflow.set_tag(DECISION_TAG, decision)
    rows.unpersist()
    return {"trained": True, "promoted": promoted, **{f"test_{k}": v for k, v in metrics.items()}}


@dataclass(frozen=True)
class RunConf:
    """What the text stage takes from the configuration (`RunConf.of(cfg)`)."""

    text: TextConfig  # the `text` section
    mlflow: MlflowConfig  # where the registry is
    categories: tuple[str, ...]  # the interest topics (`features.categories`)
    labels_path: str  # the labelled posts (parquet: post_id, sentiment, topic)

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        labels = cfg.text.labels_path or f"{cfg.paths.truth}/social_labels"
        return cls(cfg.text, cfg.mlflow, tuple(cfg.features.categories), labels)


def run(lake: Lakehouse, conf: RunConf, date: dt.date) -> dict:
    """Train when due, then score the posts up to `date` the champion has not scored yet.

    Training is due when there is no champion yet or the champion is `text.retrain_days` old.
    A champion whose version has not scored the table yet rescores every post (one overwrite);
    otherwise one MERGE inserts the new posts' signals and moves the rows whose person changed.

    Args:
        lake: the lakehouse.
        conf: the `text` section, the registry, the topics and the labelled posts.
        date: the run date D.

    Returns:
        `model_version`, `mode` (full or new), `posts_scored` and `rows_moved` from the commit
        metrics, and the test metrics when it trained.
    """
    registry.configure(conf.mlflow)
    topics, labels_path, settings = conf.categories, conf.labels_path, conf.text
    social = lake.read(catalog.SILVER_SOCIAL).where(F.to_date("ts") <= F.lit(date))
    result: dict = {}
    trained_on = _last_trained_on(settings.model_name)
    if trained_on is None or (date - trained_on).days >= settings.retrain_days:
        result.update(_train(lake, settings, date, social, topics=topics, labels_path=labels_path))
    found = registry.load_champion_if_any(settings.model_name)
    if found is None:
        raise LookupError(
            f"text model {settings.model_name!r} has no champion to score with: its newest version was "
            f"turned down by the gate ({registry.alias_info(settings.model_name, registry.CHALLENGER)[1].get(DECISION_TAG)}); "
            "lower text.min_accuracy, or add labelled posts (text.labels_path)"
        )
    model, version, _ = found
    version = str(version)
    table = catalog.SILVER_SOCIAL_SIGNALS
    signals = lake.read(table) if lake.exists(table) else None
    full = signals is None or not signals.where(F.col("model_version") != F.lit(version)).limit(1).isEmpty()
    todo = social if full else unscored(social, signals, version)  # type: ignore[arg-type]
    scored = (
        score_posts(model, todo.select("post_id", "text"))
        .join(
            todo.select("post_id", "person_id"),
            on="post_id",
            how="inner",
        )
        .select(*SIGNAL_COLUMNS[:-2], F.lit(version).alias("model_version"), F.lit(date).alias("as_of_date"))
    )
    if full:
        commit = lake.overwrite(scored, table)
        result.update({"model_version": version, "mode": "full", "posts_scored": commit.rows_new, "rows_moved": 0})
    else:
        commit = _merge(lake, scored, moved(social, signals), date)  # type: ignore[arg-type]
        inserted = commit.metrics.get("numTargetRowsInserted", 0)
        result.update(
            {
                "model_version": version,
                "mode": "new",
                "posts_scored": inserted,
                "rows_moved": commit.metrics.get("numTargetRowsUpdated", 0),
            }
        )
    log.info("text signals as of %s: %s", date, result)
    return result


def _merge(lake: Lakehouse, scored: DataFrame, moves: DataFrame, date: dt.date) -> Commit:
    """Insert the new signals and give the moved ones their new person, in one MERGE."""
    from delta.tables import DeltaTable

    table = catalog.SILVER_SOCIAL_SIGNALS
    updates = moves.select(
        "post_id", "person_id", *[F.lit(None).alias(c) for c in SIGNAL_COLUMNS[2:-1]], F.lit(date).alias("as_of_date")
    )
    source = scored.unionByName(updates.select(*[updates[c].cast(scored.schema[c].dataType) for c in SIGNAL_COLUMNS]))
    merge = (
        DeltaTable.forPath(lake.spark, lake.path(table))
        .alias("t")
        .merge(source.alias("s"), F.col("t.post_id") == F.col("s.post_id"))
        .whenMatchedUpdate(
            condition=F.col("s.model_version").isNull(), set={"person_id": "s.person_id", "as_of_date": "s.as_of_date"}
        )
        .whenNotMatchedInsert(
            condition=F.col("s.model_version").isNotNull(), values={c: f"s.{c}" for c in SIGNAL_COLUMNS}
        )
    )
    return lake.execute(table, merge)  # through the lakehouse: the stage's scope and the cost meter see it
