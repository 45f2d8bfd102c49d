"""Marts: the analysts' tables of a date (funnel, paths to purchase, RFM grid, tag coverage, retention cohorts)."""

from portrait.marts.builders import funnel, paths, retention, rfm_grid, session_paths, tag_coverage
from portrait.marts.run import INPUTS, OUTPUTS, run

__all__ = ["INPUTS", "OUTPUTS", "funnel", "paths", "retention", "rfm_grid", "run", "session_paths", "tag_coverage"]
