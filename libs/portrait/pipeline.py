"""The pipeline's stages, their order and the one place each stage is called.

The daily chain runs once per new day D, in this order; `train` runs weekly (or when a gate asks)
and must have run once before the first `score`; the on-demand jobs run when someone asks.
`portrait --help`, `portrait backfill`, `portrait demo` and the README's job list all read the
order from here (`python -m portrait.pipeline` prints the README's block; a test keeps them equal).

Each stage is called through one small dispatch function (`_ingest`, `_identity`, ...): when a
stage's `run` signature changes, that function is the only line to change.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyspark and the config load lazily, so that `portrait --help` is instant
    from pyspark.sql import SparkSession

    from portrait.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """A job of the pipeline: its name (`portrait <name>`, `jobs/<name>.py`) and what it does."""

    name: str
    summary: str  # one line, shown by `portrait --help` and the README


DAILY = (
    Stage("ingest", "landing files of D -> bronze (bad rows quarantined, PII hashed)"),
    Stage("identity", "link identifiers into one person_id -> silver tables"),
    Stage("text", "text signals of new social posts -> silver.social_signals"),
    Stage("features", "the point-in-time portrait as of D -> gold.portrait"),
    Stage("tags", "the tag catalog over the portrait -> gold.tags"),
    Stage("score", "champion models -> published segments, propensities, actions"),
    Stage("evaluate", "treated vs holdout after the outcome window -> uplift"),
)
WEEKLY = (Stage("train", "tune, gate and promote the models in the MLflow registry"),)
ON_DEMAND = (
    Stage("generate", "a synthetic landing zone and its truth (same seed, same data)"),
    Stage("audience", "a named audience (--where over portrait, tags) -> gold.audiences"),
    Stage("erase", "remove one person from every table (right to erasure)"),
)
STAGES: dict[str, Stage] = {s.name: s for s in (*DAILY, *WEEKLY, *ON_DEMAND)}
DAILY_CHAIN: tuple[str, ...] = tuple(s.name for s in DAILY)


def demo_order() -> tuple[str, ...]:
    """The demo's order on an empty lake: the daily chain, with the example audience and the
    weekly training run after tags, since the first `score` needs champion models."""
    before_score = DAILY_CHAIN[: DAILY_CHAIN.index("score")]
    return (*before_score, "audience", *(s.name for s in WEEKLY), *DAILY_CHAIN[len(before_score) :])


def describe() -> str:
    """The stage order as the README shows it (a test checks that the README contains it)."""
    width = max(len(name) for name in STAGES)
    lines = ["daily, in this order, for each new day D:"]
    lines += [f"  {i}. {s.name:<{width}}  {s.summary}" for i, s in enumerate(DAILY, 1)]
    lines += ["weekly (and once before the first score):"]
    lines += [f"     {s.name:<{width}}  {s.summary}" for s in WEEKLY]
    lines += ["on demand:"]
    lines += [f"     {s.name:<{width}}  {s.summary}" for s in ON_DEMAND]
    return "\n".join(lines) + "\n"


# --- the one call into each stage ---------------------------------------------------------------


# The module of each stage that declares what it reads and writes (`INPUTS`, `OUTPUTS`).
DECLARED_IN = {
    "ingest": "portrait.ingest.run",
    "identity": "portrait.identity.run",
    "text": "portrait.text.run",
    "features": "portrait.features.run",
    "tags": "portrait.tags.run",
    "audience": "portrait.audience.run",
    "train": "portrait.train.run",
    "score": "portrait.scoring.run",
    "evaluate": "portrait.evaluate.run",
    "erase": "portrait.erase.run",
}
# The scope of the last run of each stage in this process: what it touched (tests read it).
LAST_SCOPE: dict[str, Any] = {}


def declared(stage: str, *, also: tuple = ()) -> tuple[tuple, tuple]:
    """The tables `stage` declares it reads (`INPUTS`) and writes (`OUTPUTS`, and `also`)."""
    import importlib

    module = importlib.import_module(DECLARED_IN[stage])
    return tuple(module.INPUTS), (*module.OUTPUTS, *also)


def _lake(spark: SparkSession, cfg: Config, stage: str, *, also: tuple = ()) -> Any:
    """The conf's lakehouse scoped to what `stage` declares (`io.Lakehouse.scoped`: anything else
    it touches is an error naming the stage and the table), with the session's reliable checkpoint
    directory set from the conf (`spark.checkpoint_dir`, default `<lakehouse>/_checkpoints`) for any
    stage that cuts a plan."""
    from portrait.io import Lakehouse
    from portrait.spark import set_checkpoint_dir

    set_checkpoint_dir(spark, cfg.spark.checkpoint_dir, cfg.paths.lakehouse)
    inputs, outputs = declared(stage, also=also)
    lake = Lakehouse(spark, cfg.paths.lakehouse).scoped(stage, inputs, outputs)
    LAST_SCOPE[stage] = lake.scope
    return lake


def _generate(
    spark: SparkSession, cfg: Config, date: dt.date, *, scale: float | None = None, seed: int | None = None
) -> Any:
    from portrait import generator

    g = cfg.generator
    return generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=scale or g.scale,
        seed=seed if seed is not None else g.seed,
        end_date=date,
        days=g.days,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=g.dirty_fraction,
    )


def _ingest(
    spark: SparkSession, cfg: Config, date: dt.date, *, start: dt.date | None = None, sources: list[str] | None = None
) -> Any:
    from portrait import ingest
    from portrait.ingest.mapping import table_of

    mapped = tuple(table_of(name, m) for name, m in cfg.ingest.mappings.items())  # one bronze table a mapping
    return ingest.run(
        _lake(spark, cfg, "ingest", also=mapped),
        cfg.ingest,
        date,
        landing=cfg.paths.landing,
        pii_key=cfg.pii_key(),
        start=start,
        sources=sources,
    )


def _identity(spark: SparkSession, cfg: Config, date: dt.date, *, rebuild: bool = False) -> Any:
    from portrait import identity

    return identity.run(
        _lake(spark, cfg, "identity"),
        cfg.identity,
        date,
        pii_key=cfg.pii_key(),
        checkpoint_dir=cfg.spark.checkpoint_dir,
        rebuild=rebuild,
    )


def _text(spark: SparkSession, cfg: Config, date: dt.date) -> Any:
    from portrait import text

    return text.run(
        _lake(spark, cfg, "text"),
        cfg.text,
        date,
        mlflow_conf=cfg.mlflow,
        categories=cfg.features.categories,
        labels_path=cfg.text.labels_path or f"{cfg.paths.truth}/social_labels",
    )


def _features(
    spark: SparkSession, cfg: Config, date: dt.date, *, start: dt.date | None = None, full: bool = False
) -> Any:
    from portrait import features

    return features.run(_lake(spark, cfg, "features"), cfg.features, date, start=start, incremental=not full)


def _tags(spark: SparkSession, cfg: Config, date: dt.date) -> Any:
    from portrait import tags

    return tags.run(_lake(spark, cfg, "tags"), cfg.tags, date, features_conf=cfg.features, conf_dir=cfg.conf_dir)


def _audience(spark: SparkSession, cfg: Config, date: dt.date, *, name: str, where: str) -> Any:
    from portrait import audience

    return audience.run(
        _lake(spark, cfg, "audience"),
        cfg.tags,
        date,
        features_conf=cfg.features,
        conf_dir=cfg.conf_dir,
        name=name,
        where=where,
    )


def _train(spark: SparkSession, cfg: Config, date: dt.date) -> Any:
    from portrait import train

    return train.run(
        _lake(spark, cfg, "train"),
        cfg.train,
        date,
        mlflow_conf=cfg.mlflow,
        features_conf=cfg.features,
        config_sha256=train.config_sha256(cfg),
    )


def _score(spark: SparkSession, cfg: Config, date: dt.date) -> Any:
    from portrait import actions, scoring

    policy = actions.load_policy(cfg.conf_dir / cfg.score.policy_file)
    return scoring.run(_lake(spark, cfg, "score"), cfg.score, cfg.train, policy, date, mlflow=cfg.mlflow)


def _evaluate(spark: SparkSession, cfg: Config, date: dt.date) -> Any:
    from portrait import actions, evaluate

    policy = actions.load_policy(cfg.conf_dir / cfg.score.policy_file)
    return evaluate.run(_lake(spark, cfg, "evaluate"), cfg.evaluate, policy, date, mlflow=cfg.mlflow)


def _erase(
    spark: SparkSession,
    cfg: Config,
    date: dt.date,
    *,
    identifiers: list[str] | None = None,
    person_ids: list[str] | None = None,
) -> Any:
    from portrait import erase
    from portrait.ingest.mapping import table_of

    mapped = tuple(table_of(name, m) for name, m in cfg.ingest.mappings.items())  # person data too
    return erase.run(
        _lake(spark, cfg, "erase", also=mapped),
        date,
        pii_key=cfg.pii_key(),
        identifiers=identifiers,
        person_ids=person_ids,
    )


_RUNNERS: dict[str, Callable[..., Any]] = {
    "generate": _generate,
    "ingest": _ingest,
    "identity": _identity,
    "text": _text,
    "features": _features,
    "tags": _tags,
    "audience": _audience,
    "train": _train,
    "score": _score,
    "evaluate": _evaluate,
    "erase": _erase,
}
assert set(_RUNNERS) == set(STAGES), "every stage has exactly one dispatch function"


def run_stage(name: str, spark: SparkSession, cfg: Config, date: dt.date, /, **options: Any) -> Any:
    """Run one stage for `date` (imports stay lazy so `--help` is instant), log its progress
    (stage, date, elapsed, what it returned) and record the outcome in the run log.

    Returns:
        What the stage's `run` returned (counts, model metrics, ...).
    """
    from portrait import costs, runlog

    if name not in _RUNNERS:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")
    log.info("%s %s: started", name, date)
    started_at = dt.datetime.now(dt.timezone.utc)
    try:
        with costs.meter(spark) as cost:
            result = _RUNNERS[name](spark, cfg, date, **options)
    except Exception as exc:  # an interrupt (KeyboardInterrupt) is not a recorded outcome
        log.info("%s %s: failed after %.1f s", name, date, cost.seconds)
        runlog.record(
            spark,
            cfg.paths.lakehouse,
            name,
            date,
            ok=False,
            started_at=started_at,
            cost=cost,
            detail=runlog.describe_error(exc),
        )
        raise
    log.info(
        "%s %s: done in %.1f s (%s Spark jobs, %d Delta commits): %s",
        name,
        date,
        cost.seconds,
        cost.jobs,
        cost.commit_count,
        short(result),
    )
    runlog.record(
        spark,
        cfg.paths.lakehouse,
        name,
        date,
        ok=True,
        started_at=started_at,
        cost=cost,
        detail=short(result, limit=100_000),
    )
    LAST_COST[name] = cost
    return result


# The cost of the last run of each stage in this process (`bench.daily` reads it).
LAST_COST: dict[str, Any] = {}


def short(result: Any, *, limit: int = 160) -> str:
    """A stage's result as one line of JSON, cut at `limit` characters."""
    shown = json.dumps(result, default=str)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def describe_contract() -> str:
    """The tables each stage may read and write, from its declaration, as the README's table
    (`python -m portrait.pipeline --contract`; a test checks that the README contains it)."""
    from portrait import catalog

    def names(tables: tuple) -> str:
        if {t.full_name for t in tables} >= {t.full_name for t in catalog.ALL}:
            return "every table of the catalog"
        return ", ".join(f"`{t.full_name}`" for t in tables) or "—"

    lines = ["| job | may read (`INPUTS`, and its outputs) | may write (`OUTPUTS`) |", "|---|---|---|"]
    for stage in DECLARED_IN:
        inputs, outputs = declared(stage)
        extra = " and one bronze table per orders mapping" if stage == "ingest" else ""
        lines.append(f"| `{stage}` | {names(inputs)} | {names(outputs)}{extra} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(describe_contract() if "--contract" in sys.argv[1:] else describe(), end="")
