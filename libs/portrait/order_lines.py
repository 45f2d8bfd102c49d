"""What a line of `silver.orders` says, defined once: whether it was completed, its discount and its net amount.

The features' spend, the uplift's revenue, the CLV fit's spend and the anomaly flags all read
these facts; computing them here keeps the four from drifting apart.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

COMPLETED = "completed"  # of ingest.sources.ORDER_STATUSES: a sale that stands (not cancelled, not returned)


def is_completed() -> Column:
    """The line is a completed sale (`status` is `completed`)."""
    return F.col("status") == F.lit(COMPLETED)


def discount() -> Column:
    """The line's discount as a double (no discount: 0)."""
    return F.coalesce(F.col("discount_amount").cast("double"), F.lit(0.0))


def net_amount() -> Column:
    """The line's value net of its discount, as a double: `quantity * unit_price - discount_amount`
    (no discount: 0). Prices are cast to double before the arithmetic, so any numeric or numeric
    text column works (`silver.orders` holds decimals)."""
    return F.col("quantity") * F.col("unit_price").cast("double") - discount()
