"""The daily report as one self-contained HTML page: inline CSS, charts as `data:` PNGs, no script."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

from portrait.report import charts
from portrait.report.data import BINS, FUNNEL_STEPS, Section, uplift_columns

_CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-top:.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f3f3}.note{color:#555}.missing{color:#999;font-style:italic}img{max-width:100%}
.wide{overflow-x:auto;max-width:100%}"""


def _uplift_chart(f: pd.DataFrame) -> Figure | None:
    uplift, lower, upper = uplift_columns(list(f.columns))
    day = next((c for c in ("date", "action_date", "as_of_date") if c in f.columns), None)
    if not (uplift and day and "action" in f.columns):
        return None
    return charts.uplift_over_time(f, day=day, action="action", uplift=uplift, lower=lower, upper=upper)


def _funnel_chart(f: pd.DataFrame) -> Figure:
    steps = pd.DataFrame({"step": list(FUNNEL_STEPS), "sessions": [f[c].sum() for c in FUNNEL_STEPS]})
    return charts.bars(steps, "step", "sessions", "sessions at each step, every channel")


# The chart of each section that has one, from its frame.
_CHARTS: dict[str, Callable[[pd.DataFrame], Figure | None]] = {
    "Segment sizes": lambda f: charts.bars(f, "segment_name", "persons", "persons per segment"),
    "Segment movement": lambda f: charts.bars(f.head(15), "move", "persons", "moves between segments"),
    "Score distributions": lambda f: charts.histograms(f, BINS),
    "Actions by type and channel": lambda f: charts.stacked(f, "action", "channel", "persons", "actions by channel"),
    "Uplift so far": _uplift_chart,
    "Funnel": _funnel_chart,
    "RFM grid": lambda f: charts.heatmap(f, index="r_score", title="buyers per recency x frequency score", prefix="R"),
    "Retention": lambda f: charts.heatmap(
        f, index="cohort_week", title="share of each first-visit week active in the weeks after", cell="{:.0%}"
    ),
    "Tag coverage": lambda f: charts.bars(f.head(25), "tag", "persons", "persons per tag"),
}


def figure(section: Section) -> Figure | None:
    """The chart the report draws for `section`; None when it has none or no rows. The notebooks
    show the report's own sections and charts (one computation, two readers)."""
    f, draw = section.frame, _CHARTS.get(section.title)
    if f is None or f.empty or draw is None:
        return None
    return draw(f)


def _chart(section: Section) -> str | None:
    fig = figure(section)
    return None if fig is None else charts.inline_png(fig)


def section_html(section: Section) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.note:
        css = "note" if section.available or "not available" not in section.note else "missing"
        parts.append(f'<p class="{css}">{html.escape(section.note)}</p>')
    img = _chart(section)
    if img:
        parts.append(f'<img alt="{html.escape(section.title)}" src="{img}">')
    if section.frame is not None and section.frame.empty:
        parts.append('<p class="missing">no rows yet</p>')  # a header of many columns and no rows said nothing
    elif section.frame is not None and not (img and section.title == "Score distributions"):  # bins: the chart says it
        table = section.frame.head(60).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        parts.append(f'<div class="wide">{table}</div>')  # a wide table scrolls inside the page, not off it
    return "\n".join(parts)


def render(sections: list[Section], *, date: dt.date, lakehouse: str, generated: dt.datetime) -> str:
    """The whole page."""
    body = "\n".join(section_html(s) for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Portrait daily report {date}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Portrait daily report — {date}</h1>\n"
        f'<p class="note">lakehouse {html.escape(lakehouse)}; generated {generated:%Y-%m-%d %H:%M} UTC</p>\n'
        f"{body}\n</body></html>\n"
    )
