"""The promotion gate's side effects: the registered candidate against the champion, then its alias and tag.

The rule is `models.promotion` (no registry access); this module reads the champion from the
registry and writes the decision there: `champion` or `challenger` alias, `promotion_decision` tag.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from portrait import registry
from portrait.models.promotion import DECISION_TAG, Decision, PromotionPolicy, decide_against


def gate(
    name: str, version: str, *, metrics: dict[str, float], oot_rows: DataFrame, policy: PromotionPolicy
) -> Decision:
    """Decide on `version` of `name` (already registered), set its alias and `promotion_decision` tag.

    Args:
        metrics: the candidate's out-of-time metrics (`auc`, `ece`), from `evaluation.evaluate`.
        oot_rows: the labelled out-of-time test rows those metrics come from.
    """
    current = registry.load_champion_if_any(name)
    champion = None if current is None else (current[0], str(current[1]))
    decision = decide_against(champion, metrics=metrics, oot_rows=oot_rows, policy=policy)
    if decision.promote:
        registry.set_champion(name, version)
    else:
        registry.set_alias(name, registry.CHALLENGER, version)
    registry.set_version_tags(
        name, version, {DECISION_TAG: ("promoted: " if decision.promote else "not promoted: ") + decision.reason}
    )
    return decision
