"""The point-in-time guard for training rows: features end at the as-of date, labels start after it.

`build_portrait` stops every window at the as-of date, and `latest_input_date` records the last day
of activity that reached a row. Training checks it against the label window before fitting, so a
regression (a frame ending after the as-of day, rows labelled with the wrong date, a label window
that starts too early) fails the run instead of silently inflating test metrics.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def label_start_after(days: int = 1) -> Column:
    """The first day of a label window that starts `days` after the as-of date ((as_of, as_of + h] is 1)."""
    return F.date_add(F.col("as_of_date"), days)


def leaking_rows(rows: DataFrame, *, label_start: Column | None = None) -> DataFrame:
    """Rows that break `latest_input_date <= as_of_date < label_start`.

    Args:
        rows: portrait rows (with `as_of_date` and `latest_input_date`), labelled or not.
        label_start: the first day of each row's label window; by default the day after the
            as-of date, as in `models.propensity.with_purchase_label`.

    Returns:
        The offending rows with a `leak` column saying which inequality failed.
    """
    start = label_start if label_start is not None else label_start_after(1)
    as_of, latest = F.col("as_of_date"), F.col("latest_input_date")
    leak = F.when(latest > as_of, F.lit("features use activity after as_of_date")).when(
        start <= as_of, F.lit("label window starts on or before as_of_date")
    )
    return rows.withColumn("leak", leak).where(F.col("leak").isNotNull())


def assert_point_in_time(rows: DataFrame, *, label_start: Column | None = None, examples: int = 5) -> None:
    """Raise ValueError naming a few offending rows if any row leaks (runs one Spark job).

    Call it at the edge of training, e.g. `assert_point_in_time(labelled)` after `with_purchase_label`.
    """
    missing = [c for c in ("person_id", "as_of_date", "latest_input_date") if c not in rows.columns]
    if missing:
        raise ValueError(f"point-in-time check needs columns {missing}: pass rows built by features.build_portrait")
    bad = (
        leaking_rows(rows, label_start=label_start)
        .select("person_id", "as_of_date", "latest_input_date", "leak")
        .limit(examples)
        .collect()
    )
    if bad:
        shown = "; ".join(
            f"{r.person_id} as of {r.as_of_date}: latest input {r.latest_input_date} ({r.leak})" for r in bad
        )
        raise ValueError(f"training rows leak future data into features or labels, e.g. {shown}")
