"""Model plots on the driver, from the small tables of `models.evaluation.Report` (matplotlib, Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on a cluster driver or in CI

from matplotlib import pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.figure import Figure  # noqa: E402

from portrait.models.evaluation import Report  # noqa: E402

TOP_FEATURES = 20


def calibration_curve(report: Report, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(
        [r["mean_p"] for r in report.calibration],
        [r["positive_rate"] for r in report.calibration],
        marker="o",
        label=f"model (ECE {report.metrics['ece']:.3f})",
    )
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def lift_gain(report: Report, title: str) -> Figure:
    deciles = [r["decile"] for r in report.deciles]
    fig, (lift_ax, gain_ax) = plt.subplots(1, 2, figsize=(10, 4))
    lift_ax.bar(deciles, [r["lift"] for r in report.deciles])
    lift_ax.axhline(1.0, linestyle="--", color="grey")
    lift_ax.set(xlabel="decile (1 = highest score)", ylabel="lift", title=f"{title}: lift", xticks=deciles)
    gain_ax.plot([0, *deciles], [0.0, *[r["gain"] for r in report.deciles]], marker="o", label="model")
    gain_ax.plot([0, 10], [0, 1], linestyle="--", color="grey", label="random")
    gain_ax.set(xlabel="deciles targeted", ylabel="share of positives captured", title=f"{title}: cumulative gain")
    gain_ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def roc(report: Report, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([r["fpr"] for r in report.roc], [r["tpr"] for r in report.roc], label=f"AUC {report.metrics['auc']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def feature_importance(report: Report, title: str, top: int = TOP_FEATURES) -> Figure:
    shown = report.importances[:top][::-1]  # largest at the top of a horizontal bar chart
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.5))
    ax.barh([r["feature"] for r in shown], [r["importance"] for r in shown])
    ax.set(xlabel="GBT feature importance", title=title)
    fig.tight_layout()
    return fig


def all_figures(report: Report, title: str) -> dict[str, Figure]:
    """File name -> figure, for `mlflow.log_figure`; close them after logging (`plt.close(fig)`)."""
    return {
        "calibration_curve.png": calibration_curve(report, title),
        "lift_gain.png": lift_gain(report, title),
        "roc.png": roc(report, title),
        "feature_importance.png": feature_importance(report, title),
    }


def close(fig: Figure) -> None:
    """Free a figure once logged (pyplot keeps every open figure alive)."""
    plt.close(fig)
