"""The pipeline's jobs, their order, and the one declaration of how each job is run.

The daily chain runs once per new day D, in this order; `train` runs weekly (or when a gate asks)
and must have run once before the first `score`; the on-demand jobs run when someone asks.
`portrait --help`, `portrait backfill`, `portrait demo` and the README's job list all read the
order from here (`python -m portrait.pipeline` prints the README's block; a test keeps them equal).

Every job is a run module (`portrait.<package>.run`) that declares the tables it reads and writes
(`INPUTS`, `OUTPUTS`) and has one entry point, `run(lake, conf, date, **options)`, where `conf` is
the part of the configuration it needs: one `Config` section, or the module's own `RunConf.of(cfg)`
when it needs several. `RUNS` holds one `Job` per job (its module, its conf, its options) and
`run_stage` runs any of them the same way: a lakehouse scoped to the declaration, the session's
checkpoint directory, the cost meter and the run log. Adding a job is a package and one `Job` here.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

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
    Stage("marts", "the analysts' funnel, paths, RFM grid and tag coverage of D -> gold"),
)
WEEKLY = (Stage("train", "tune, gate and promote the models in the MLflow registry"),)
ON_DEMAND = (
    Stage("generate", "a synthetic landing zone and its truth (same seed, same data)"),
    Stage("audience", "a named audience (--where over portrait, tags) -> gold.audiences"),
    Stage("erase", "remove one person from every table (right to erasure)"),
)
LIVE = (Stage("live", "new clickstream files as they land -> live portrait, triggered actions"),)
STAGES: dict[str, Stage] = {s.name: s for s in (*DAILY, *WEEKLY, *ON_DEMAND, *LIVE)}
DAILY_CHAIN: tuple[str, ...] = tuple(s.name for s in DAILY)


# On an empty lake the first `score` needs champion models: the demo runs the example audience and
# the weekly jobs right before it.
DEMO_BEFORE = "score"
DEMO_EXTRA = ("audience",)


def demo_order() -> tuple[str, ...]:
    """The demo's order on an empty lake: the daily chain, with the example audience and the
    weekly training run after tags, since the first `score` needs champion models."""
    before = DAILY_CHAIN[: DAILY_CHAIN.index(DEMO_BEFORE)]
    return (*before, *DEMO_EXTRA, *(s.name for s in WEEKLY), *DAILY_CHAIN[len(before) :])


def describe() -> str:
    """The stage order as the README shows it (a test checks that the README contains it)."""
    width = max(len(name) for name in STAGES)
    lines = ["daily, in this order, for each new day D:"]
    lines += [f"  {i}. {s.name:<{width}}  {s.summary}" for i, s in enumerate(DAILY, 1)]
    lines += ["weekly (and once before the first score):"]
    lines += [f"     {s.name:<{width}}  {s.summary}" for s in WEEKLY]
    lines += ["on demand:"]
    lines += [f"     {s.name:<{width}}  {s.summary}" for s in ON_DEMAND]
    lines += ["continuously, next to the daily chain (docs/live.md):"]
    lines += [f"     {s.name:<{width}}  {s.summary}" for s in LIVE]
    return "\n".join(lines) + "\n"


# --- how each job is run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """How `run_stage` runs one job: `module.run(lake, conf, date, **options)` on a lakehouse scoped
    to the module's `INPUTS` and `OUTPUTS`.

    Attributes:
        module: the job's run module: `INPUTS`, `OUTPUTS` and `run`.
        section: the `Config` section its `run` takes as `conf` (e.g. `"features"`); None: the
            module's `RunConf.of(cfg)` takes what it needs from several sections.
        options: the keyword options its `run` takes from the command line (the options' argparse
            names); `run_stage` refuses any other.
        mapped: `"inputs"` or `"outputs"`: it also reads, or writes, the bronze table of every
            orders mapping (`ingest.mappings`), which only the configuration knows.
        says: the module's function that words the command line's one line for its result
            (`says(result, date=, short=, **options)`); empty: the result as JSON.
        date_option: the command-line option that gives its run date.
    """

    module: str
    section: str | None = None
    options: tuple[str, ...] = ()
    mapped: Literal["", "inputs", "outputs"] = ""
    says: str = ""
    date_option: str = "date"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def conf(self, cfg: Config) -> Any:
        """The part of `cfg` the job's `run` takes."""
        return getattr(cfg, self.section) if self.section else self.load().RunConf.of(cfg)


