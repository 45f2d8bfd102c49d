"""Gated promotion: a new model version replaces the champion only if it is better on the same rows.

The candidate must pass absolute floors (AUC, ECE) and, when there is a champion, beat the
champion's AUC on the candidate's out-of-time test rows by a margin. The champion is scored on
those rows (it takes raw portrait rows, like scoring does), so both AUCs see the same persons
and dates. No registry access here: the train stage (`train.promotion.gate`) loads the champion,
and sets the alias (`champion`, or `challenger` for a version not promoted) and the
`promotion_decision` tag saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.errors import AnalysisException
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from portrait.models import evaluation

DECISION_TAG = "promotion_decision"


@dataclass(frozen=True)
class PromotionPolicy:
    margin: float  # the candidate's AUC must be >= champion AUC + margin
    min_auc: float
    max_ece: float


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    champion_version: str | None = None
    champion_auc: float | None = None


def decide(
    *, auc: float, ece: float, champion_auc: float | None, policy: PromotionPolicy, champion_version: str | None = None
) -> Decision:
    """The rule, without MLflow: floors first, then the comparison with the champion (if any)."""
    failed = []
    if not auc >= policy.min_auc:  # `not >=` so that a NaN fails
        failed.append(f"auc {auc:.3f} < floor {policy.min_auc:.3f}")
    if not ece <= policy.max_ece:
        failed.append(f"ece {ece:.3f} > ceiling {policy.max_ece:.3f}")
    if champion_auc is not None and not auc >= champion_auc + policy.margin:
        failed.append(f"auc {auc:.3f} < champion v{champion_version} {champion_auc:.3f} + margin {policy.margin:g}")
    if failed:
        return Decision(False, "; ".join(failed), champion_version, champion_auc)
    versus = (
        "first champion (none before it)"
        if champion_auc is None
        else f"auc {auc:.3f} >= champion v{champion_version} {champion_auc:.3f} + margin {policy.margin:g}"
    )
    return Decision(
        True,
        f"{versus}; auc {auc:.3f} >= floor {policy.min_auc:.3f}; ece {ece:.3f} <= ceiling {policy.max_ece:.3f}",
        champion_version,
        champion_auc,
    )


def champion_auc_on(
    champion: tuple[PipelineModel, str] | None, oot_rows: DataFrame
) -> tuple[str | None, float | None, str]:
    """(version, AUC on `oot_rows`, note) of the current champion (model, version); (None, None, note) without one.

    A champion that cannot read today's portrait rows (a column it needs is gone) could not score
    either, so it does not block a candidate that can; the note says so.
    """
    if champion is None:
        return None, None, "no champion"
    model, version = champion
    version = str(version)  # the registry hands back an int on some stores
    try:
        return version, evaluation.model_auc(model, oot_rows), ""
    except AnalysisException as exc:
        return None, None, f"champion v{version} cannot score the current portrait ({str(exc).splitlines()[0][:200]})"


def decide_against(
    champion: tuple[PipelineModel, str] | None,
    *,
    metrics: dict[str, float],
    oot_rows: DataFrame,
    policy: PromotionPolicy,
) -> Decision:
    """The decision on a candidate with out-of-time `metrics` (`auc`, `ece`) against `champion`,
    re-scored on the candidate's labelled out-of-time test rows `oot_rows`."""
    champion_version, champion_auc, note = champion_auc_on(champion, oot_rows)
    decision = decide(
        auc=metrics["auc"],
        ece=metrics["ece"],
        champion_auc=champion_auc,
        policy=policy,
        champion_version=champion_version,
    )
    if note and note != "no champion":
        decision = Decision(decision.promote, f"{decision.reason} ({note})", None, None)
    return decision
