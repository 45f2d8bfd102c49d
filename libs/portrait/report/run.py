"""`report`: the daily run report of a scored date, written next to the lakehouse and logged to MLflow.

The page goes to `<lakehouse>/../reports/<date>.html` (or `out_dir`) and, as an artifact
`reports/<date>.html`, into an MLflow run named `report-<date>` of the conf's experiment.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from portrait import catalog
from portrait.config import MlflowConfig
from portrait.io import Lakehouse
from portrait.report import data, html

log = logging.getLogger(__name__)

# The tables its sections read (a section whose table is not written yet says so); the page and its
# MLflow run are its only outputs.
INPUTS = (
    catalog.GOLD_SEGMENTS_DAILY,
    catalog.GOLD_SEGMENT_MOVEMENT,
    catalog.GOLD_PROPENSITY_DAILY,
    catalog.GOLD_NEXT_ACTIONS_DAILY,
    catalog.GOLD_ACTIONS_SENT,
    catalog.GOLD_ACTION_OUTCOMES,
    *catalog.MARTS,
)
OUTPUTS: tuple = ()


def report_path(lakehouse: str, date: dt.date, out_dir: str | Path | None = None) -> Path:
    """Where the page of `date` goes: `out_dir`, else `reports/` beside a local lakehouse."""
    if out_dir is None:
        if "://" in lakehouse:
            raise ValueError(f"lakehouse {lakehouse} is not a local folder: give the report an out_dir")
        out_dir = Path(lakehouse).resolve().parent / "reports"
    return Path(out_dir) / f"{date.isoformat()}.html"


def run(
    lake: Lakehouse, conf: MlflowConfig, date: dt.date, *, out_dir: str | Path | None = None, log_to_mlflow: bool = True
) -> dict:
    """Build, write and log the report of `date`; return its path and which sections had data.

    Args:
        conf: the `mlflow` section: the gate decisions are read from it and the page logged to it.
        out_dir: where the page goes (`report_path`).
    """
    sections = data.gather(lake, conf, date)
    page = html.render(sections, date=date, lakehouse=lake.root, generated=dt.datetime.now(dt.timezone.utc))
    path = report_path(lake.root, date, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    run_id = None
    if log_to_mlflow:
        import mlflow

        from portrait import registry

        registry.configure(conf)
        with mlflow.start_run(run_name=f"report-{date}") as active:
            mlflow.set_tags({"portrait.as_of_date": date.isoformat(), "kind": "daily_report"})
            mlflow.log_artifact(str(path), artifact_path="reports")
            run_id = active.info.run_id
    log.info("report %s: %s", date, path)
    return {"path": str(path), "mlflow_run_id": run_id, "sections": {s.title: s.available for s in sections}}


def summary_line(result: dict, *, date: dt.date, **_: object) -> str:
    """What `portrait report` prints: the date and where the page is, with its sections."""
    return f"report {date}: {result}"