RUNS: dict[str, Job] = {
    "generate": Job("portrait.generator.run", options=("scale", "seed")),
    "ingest": Job("portrait.ingest.run", options=("start", "sources"), mapped="outputs"),
    "identity": Job("portrait.identity.run", options=("rebuild",)),
    "text": Job("portrait.text.run"),
    "features": Job("portrait.features.run", section="features", options=("start", "full")),
    "tags": Job("portrait.tags.run"),
    "audience": Job("portrait.audience.run", options=("name", "where")),
    "train": Job("portrait.train.run"),
    "score": Job("portrait.scoring.run"),
    "evaluate": Job("portrait.evaluate.run"),
    "marts": Job("portrait.marts.run", section="marts"),
    "erase": Job("portrait.erase.run", options=("identifiers", "person_ids"), mapped="outputs"),
    "live": Job("portrait.live.run", options=("available_now", "trigger_seconds")),
    "report": Job("portrait.report.run", section="mlflow", options=("out_dir",), says="summary_line"),
    "orders-model": Job(
        "portrait.orders_model.run",
        options=("source", "horizon_days"),
        mapped="inputs",
        says="summary_line",
        date_option="calibration_date",
    ),
}
assert set(STAGES) <= set(RUNS), "every stage has a declaration"

# The scope of the last run of each job in this process: what it touched (tests read it).
LAST_SCOPE: dict[str, Any] = {}


def declared(name: str) -> tuple[tuple, tuple]:
    """The tables job `name` declares it reads (`INPUTS`) and writes (`OUTPUTS`), without the mapped ones."""
    module = RUNS[name].load()
    return tuple(module.INPUTS), tuple(module.OUTPUTS)


def scoped_lake(spark: SparkSession, cfg: Config, name: str) -> Any:
    """The conf's lakehouse scoped to what job `name` declares, its mapped tables included
    (`io.Lakehouse.scoped`: anything else it touches is an error naming the job and the table)."""
    from portrait.ingest.mapping import table_of
    from portrait.io import Lakehouse

    inputs, outputs = declared(name)
    mapped = tuple(table_of(source, m) for source, m in cfg.ingest.mappings.items())
    if RUNS[name].mapped == "inputs":
        inputs += mapped
    elif RUNS[name].mapped == "outputs":
        outputs += mapped
    lake = Lakehouse(spark, cfg.paths.lakehouse).scoped(name, inputs, outputs)
    LAST_SCOPE[name] = lake.scope
    return lake


def _call(name: str, spark: SparkSession, cfg: Config, date: dt.date, options: dict[str, Any]) -> Any:
    """Job `name`'s `run` on its scoped lakehouse, with its conf, after the session's reliable
    checkpoint directory is set from the conf (`spark.checkpoint_dir`, default
    `<lakehouse>/_checkpoints`; set here only, for any job that cuts a plan)."""
    from portrait.spark import set_checkpoint_dir

    job = RUNS[name]
    set_checkpoint_dir(spark, cfg.spark.checkpoint_dir, cfg.paths.lakehouse)
    return job.load().run(scoped_lake(spark, cfg, name), job.conf(cfg), date, **options)


def run_stage(name: str, spark: SparkSession, cfg: Config, date: dt.date, /, **options: Any) -> Any:
    """Run job `name` (`RUNS`) for `date` with its `options` (imports stay lazy so `--help` is
    instant), log its progress (job, date, elapsed, what it returned) and record the outcome and
    its cost in the run log.

    Returns:
        What the job's `run` returned (counts, model metrics, ...).

    Raises:
        ValueError: `name` is not a declared job. TypeError: an option the job does not take.
    """
    from portrait import costs, runlog

    if name not in RUNS:
        raise ValueError(f"unknown job {name!r}; known: {', '.join(RUNS)}")
    unknown = sorted(set(options) - set(RUNS[name].options))
    if unknown:
        raise TypeError(
            f"{name} takes no option {', '.join(unknown)} (its options: {', '.join(RUNS[name].options) or 'none'})"
        )
    log.info("%s %s: started", name, date)
    started_at = dt.datetime.now(dt.timezone.utc)
    try:
        with costs.meter(spark) as cost:
            result = _call(name, spark, cfg, date, options)
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


def result_line(name: str, date: dt.date, result: Any, options: dict[str, Any]) -> str | None:
    """The command line's one line for job `name`'s result when the job words it (`Job.says`), else None."""
    job = RUNS[name]
    return getattr(job.load(), job.says)(result, date=date, short=short, **options) if job.says else None


def describe_contract() -> str:
    """The tables each job may read and write, from its declaration, as the README's table
    (`python -m portrait.pipeline --contract`; a test checks that the README contains it)."""
    from portrait import catalog

    def names(tables: tuple, mapped: bool) -> str:
        if {t.full_name for t in tables} >= {t.full_name for t in catalog.ALL}:
            shown = "every table of the catalog"
        else:
            shown = ", ".join(f"`{t.full_name}`" for t in tables)
        extra = "one bronze table per orders mapping" if mapped else ""
        return " and ".join(part for part in (shown, extra) if part) or "—"

    lines = ["| job | may read (`INPUTS`, and its outputs) | may write (`OUTPUTS`) |", "|---|---|---|"]
    for name, job in RUNS.items():
        inputs, outputs = declared(name)
        lines.append(
            f"| `{name}` | {names(inputs, job.mapped == 'inputs')} | {names(outputs, job.mapped == 'outputs')} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(describe_contract() if "--contract" in sys.argv[1:] else describe(), end="")
