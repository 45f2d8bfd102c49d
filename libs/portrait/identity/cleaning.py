"""Order lines far outside their person's or their product's usual range, flagged and kept.

An order of 500 pairs of one sneaker, or a line worth fifty times what a person usually spends,
is either a data error or a reseller; either way models should be able to see it and leave it
out, and nothing should silently disappear. `with_anomaly_flags` adds `quantity_anomaly`,
`amount_anomaly` and `anomaly_reason`; it never drops a row.

The test is the modified z-score of Iglewicz and Hoaglin (1993), computed per product and per
person: z = 0.6745 * |x - median| / MAD, an outlier when z > 3.5. Medians and MADs (median
absolute deviation) are not pulled by the outliers they are meant to find, unlike means and
standard deviations. Two guards keep the test sensible on retail data:

- a MAD of 0 is common (nearly every line of a product is quantity 1), and would flag quantity 2;
  the scale is therefore at least `RELATIVE_FLOOR` of the median and `ABSOLUTE_FLOOR` (1 unit,
  1 currency unit), so a product bought in ones flags from quantity 7 (|7 - 1| > 3.5 / 0.6745);
- a product or person with fewer than `MIN_LINES` lines has no usual range: its lines are judged
  against the other dimension only (and not at all if both are short).

Returns (negative quantities) are judged on absolute values: returning 500 is as odd as buying
500. The statistics use every line given, i.e. all history up to the run date.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import order_lines

MAD_Z = 3.5  # Iglewicz & Hoaglin's threshold on the modified z-score
MAD_TO_Z = 0.6745  # z = 0.6745 * deviation / MAD (0.6745 = the normal distribution's MAD in sigmas)
MIN_LINES = 5  # fewer lines than this: no usual range for the product or person
RELATIVE_FLOOR = 0.5  # the scale (MAD) is at least half the median ...
ABSOLUTE_FLOOR = 1.0  # ... and at least one unit (quantity) or one currency unit (amount)

_MEASURES = ("quantity", "amount")
_DIMENSIONS = (("product", "product_id"), ("person", "person_id"))


def _usual_range(lines: DataFrame, key: str, prefix: str) -> DataFrame:
    """Per `key`: line count, median and MAD of `_quantity` and `_amount` (columns prefixed)."""
    stats = (
        lines.where(F.col(key).isNotNull())
        .groupBy(key)
        .agg(
            F.count("*").alias(f"{prefix}_lines"),
            *[F.percentile_approx(f"_{m}", 0.5).alias(f"{prefix}_{m}_median") for m in _MEASURES],
        )
    )
    deviations = (
        lines.join(stats, on=key, how="inner")
        .groupBy(key)
        .agg(
            *[
                F.percentile_approx(F.abs(F.col(f"_{m}") - F.col(f"{prefix}_{m}_median")), 0.5).alias(
                    f"{prefix}_{m}_mad"
                )
                for m in _MEASURES
            ],
        )
    )
    return stats.join(deviations, on=key, how="inner")


def _is_far(measure: str, prefix: str, *, min_lines: int, mad_z: float) -> Column:
    """The line's measure is far from the usual range of its product or person (false when unknown)."""
    x, median = F.col(f"_{measure}"), F.col(f"{prefix}_{measure}_median")
    scale = F.greatest(F.col(f"{prefix}_{measure}_mad"), RELATIVE_FLOOR * F.abs(median), F.lit(ABSOLUTE_FLOOR))
    far = (F.col(f"{prefix}_lines") >= min_lines) & (MAD_TO_Z * F.abs(x - median) / scale > mad_z)
    return F.coalesce(far, F.lit(False))


def usual_ranges(orders: DataFrame) -> dict[str, DataFrame]:
    """The usual range of every product and person in `orders` (the columns `with_anomaly_flags` needs):
    per key column (`product_id`, `person_id`), one row per key with its line count, medians and MADs."""
    return {key: _usual_range(_measured(orders), key, prefix) for prefix, key in _DIMENSIONS}


def flag(
    orders: DataFrame, ranges: dict[str, DataFrame], *, min_lines: int = MIN_LINES, mad_z: float = MAD_Z
) -> DataFrame:
    """`with_anomaly_flags` of `orders` judged against `ranges` (`usual_ranges` of the lines that set
    the usual range, e.g. all history, of which `orders` may be a part)."""
    judged = _measured(orders)
    for _, key in _DIMENSIONS:
        # One row per key in the statistics, so these left joins keep every line exactly once.
        judged = judged.join(ranges[key], on=key, how="left")
    tests = {
        f"{m}_vs_{prefix}": _is_far(m, prefix, min_lines=min_lines, mad_z=mad_z)
        for m in _MEASURES
        for prefix, _ in _DIMENSIONS
    }
    reasons = F.concat_ws(",", *[F.when(far, F.lit(name)) for name, far in tests.items()])
    return judged.select(
        *orders.columns,
        (tests["quantity_vs_product"] | tests["quantity_vs_person"]).alias("quantity_anomaly"),
        (tests["amount_vs_product"] | tests["amount_vs_person"]).alias("amount_anomaly"),
        F.when(reasons != "", reasons).alias("anomaly_reason"),
    )


def _measured(orders: DataFrame) -> DataFrame:
    """`orders` with the absolute measures judged: `_quantity` and `_amount`."""
    return orders.withColumn("_quantity", F.abs(F.col("quantity").cast("double"))).withColumn(
        "_amount", F.abs(order_lines.net_amount())
    )


def with_anomaly_flags(orders: DataFrame, *, min_lines: int = MIN_LINES, mad_z: float = MAD_Z) -> DataFrame:
    """Flag order lines whose quantity or amount is far outside their product's or person's usual range.

    Args:
        orders: order lines with `product_id`, `person_id` (may be null), `quantity`, `unit_price`
            and `discount_amount`; any other columns are kept as they are.
        min_lines: a product or person with fewer lines is not used to judge (see module doc).
        mad_z: threshold on the modified z-score.

    Returns:
        `orders`, same rows, plus `quantity_anomaly` and `amount_anomaly` (boolean, never null) and
        `anomaly_reason` (the failed tests, comma-separated, e.g. `quantity_vs_product,amount_vs_person`;
        null when none failed).
    """
    return flag(orders, usual_ranges(orders), min_lines=min_lines, mad_z=mad_z)
