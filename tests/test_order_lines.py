"""The facts of an order line every stage shares: completed or not, its discount and its net amount."""

from __future__ import annotations

from decimal import Decimal

from pyspark.testing import assertDataFrameEqual

from portrait import order_lines


def test_net_amount_is_quantity_times_price_less_the_discount_and_completed_means_the_status(spark):
    lines = spark.createDataFrame(
        [
            ("a", "completed", 2, Decimal("10.50"), Decimal("1.00")),
            ("b", "completed", 1, Decimal("9.99"), None),  # no discount: 0
            ("c", "returned", -1, Decimal("5.00"), None),  # a return is negative, and not completed
            ("d", "cancelled", None, Decimal("5.00"), Decimal("0.50")),  # no quantity: no amount
            ("e", None, 1, None, None),  # no status: unknown, not False
        ],
        "line string, status string, quantity int, unit_price decimal(12,2), discount_amount decimal(12,2)",
    )
    got = lines.select(
        "line",
        order_lines.is_completed().alias("completed"),
        order_lines.discount().alias("discount"),
        order_lines.net_amount().alias("net_amount"),
    )
    want = spark.createDataFrame(
        [
            ("a", True, 1.0, 20.0),
            ("b", True, 0.0, 9.99),
            ("c", False, 0.0, -5.0),
            ("d", False, 0.5, None),
            ("e", None, 0.0, None),
        ],
        "line string, completed boolean, discount double, net_amount double",
    )
    assertDataFrameEqual(got, want)
