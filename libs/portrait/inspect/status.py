"""`portrait status`: every table's Delta version, last date and rows; each job's last run; champions.

Where each answer comes from (nothing scans a table's data):
- rows and last date: one `count(*)`/`max(<date column>)` aggregate that Delta answers from its
  log (the `numRecords` statistics and partition values of the live files: Delta's metadata-only
  query optimisation), so no data file is read;
- version and last write: the table's latest commit (`DESCRIBE HISTORY`, one row);
- a job's last run: the newest commit among the tables the catalog says it writes (`written_by`).
  A Delta commit only exists when a job's write succeeded, so this is its last *successful* write;
  `train` also reads its newest MLflow run, whose status (FINISHED, FAILED, RUNNING, KILLED) does
  record a failed or interrupted run; a job that writes no table (generate, report, orders-model)
  has its newest run in the run log (`portrait.runlog`);
- champions: the MLflow registry's `champion` (and `challenger`) alias of every model the conf
  names, with the out-of-time metrics of the run that logged the version, its `promotion_decision`
  tag and, for a propensity, its `family` tag (gbt, logistic or blend with its weight).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from portrait import catalog, pipeline, runlog
from portrait.catalog import Table
from portrait.config import Config
from portrait.io import Lakehouse
from portrait.models.family import FAMILY_TAG

# The order in which the jobs first run on a new lake (`pipeline.demo_order`: the daily chain, with
# audience and train before the first score), then the other jobs the pipeline declares (`RUNS`);
# jobs the catalog names later are appended in catalog order.
JOB_ORDER = (*pipeline.demo_order(), *(name for name in pipeline.RUNS if name not in pipeline.demo_order()))
NO_TABLE = "writes no table: its last run is the run log's"
SHOWN_METRICS = (
    "test_auc",
    "test_pr_auc",
    "test_ece",
    "test_brier",
    "test_base_rate",
    "silhouette",
    "k",
    "champion_test_auc",
)


@dataclass(frozen=True)
class TableStatus:
    """What the Delta log says about one table (all None when it does not exist)."""

    table: Table
    version: int | None = None
    last_date: dt.date | None = None
    rows: int | None = None
    last_write: dt.datetime | None = None
    operation: str | None = None


@dataclass(frozen=True)
class JobStatus:
    """A job's last run as far as the lakehouse (and, for train, MLflow) can tell."""

    job: str
    last_run: dt.datetime | None
    outcome: str
    detail: str = ""
    cost: str = ""  # the newest run in the run log: date, seconds, Spark jobs, Delta commits


@dataclass(frozen=True)
class ModelStatus:
    """One alias of one registered model."""

    name: str
    alias: str
    version: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    decision: str = ""
    run_id: str | None = None
    family: str = ""  # the version's `family` tag: gbt, logistic or blend (with its weight); "" before families


@dataclass(frozen=True)
class Status:
    lakehouse: str
    tables: tuple[TableStatus, ...]
    jobs: tuple[JobStatus, ...]
    models: tuple[ModelStatus, ...]
    mlflow_note: str = ""


def table_status(lake: Lakehouse, table: Table) -> TableStatus:
    """Version, last date, rows and last commit of `table` from its Delta log."""
    if not lake.exists(table):
        return TableStatus(table)
    last = (
        DeltaTable.forPath(lake.spark, lake.path(table)).history(1).select("version", "timestamp", "operation").first()
    )
    df = lake.read(table)
    aggs = [F.count(F.lit(1)).alias("rows")]
    if table.date_column and table.date_column in df.columns:
        aggs.append(F.max(table.date_column).alias("last_date"))
    row = df.agg(*aggs).first()
    last_date = row["last_date"] if "last_date" in row.asDict() else None
    return TableStatus(table, int(last["version"]), last_date, int(row["rows"]), last["timestamp"], last["operation"])


def job_statuses(
    tables: tuple[TableStatus, ...],
    train_run: JobStatus | None = None,
    runs: Mapping[str, runlog.LastRun] | None = None,
) -> tuple[JobStatus, ...]:
    """Each job's newest commit over the tables it writes; `train_run` (from MLflow) replaces train's.
    A job that writes no table (generate, report, orders-model) has its newest run in the run log
    (`runs`), or none."""
    jobs = list(JOB_ORDER) + sorted({t.table.written_by for t in tables} - set(JOB_ORDER))
    out = []
    for job in jobs:
        if job == "train" and train_run is not None:
            out.append(train_run)
            continue
        if not any(t.table.written_by == job for t in tables):
            out.append(_logged_only(job, (runs or {}).get(job)))
            continue
        written = [t for t in tables if t.table.written_by == job and t.last_write is not None]
        if not written:
            out.append(JobStatus(job, None, "never run", "none of its tables exists"))
            continue
        newest = max(written, key=lambda t: t.last_write)  # type: ignore[arg-type, return-value]
        out.append(
            JobStatus(
                job, newest.last_write, "succeeded", f"last commit: {newest.operation} {newest.table} v{newest.version}"
            )
        )
    return tuple(out)


def _logged_only(job: str, run: runlog.LastRun | None) -> JobStatus:
    """A job that writes no table, as the run log knows it."""
    if run is None:
        return JobStatus(job, None, "never run", NO_TABLE)
    return JobStatus(job, run.finished_at, "succeeded" if run.ok else "failed", NO_TABLE)


