"""Evaluate: treated vs holdout conversion and revenue in each action's outcome window, with a 95 % CI."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.testing import assertDataFrameEqual

from portrait.evaluate import action_outcomes, person_outcomes, pooled

D = dt.date(2026, 11, 1)
SENT = "date date, person_id string, action string, experiment_id string, holdout boolean, contacted boolean"
ORDERS = "person_id string, order_ts string, status string, quantity int, unit_price string, discount_amount string"


def _day(n: int) -> str:
    return f"{D + dt.timedelta(days=n)} 10:00:00"


def test_outcomes_count_completed_orders_inside_the_window_only(spark):
    sent = spark.createDataFrame(
        [
            (D, "t1", "cart", "e", False, True),
            (D, "t2", "cart", "e", False, True),
            (D, "t3", "cart", "e", False, True),
            (D, "t4", "cart", "e", False, True),
            (D, "c1", "cart", "e", True, False),
            (D, "c2", "cart", "e", True, False),
            (D + dt.timedelta(days=1), "t1", "cart", "e", False, True),  # its window is still open
            (D, "x", "unknown_action", "e", False, True),  # not in the policy: skipped
        ],
        SENT,
    )
    orders = spark.createDataFrame(
        [
            ("t1", _day(1), "completed", 1, "10.00", "0.00"),
            ("t2", _day(4), "completed", 1, "10.00", "0.00"),  # after the 3-day window
            ("t3", _day(2), "cancelled", 1, "10.00", "0.00"),  # not completed
            ("c1", _day(3), "completed", 2, "12.00", "4.00"),  # last day of the window: 20
            ("c2", _day(0), "completed", 1, "10.00", "0.00"),  # the action's own day: before it
        ],
        ORDERS,
    )
    persons = person_outcomes(sent, orders, {"cart": 3}, as_of=D + dt.timedelta(days=3))
    got = action_outcomes(persons, evaluated_on=D + dt.timedelta(days=3)).localCheckpoint()
    se = math.sqrt(0.25 * 0.75 / 4 + 0.5 * 0.5 / 2)
    want = spark.createDataFrame(
        [
            (
                D,
                "cart",
                "e",
                3,
                4,
                2,
                0.25,
                0.5,
                -0.25,
                -0.25 - 1.959964 * se,
                -0.25 + 1.959964 * se,
                2.5,
                10.0,
                -7.5,
                D + dt.timedelta(days=3),
            )
        ],
        "date date, action string, experiment_id string, outcome_window_days int, "
        "treated long, control long, treated_conversion double, control_conversion double, "
        "uplift double, uplift_ci_low double, uplift_ci_high double, treated_revenue double, "
        "control_revenue double, revenue_uplift double, evaluated_on date",
    )
    assertDataFrameEqual(got.select(*want.columns), want, rtol=1e-6)
    total = pooled(got).first()
    assert (total["treated"], total["control"], total["uplift"]) == (4, 2, pytest.approx(-0.25))
