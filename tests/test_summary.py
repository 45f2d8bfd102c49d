"""The demo's summary of a scored day: reasons counted by kind, each contacted person's reasons."""

from __future__ import annotations

import datetime as dt

from portrait import catalog
from portrait.io import Lakehouse
from portrait.scoring import summary

D = dt.date(2026, 11, 1)


def _action(person_id: str, action: str, reason: str, **kw) -> dict:
    row = {c.name: None for c in catalog.GOLD_NEXT_ACTIONS_DAILY.columns}
    channel = None if action == "none" else "push"
    row.update(date=D, person_id=person_id, action=action, channel=channel, reason=reason, holdout=False)
    row.update(kw)
    return row


def test_reasons_are_counted_by_kind_and_empty_propensity_reasons_are_not_printed(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    rows = [
        _action("p_1", "none", "nothing worth its cost: best coupon has expected value 0.12 = P 0.03 x 6.00 - 0.05"),
        _action("p_2", "none", "nothing worth its cost: best coupon has expected value -0.40 = P 0.01 x 6.00 - 0.50"),
        _action("p_3", "none", "quiet period of 3 days: last action 1 days ago"),
        _action("p_4", "none", "quiet period of 3 days: last action 2 days ago"),
        _action("p_5", "none", "holdout of experiment cart_reminder_2026q4", holdout=True),
        _action("p_6", "cart_reminder", "abandoned cart", purchase_reasons=["6 orders in 90 days (+47 pts)"]),
        _action("p_7", "cart_reminder", "abandoned cart", purchase_reasons=[]),
    ]
    frame = spark.createDataFrame(
        rows, ", ".join(f"{c.name} {c.type}" for c in catalog.GOLD_NEXT_ACTIONS_DAILY.columns)
    )
    lake.replace_range(frame, catalog.GOLD_NEXT_ACTIONS_DAILY, start=D)

    text = summary(lake, D)

    assert "       2  nothing worth its cost: best coupon has too low an expected value" in text
    assert "       2  quiet period of n days: last action n days ago" in text
    assert "       1  holdout of experiment cart_reminder_2026q4" in text  # a number inside a name stays
    assert "#" not in text
    assert "p_6  cart_reminder by push: abandoned cart\n      purchase propensity because: 6 orders in 90 days" in text
    assert text.endswith("p_7  cart_reminder by push: abandoned cart")  # the last row, no empty reason line
    assert text.count("purchase propensity because:") == 1
