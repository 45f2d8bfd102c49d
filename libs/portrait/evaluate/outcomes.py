"""Pure builders of the uplift measurement: actions chosen (treated or held out) joined with the
completed orders in each action's outcome window, then per action and date, then pooled."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import order_lines

Z95 = 1.959964


def _window_of(windows: dict[str, int]) -> Column:
    """The outcome window (days) of the action in column `action`."""
    return F.create_map(*[x for a, d in sorted(windows.items()) for x in (F.lit(a), F.lit(d))])[F.col("action")]


def order_days(orders: DataFrame) -> DataFrame:
    """Completed order lines (silver.orders) -> (person_id, day, revenue)."""
    completed = orders.where(order_lines.is_completed() & F.col("person_id").isNotNull())
    amount = order_lines.net_amount()
    return completed.groupBy("person_id", F.to_date("order_ts").alias("day")).agg(F.sum(amount).alias("revenue"))


def person_outcomes(sent: DataFrame, orders: DataFrame, windows: dict[str, int], *, as_of: dt.date) -> DataFrame:
    """One row per chosen action whose window has closed by `as_of`: converted (a completed order
    in (date, date + window]) and revenue in that window.

    Args:
        sent: gold.actions_sent (unique per date and person).
        orders: silver.orders.
        windows: outcome window in days per action name (actions not listed are skipped).
        as_of: the evaluation date; orders are known up to it.
    """
    window = _window_of(windows)
    closed = (
        sent.where(F.col("action").isin(list(windows)))
        .withColumn("outcome_window_days", window)
        .where(F.date_add(F.col("date"), F.col("outcome_window_days")) <= F.lit(as_of))
    )
    days = order_days(orders).withColumnRenamed("person_id", "o_person")
    in_window = (
        (F.col("o_person") == F.col("person_id"))
        & (F.col("day") > F.col("date"))
        & (F.col("day") <= F.date_add(F.col("date"), F.col("outcome_window_days")))
    )
    joined = closed.join(days, on=in_window, how="left")
    return joined.groupBy("date", "person_id", "action", "experiment_id", "holdout", "outcome_window_days").agg(
        F.max(F.col("day").isNotNull()).cast("int").alias("converted"),
        F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("revenue"),
    )


def _uplift(nt: Column, ct: Column, nc: Column, cc: Column) -> dict[str, Column]:
    """Difference of two conversion rates and its 95 % CI (normal approximation, unpooled SE)."""
    pt, pc = ct / nt, cc / nc
    se = F.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    return {
        "treated_conversion": pt,
        "control_conversion": pc,
        "uplift": pt - pc,
        "uplift_ci_low": pt - pc - F.lit(Z95) * se,
        "uplift_ci_high": pt - pc + F.lit(Z95) * se,
    }


def _sums(df: DataFrame, keys: list[str], rows: str, conversions: str, revenue: str) -> DataFrame:
    treated, control = ~F.col("holdout"), F.col("holdout")
    return df.groupBy(*keys).agg(
        F.sum(F.when(treated, F.col(rows))).alias("treated"),
        F.sum(F.when(control, F.col(rows))).alias("control"),
        F.sum(F.when(treated, F.col(conversions))).alias("_ct"),
        F.sum(F.when(control, F.col(conversions))).alias("_cc"),
        F.sum(F.when(treated, F.col(revenue))).alias("_rt"),
        F.sum(F.when(control, F.col(revenue))).alias("_rc"),
    )


def _measured(sums: DataFrame, keys: list[str]) -> DataFrame:
    nt, nc = F.col("treated").cast("double"), F.col("control").cast("double")
    up = _uplift(nt, F.col("_ct"), nc, F.col("_cc"))
    rt, rc = F.col("_rt") / nt, F.col("_rc") / nc
    return sums.select(
        *keys,
        F.coalesce("treated", F.lit(0)).cast("long").alias("treated"),
        F.coalesce("control", F.lit(0)).cast("long").alias("control"),
        *[v.alias(k) for k, v in up.items()],
        rt.alias("treated_revenue"),
        rc.alias("control_revenue"),
        (rt - rc).alias("revenue_uplift"),
    )


def action_outcomes(persons: DataFrame, *, evaluated_on: dt.date) -> DataFrame:
    """Per action date and action: treated and control sizes, conversion, revenue, uplift and CI
    (null where a group is empty)."""
    persons = persons.withColumn("_one", F.lit(1))
    keys = ["date", "action", "experiment_id", "outcome_window_days"]
    out = _measured(_sums(persons, keys, "_one", "converted", "revenue"), keys)
    return out.withColumn("evaluated_on", F.lit(evaluated_on))


def pooled(outcomes: DataFrame) -> DataFrame:
    """Per action, all its evaluated dates together (person-days): the same columns but `date`."""
    back = outcomes.withColumns(
        {
            "_ct": F.col("treated_conversion") * F.col("treated"),
            "_cc": F.col("control_conversion") * F.col("control"),
            "_rt": F.col("treated_revenue") * F.col("treated"),
            "_rc": F.col("control_revenue") * F.col("control"),
        }
    )
    rows = back.select(
        "action",
        "experiment_id",
        F.explode(
            F.array(
                F.struct(
                    F.lit(False).alias("holdout"),
                    F.col("treated").alias("n"),
                    F.col("_ct").alias("c"),
                    F.col("_rt").alias("r"),
                ),
                F.struct(
                    F.lit(True).alias("holdout"),
                    F.col("control").alias("n"),
                    F.col("_cc").alias("c"),
                    F.col("_rc").alias("r"),
                ),
            )
        ).alias("g"),
    ).select("action", "experiment_id", "g.*")
    keys = ["action", "experiment_id"]
    return _measured(_sums(rows, keys, "n", "c", "r"), keys)
