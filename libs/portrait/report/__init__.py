"""The daily run report (static HTML, logged to MLflow) and the charts the notebooks share. Only re-exports."""

from portrait.report.data import Section, gather
from portrait.report.run import report_path, run

__all__ = ["Section", "gather", "report_path", "run"]