def model_names(cfg: Config) -> tuple[str, ...]:
    """The registered models the conf names: purchase, churn, segments, text."""
    t = cfg.train
    return (t.propensity_model, t.churn_model, t.segment_model, cfg.text.model_name)


def registry_status(cfg: Config) -> tuple[tuple[ModelStatus, ...], JobStatus | None, str]:
    """Champion/challenger of every model and the newest training run; read only (no experiment made)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from portrait import registry

    uri = cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///") and not _exists(uri[len("sqlite:///") :]):
        return (), None, f"no MLflow store at {uri}: run the `train` job first"
    client = MlflowClient(tracking_uri=uri, registry_uri=cfg.mlflow.registry_uri or uri)
    models = []
    for name in model_names(cfg):
        for alias in (registry.CHAMPION, registry.CHALLENGER):
            try:
                mv = client.get_model_version_by_alias(name, alias)
            except MlflowException:
                if alias == registry.CHAMPION:
                    models.append(ModelStatus(name, alias, None, decision="no champion: run the `train` job"))
                continue
            metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            shown = {k: float(v) for k, v in metrics.items() if k in SHOWN_METRICS}
            tags = dict(mv.tags)
            models.append(
                ModelStatus(
                    name,
                    alias,
                    str(mv.version),
                    shown,
                    tags.get("promotion_decision", ""),
                    mv.run_id,
                    tags.get(FAMILY_TAG, ""),
                )
            )
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    train = None
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string="tags.model != ''",
            order_by=["attributes.start_time DESC"],
            max_results=20,
        )
        top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        if top:
            r = top[0]
            started = dt.datetime.fromtimestamp(r.info.start_time / 1000, tz=dt.timezone.utc)
            train = JobStatus(
                "train", started, r.info.status.lower(), f"MLflow run {r.info.run_name} ({r.info.run_id[:8]})"
            )
    return tuple(models), train, ""


def _exists(path: str) -> bool:
    return Path(path).exists()


def with_costs(jobs: tuple[JobStatus, ...], runs: Mapping[str, runlog.LastRun]) -> tuple[JobStatus, ...]:
    """Each job with what its newest logged run cost (a job never run through the CLI has none)."""
    out = []
    for j in jobs:
        r = runs.get(j.job)
        if r is None:
            out.append(j)
            continue
        jobs_ = "?" if r.spark_jobs is None else r.spark_jobs
        commits = "?" if r.delta_commits is None else r.delta_commits
        outcome = "ok" if r.ok else "FAILED"
        cost = f"run of {r.date}: {outcome}, {r.elapsed_s:.1f} s, {jobs_} Spark jobs, {commits} Delta commits"
        out.append(JobStatus(j.job, j.last_run, j.outcome, j.detail, cost))
    return tuple(out)


def collect_status(lake: Lakehouse, cfg: Config) -> Status:
    """The status of every table in `catalog.ALL`, every job (with its last run's cost from the run
    log) and every model of the conf."""
    tables = tuple(table_status(lake, t) for t in catalog.ALL)
    models, train, note = registry_status(cfg)
    runs = runlog.last_runs(lake.spark, lake.root)
    jobs = with_costs(job_statuses(tables, train, runs), runs)
    return Status(lake.root, tables, jobs, models, note)


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def format_status(status: Status) -> str:
    """The status as readable text: tables, jobs, models."""
    lines = [
        f"Lakehouse {status.lakehouse}",
        "",
        f"{'table':<28} {'version':>7} {'last date':>10} {'rows':>12}  last write",
    ]
    for t in status.tables:
        if t.version is None:
            lines.append(
                f"{t.table.full_name:<28} {'-':>7} {'-':>10} {'-':>12}  not written yet (job `{t.table.written_by}`)"
            )
            continue
        mark = "  published" if t.table.published else ""
        lines.append(
            f"{t.table.full_name:<28} {t.version:>7} {str(t.last_date or '-'):>10} {t.rows:>12,}  "
            f"{_when(t.last_write)} {t.operation}{mark}"
        )
    width = max([10, *(len(j.job) for j in status.jobs)])  # orders-model is the longest name
    lines += ["", f"{'job':<{width}} {'last run (UTC)':<19}  outcome"]
    for j in status.jobs:
        detail = f"  ({j.detail})" if j.detail else ""
        lines.append(f"{j.job:<{width}} {_when(j.last_run):<19}  {j.outcome}{detail}")
        if j.cost:
            lines.append(f"{'':<{width}} {'':<19}  cost of the last {j.cost}")
    lines += ["", "Models (MLflow registry):"]
    if status.mlflow_note:
        lines.append(f"  {status.mlflow_note}")
    for m in status.models:
        if m.version is None:
            lines.append(f"  {m.name:<30} {m.alias:<10} -    {m.decision}")
            continue
        metrics = ", ".join(f"{k} {v:.3f}" if k != "k" else f"k {int(v)}" for k, v in sorted(m.metrics.items()))
        family = f"family {m.family}, " if m.family else ""
        lines.append(f"  {m.name:<30} {m.alias:<10} v{m.version:<4} {family}{metrics}")
        if m.decision:
            lines.append(f"  {'':<30} {'':<10}       gate: {m.decision}")
    return "\n".join(lines)
