"""Matplotlib figures (Agg backend) for the report and the notebooks, and their inline form.

Figures are built as `matplotlib.figure.Figure` objects, without pyplot: no global backend or figure
state, so they render the same in a headless job and in a notebook (`display(fig)`).
`inline_png` turns a figure into a `data:` URI, so the HTML needs no file and no network.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def inline_png(fig: Figure) -> str:
    """The figure as a base64 `data:image/png` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bars(frame: pd.DataFrame, label: str, value: str, title: str) -> Figure:
    fig = Figure(figsize=(6, 0.35 * max(len(frame), 3) + 1))
    ax = fig.subplots()
    ax.barh(frame[label].astype(str), frame[value], color="#4c72b0")
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(value)
    return fig


def histograms(frame: pd.DataFrame, bins: int) -> Figure:
    """One bar histogram per score of a `score, bin, persons` frame."""
    scores = sorted(frame["score"].unique())
    fig = Figure(figsize=(5 * max(len(scores), 1), 3))
    axes = fig.subplots(1, max(len(scores), 1), squeeze=False)
    for ax, score in zip(axes[0], scores, strict=False):
        part = frame[frame["score"] == score]
        ax.bar(part["bin"] / bins, part["persons"], width=1 / bins, align="edge", color="#55a868")
        ax.set_title(score)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability")
    return fig


def stacked(frame: pd.DataFrame, index: str, columns: str, value: str, title: str) -> Figure:
    table = frame.pivot_table(index=index, columns=columns, values=value, aggfunc="sum", fill_value=0)
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    table.plot.bar(stacked=True, ax=ax)
    ax.set_title(title)
    ax.set_ylabel(value)
    return fig


def heatmap(frame: pd.DataFrame, *, index: str, title: str, prefix: str = "", cell: str = "{:,.0f}") -> Figure:
    """`frame`'s columns but `index` as a grid, one row per `index` value (labelled `prefix` + value),
    each cell written with the format `cell`."""
    values = frame.drop(columns=[index])
    fig = Figure(figsize=(1 + 0.9 * max(values.shape[1], 1), 1 + 0.6 * max(len(frame), 1)))
    ax = fig.subplots()
    ax.imshow(values.to_numpy(dtype=float), cmap="Blues", aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in values.columns])
    ax.set_yticks(range(len(frame)), [f"{prefix}{v}" for v in frame[index]])
    for (row, col), value in np.ndenumerate(values.to_numpy(dtype=float)):
        if not np.isnan(value):
            ax.text(col, row, cell.format(value), ha="center", va="center", fontsize=8)
    ax.set_title(title)
    return fig


def uplift_over_time(
    frame: pd.DataFrame, *, day: str, action: str, uplift: str, lower: str | None, upper: str | None
) -> Figure:
    """Uplift per action over time, with its confidence interval as a band when given."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    for name, part in frame.sort_values(day).groupby(action):
        x = pd.to_datetime(part[day])
        ax.plot(x, part[uplift], marker="o", label=str(name))
        if lower and upper:
            ax.fill_between(x, part[lower].astype(float), part[upper].astype(float), alpha=0.2)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title("uplift per action (95 % interval)")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return fig


def radar(labels: list[str], series: dict[str, list[float]], title: str) -> Figure:
    """A radar chart of values in [0, 1] (e.g. a person against their segment, as population percentiles)."""
    angles = np.linspace(0, 2 * np.pi, len(labels), endpoint=False).tolist()
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="polar")
    for name, values in series.items():
        closed = list(values) + [values[0]]
        ax.plot(angles + angles[:1], closed, label=name)
        ax.fill(angles + angles[:1], closed, alpha=0.15)
    ax.set_xticks(angles)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    return fig
