"""The point-in-time portrait: every window feature at every as-of date in one pass.

Two steps, shared by the full build and the incremental run (`features.incremental`):

1. `window_state`: per person and as-of date, exactly the window sums and last days the feature
   registry asks for (`features.registry.window_inputs`). For one as-of date this is a single
   `groupBy(person_id)` with one conditional sum per window; for several, daily activity rows and
   one empty "as-of" row per (person, as-of date) are stacked and a per-person window over the day
   number with `rangeBetween(-(n-1), 0)` gives each n-day sum at each as-of row in one shuffle.
   The frames end at the as-of day itself, so nothing after the end of the as-of date can reach a
   feature.
2. `portrait_from_state`: adds persons known only from the CRM, joins the CRM profile and applies
   the registry's formulas.

Every frame is bounded by `history_days`, so a row is the same whether its as-of date is computed
alone (the daily run) or together with other dates (training).

Window sums are exact fixed-point integers: each daily metric enters a sum as
`to_units(metric)` = floor(metric * UNITS + 0.5) (a long, micro-units), and the portrait reads `sum / UNITS` back as a
double. The incremental step adds and subtracts the same integers, so a state moved on day after
day equals a full build bit for bit (doubles would drift: a 90-day revenue of a person who stopped
buying would end at 1e-14, not 0). Longs also aggregate in Spark's fast path, where the decimals
used before needed BigDecimal arithmetic (2.3x slower state step). A sum overflows above
9.2e12 (in the metric's own unit), and Spark's ANSI mode fails the job instead of wrapping.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait.features.daily import daily_metrics
from portrait.features.registry import CONSENT_CHANNELS, Feature, features, window_inputs

__all__ = [
    "CONSENT_CHANNELS",
    "UNITS",
    "as_of_rows",
    "build_portrait",
    "checked_features",
    "numeric_feature_columns",
    "person_profile",
    "portrait_from_state",
    "state_columns",
    "to_units",
    "window_features",
    "window_state",
]

# Fixed-point scale of the window sums: one unit of a metric is UNITS units in a sum.
UNITS = 1_000_000


def to_units(metric: Column) -> Column:
    """A daily metric as the exact long it adds to a window sum (null counts as 0)."""
    # floor(x + 0.5), not round(): Spark rounds a double through BigDecimal, 5x slower here.
    return F.floor(F.coalesce(metric.cast("double"), F.lit(0.0)) * F.lit(float(UNITS)) + F.lit(0.5))


def _from_units(total: Column) -> Column:
    """A window sum (long units) as the double the feature formulas read (no row: 0)."""
    return F.coalesce(total.cast("double") / F.lit(float(UNITS)), F.lit(0.0))


def _day_num(c: Column) -> Column:
    return F.datediff(c, F.lit("1970-01-01"))


def as_of_rows(daily: DataFrame, customers: DataFrame, as_of_dates: list[dt.date]) -> DataFrame:
    """Candidate (person_id, as_of_date) rows with `crm_known` (the person had an account by then).

    A candidate is anyone active on or before the date, or with an account by then. One whose only
    activity is older than the history window is dropped after the window pass unless `crm_known`.
    """
    active = daily.groupBy("person_id").agg(F.min("day").alias("active_day"))
    return (
        active.join(_crm_signups(customers), on="person_id", how="full")
        .crossJoin(F.broadcast(_dates(daily, as_of_dates)))
        .where(_crm_known() | (F.col("active_day") <= F.col("as_of_date")))
        .select("person_id", "as_of_date", _crm_known().alias("crm_known"))
    )


def _dates(df: DataFrame, as_of_dates: list[dt.date]) -> DataFrame:
    return df.sparkSession.createDataFrame([(d,) for d in as_of_dates], "as_of_date date")


def _crm_signups(customers: DataFrame) -> DataFrame:
    return (
        customers.where(F.col("person_id").isNotNull())
        .groupBy("person_id")
        .agg(F.min("signup_date").alias("signup_day"), F.lit(True).alias("in_crm"))
    )


def _crm_known() -> Column:
    # An account without a signup date counts as known at every date: nothing says otherwise.
    signup = F.col("signup_day")
    return F.coalesce(F.col("in_crm"), F.lit(False)) & (signup.isNull() | (signup <= F.col("as_of_date")))


def _checked_metrics(feats: list[Feature], metrics: list[str]) -> list[str]:
    sums, lasts = window_inputs(feats)
    needed = sorted({s.metric for s in sums} | {last.metric for last in lasts})
    unknown = [m for m in needed if m not in metrics]
    if unknown:
        raise ValueError(f"features ask for daily metrics {unknown} that daily_activity does not produce")
    return needed


def window_features(
    daily: DataFrame, markers: DataFrame, feats: list[Feature], *, metrics: list[str], history_days: int
) -> DataFrame:
    """The window sums and last days `feats` need, at each marker's as-of date.

    Returns one row per marker: person_id, as_of_date, crm_known, day_num (of the as-of date),
    `latest_input_day` (last day with any activity in the history window) and the inputs' columns.
    """
    sums, lasts = window_inputs(feats)
    needed = _checked_metrics(feats, metrics)
    activity = daily.select(
        "person_id",
        _day_num(F.col("day")).alias("day_num"),
        F.lit(None).cast("date").alias("as_of_date"),
        F.lit(None).cast("boolean").alias("crm_known"),
        F.lit(True).alias("is_activity"),
        *[to_units(F.col(m)).alias(m) for m in needed],
    )
    marks = markers.select(
        "person_id",
        _day_num(F.col("as_of_date")).alias("day_num"),
        "as_of_date",
        "crm_known",
        F.lit(False).alias("is_activity"),
        *[F.lit(0).cast("long").alias(m) for m in needed],
    )
    w = Window.partitionBy("person_id").orderBy("day_num")
    history = w.rangeBetween(-history_days, 0)
    windowed = [F.sum(s.metric).over(w.rangeBetween(-(s.days - 1), 0)).alias(s.name) for s in sums]
    windowed += [
        F.max(F.when(F.col(last.metric) > 0, F.col("day_num"))).over(history).alias(last.name) for last in lasts
    ]
    latest = F.max(F.when(F.col("is_activity"), F.col("day_num"))).over(history).alias("latest_input_day")
    return (
        activity.unionByName(marks)
        .select("person_id", "as_of_date", "crm_known", "day_num", latest, *windowed)
        .where(F.col("as_of_date").isNotNull())
    )


def state_columns(feats: list[Feature]) -> list[str]:
    """The columns of a window state row: keys, `latest_input_day`, then every Sum and Last input."""
    sums, lasts = window_inputs(feats)
    return ["person_id", "as_of_date", "latest_input_day", *[s.name for s in sums], *[last.name for last in lasts]]


def window_state(
    daily: DataFrame, as_of_dates: list[dt.date], feats: list[Feature], *, metrics: list[str], history_days: int
) -> DataFrame:
    """The window inputs of every person active in the history window of each as-of date.

    One row per (person_id, as_of_date) with `state_columns(feats)`; persons without activity in
    the window have no row (`portrait_from_state` adds those with a CRM account). One as-of date
    (the daily run) is a single `groupBy(person_id)` with a conditional sum per window; several
    dates use one per-person range window over daily rows stacked with one marker row per
    (person, date). Both give the same values.
    """
    sums, lasts = window_inputs(feats)
    lo = min(as_of_dates) - dt.timedelta(days=history_days)
    recent = daily.where(F.col("day").between(F.lit(lo), F.lit(max(as_of_dates))))
    if len(as_of_dates) == 1:
        needed = _checked_metrics(feats, metrics)
        (as_of,) = as_of_dates
        at, day = _day_num(F.lit(as_of)), _day_num(F.col("day"))
        units = [to_units(F.col(m)).alias(m) for m in needed]
        return (
            recent.select("person_id", day.alias("day_num"), *units)
            .groupBy("person_id")
            .agg(
                F.lit(as_of).alias("as_of_date"),
                F.max("day_num").alias("latest_input_day"),
                *[
                    F.sum(
                        F.when(F.col("day_num") > at - s.days, F.col(s.metric)).otherwise(F.lit(0).cast("long"))
                    ).alias(s.name)
                    for s in sums
                ],
                *[F.max(F.when(F.col(last.metric) > 0, F.col("day_num"))).alias(last.name) for last in lasts],
            )
            .select(*state_columns(feats))
        )
    active = recent.groupBy("person_id").agg(F.min("day").alias("active_day"))
    markers = (
        active.crossJoin(F.broadcast(_dates(daily, as_of_dates)))
        .where(F.col("active_day") <= F.col("as_of_date"))
        .select("person_id", "as_of_date", F.lit(False).alias("crm_known"))
    )
    windows = window_features(recent, markers, feats, metrics=metrics, history_days=history_days)
    return windows.where(F.col("latest_input_day").isNotNull()).select(*state_columns(feats))


def portrait_from_state(
    state: DataFrame, customers: DataFrame, as_of_dates: list[dt.date], feats: list[Feature]
) -> DataFrame:
    """The portrait rows from window state rows (`window_state`, or the incremental step) and the CRM.

    Everyone with a state row, plus everyone with a CRM account by the as-of date (all their sums
    0, no last days). Sums (long units) are read back as doubles.
    """
    sums, lasts = window_inputs(feats)
    crm = (
        _crm_signups(customers)
        .crossJoin(F.broadcast(_dates(customers, as_of_dates)))
        .where(_crm_known())
        .select("person_id", "as_of_date", F.lit(True).alias("crm_known"))
    )
    rows = state.join(crm, on=["person_id", "as_of_date"], how="full").select(
        "person_id",
        "as_of_date",
        _day_num(F.col("as_of_date")).alias("day_num"),
        "latest_input_day",
        *[_from_units(F.col(s.name)).alias(s.name) for s in sums],
        *[F.col(last.name) for last in lasts],
    )
    return rows.join(person_profile(customers), on="person_id", how="left").select(*[f.column() for f in feats])


def person_profile(customers: DataFrame) -> DataFrame:
    """One CRM profile per person: the most recently updated account, with the earliest signup date."""
    person = Window.partitionBy("person_id")
    latest = person.orderBy(F.col("consent_updated_at").desc_nulls_last(), F.col("account_id"))
    return (
        customers.where(F.col("person_id").isNotNull())
        .withColumn("_rn", F.row_number().over(latest))
        .withColumn("first_signup", F.min("signup_date").over(person))
        .where(F.col("_rn") == 1)
        .select(
            "person_id",
            "gender",
            "birth_year",
            "city_tier",
            F.col("first_signup").alias("signup_date"),
            *[F.col(f"consent_{c}") for c in CONSENT_CHANNELS],
        )
    )


def build_portrait(
    daily: DataFrame, customers: DataFrame, as_of_dates: list[dt.date], *, categories: list[str], history_days: int
) -> DataFrame:
    """The portrait of every known person at each as-of date; its columns are `registry.features`.

    Args:
        daily: `daily.daily_activity` output (may hold days after some as-of dates: frames stop at each).
        customers: `silver.customers`.
        as_of_dates: the dates to compute (a few; one for the daily run).
        categories: the product categories with affinity features (as given to `daily_activity`).
        history_days: how far back any window may look; at least the longest window (365).

    Returns:
        One row per (person_id, as_of_date) for everyone active in the history window or with a
        CRM account by then.
    """
    feats = checked_features(categories, history_days)
    state = window_state(daily, as_of_dates, feats, metrics=daily_metrics(categories), history_days=history_days)
    return portrait_from_state(state, customers, as_of_dates, feats)


def checked_features(categories: list[str], history_days: int) -> list[Feature]:
    """The registry's features, refusing a history window shorter than the longest feature window."""
    feats = features(categories)
    longest = max(s.days for s in window_inputs(feats)[0])
    if history_days < longest:
        raise ValueError(
            f"features.history_days is {history_days}, shorter than the longest window "
            f"({longest} days): raise it to at least {longest}"
        )
    return feats


def numeric_feature_columns(portrait: DataFrame) -> list[str]:
    """The portrait's model inputs, in table order: the registry's numeric point-in-time features.

    Strings (bands, preferred category), keys, lineage and consent flags are left out.
    """
    prefix, suffix = "view_share_", "_90d"  # the categories the portrait was built with
    categories = [
        c[len(prefix) : -len(suffix)] for c in portrait.columns if c.startswith(prefix) and c.endswith(suffix)
    ]
    declared = {f.name: f for f in features(categories)}
    return [
        c.name
        for c in portrait.schema.fields
        if c.name in declared
        and declared[c.name].model_input
        and c.dataType.typeName() in ("double", "long", "integer", "boolean")
    ]
