"""`report`: the daily run report of a scored date, written next to the lakehouse and logged to MLflow.

The page goes to `<lakehouse>/../reports/<date>.html` (or `out_dir`) and, as an artifact
`reports/<date>.html`, into an MLflow run named `report-<date>` of the conf's experiment.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from portrait.io import Lakehouse
from portrait.report import data, html

log = logging.getLogger(__name__)


def report_path(lakehouse: str, date: dt.date, out_dir: str | Path | None = None) -> Path:
    """Where the page of `date` goes: `out_dir`, else `reports/` beside a local lakehouse."""
    if out_dir is None:
        if "://" in lakehouse:
            raise ValueError(f"lakehouse {lakehouse} is not a local folder: give the report an out_dir")
        out_dir = Path(lakehouse).resolve().parent / "reports"
    return Path(out_dir) / f"{date.isoformat()}.html"


def run(lake: Lakehouse, cfg, date: dt.date, *, out_dir: str | Path | None = None, log_to_mlflow: bool = True) -> dict:
    """Build, write and log the report of `date`; return its path and which sections had data."""
    sections = data.gather(lake, cfg, date)
    page = html.render(sections, date=date, lakehouse=lake.root, generated=dt.datetime.now(dt.timezone.utc))
    path = report_path(lake.root, date, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    run_id = None
    if log_to_mlflow:
        import mlflow

        from portrait import registry

        registry.configure(cfg.mlflow)
        with mlflow.start_run(run_name=f"report-{date}") as active:
            mlflow.set_tags({"portrait.as_of_date": date.isoformat(), "kind": "daily_report"})
            mlflow.log_artifact(str(path), artifact_path="reports")
            run_id = active.info.run_id
    log.info("report %s: %s", date, path)
    return {"path": str(path), "mlflow_run_id": run_id, "sections": {s.title: s.available for s in sections}}
