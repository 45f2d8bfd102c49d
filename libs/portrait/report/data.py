"""What the daily report shows, as small aggregates: every section is a pandas frame of a few rows
(group counts, histogram bins, gate decisions), never per-person rows.

A section whose table is not there (not declared in the catalog yet, or not written) is a
`Section` with a `note` saying so, and the report shows the note instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.config import MlflowConfig
from portrait.inspect.tables import ACTION_OUTCOMES, ACTIONS_SENT, NOT_AVAILABLE, read_optional
from portrait.io import Lakehouse
from portrait.marts.builders import ALL, FUNNEL_STEPS

BINS = 20  # score histogram bins over [0, 1]


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a small frame (or None) and a note."""

    title: str
    frame: pd.DataFrame | None = None
    note: str = ""

    @property
    def available(self) -> bool:
        return self.frame is not None


def missing(title: str, what: str) -> Section:
    return Section(title, None, f"{what} {NOT_AVAILABLE}")


def _on(lake: Lakehouse, table, date: dt.date) -> DataFrame | None:
    df = read_optional(lake, table)
    return None if df is None else df.where(F.col(table.date_column or "date") == F.lit(date))


def segment_sizes(lake: Lakehouse, date: dt.date) -> Section:
    df = _on(lake, catalog.GOLD_SEGMENTS_DAILY, date)
    if df is None:
        return missing("Segment sizes", str(catalog.GOLD_SEGMENTS_DAILY))
    sizes = df.groupBy("segment_name").agg(F.count(F.lit(1)).alias("persons")).orderBy(F.col("persons").desc())
    frame = sizes.toPandas()
    frame["share"] = frame["persons"] / max(int(frame["persons"].sum()), 1)
    return Section("Segment sizes", frame)


def segment_movement(lake: Lakehouse, date: dt.date) -> Section:
    df = _on(lake, catalog.GOLD_SEGMENT_MOVEMENT, date)
    if df is None:
        return missing("Segment movement", str(catalog.GOLD_SEGMENT_MOVEMENT))
    row = df.first()
    if row is None:
        return Section("Segment movement", None, "no earlier scored date to compare with")
    moves = pd.DataFrame(sorted((row["moves"] or {}).items(), key=lambda kv: -kv[1]), columns=["move", "persons"])
    note = (
        f"{row['persons_moved']:,} of {row['persons_compared']:,} persons scored on both {row['previous_date']} "
        f"and {date} changed segment ({(row['share_moved'] or 0):.1%})"
    )
    return Section("Segment movement", moves, note)


def score_histograms(lake: Lakehouse, date: dt.date) -> Section:
    df = _on(lake, catalog.GOLD_PROPENSITY_DAILY, date)
    if df is None:
        return missing("Score distributions", str(catalog.GOLD_PROPENSITY_DAILY))
    scores = [c for c in ("purchase_propensity", "churn_propensity") if c in df.columns]
    binned = df.select(
        F.explode(
            F.array(
                *[
                    F.struct(F.lit(c).alias("score"), F.least(F.floor(F.col(c) * BINS), F.lit(BINS - 1)).alias("bin"))
                    for c in scores
                ]
            )
        ).alias("s")
    ).where(F.col("s.bin").isNotNull())
    counts = binned.groupBy("s.score", "s.bin").agg(F.count(F.lit(1)).alias("persons")).orderBy("score", "bin")
    frame = counts.toPandas()
    frame["lower"] = frame["bin"] / BINS
    return Section("Score distributions", frame, f"{BINS} bins over [0, 1]; null scores (no churn population) left out")


def actions_by_type_and_channel(lake: Lakehouse, date: dt.date) -> Section:
    df = _on(lake, catalog.GOLD_NEXT_ACTIONS_DAILY, date)
    if df is None:
        return missing("Actions by type and channel", str(catalog.GOLD_NEXT_ACTIONS_DAILY))
    frame = (
        df.groupBy("action", F.coalesce("channel", F.lit("-")).alias("channel"))
        .agg(F.count(F.lit(1)).alias("persons"))
        .orderBy(F.col("persons").desc())
        .toPandas()
    )
    total = int(frame["persons"].sum())
    sent = int(frame.loc[frame["action"] != "none", "persons"].sum())  # type: ignore[attr-defined]
    return Section(
        "Actions by type and channel",
        frame,
        f"{sent:,} of {total:,} persons get an action ({sent / max(total, 1):.1%})",
    )


def caps_and_consent(lake: Lakehouse, date: dt.date) -> Section:
    """Persons whose intended action was not sent, by why (no consent, holdout, a cap, ...)."""
    df = _on(lake, catalog.GOLD_NEXT_ACTIONS_DAILY, date)
    if df is None:
        return missing("Caps and consent", str(catalog.GOLD_NEXT_ACTIONS_DAILY))
    stopped = df.where((F.col("intended_action") != "none") & (F.col("action") == "none"))
    reason = F.col("reason") if dict(df.dtypes).get("reason") == "string" else F.concat_ws("; ", "reason")
    frame = (
        stopped.groupBy(F.col("intended_action"), reason.alias("reason"))
        .agg(F.count(F.lit(1)).alias("persons"))
        .orderBy(F.col("persons").desc())
        .toPandas()
    )
    return Section("Caps and consent", frame, "intended actions not sent, by reason")


def gate_results(mlflow: MlflowConfig, date: dt.date) -> Section:
    """The promotion gate of the training runs of `date` (MLflow), else the current champions."""
    from mlflow.tracking import MlflowClient

    uri = mlflow.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=mlflow.registry_uri or uri)
    experiment = client.get_experiment_by_name(mlflow.experiment)
    if experiment is None:
        return missing("Gate results", f"MLflow experiment {mlflow.experiment!r}")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.model != ''",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    rows = [
        {
            "model": r.data.tags.get("model"),
            "trained_on": r.data.tags.get("portrait.as_of_date"),
            "version": r.data.tags.get("registered_version", ""),
            "promoted": r.data.tags.get("promoted", ""),
            "test_auc": r.data.metrics.get("test_auc"),
            "test_ece": r.data.metrics.get("test_ece"),
            "decision": r.data.tags.get("promotion_decision", ""),
        }
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags and r.data.tags.get("portrait.as_of_date", "") <= date.isoformat()
    ]
    if not rows:
        return missing("Gate results", "a training run up to this date")
    frame = pd.DataFrame(rows).drop_duplicates("model")  # newest run per model
    return Section("Gate results", frame, "newest training run per model up to this date and why the gate decided")


def contact_history(lake: Lakehouse, date: dt.date) -> Section:
    df = read_optional(lake, ACTIONS_SENT)
    if df is None:
        return missing("Contact history", ACTIONS_SENT)  # type: ignore[arg-type]
    day = next((c for c in ("date", "sent_date") if c in df.columns), None)
    if day is None:
        return Section("Contact history", None, f"{ACTIONS_SENT} has no date column: {', '.join(df.columns)}")
    keys = [F.col(day).alias("date")] + [F.col(c) for c in ("action",) if c in df.columns]
    # A row is an action chosen for a person: contacted, or held out (the control group, never
    # contacted). Counting every row as sent overstated what reached people by the control group.
    counts = [F.count(F.lit(1)).alias("chosen")]
    counts += [F.count(F.when(F.col(c), F.lit(1))).alias(name) for c, name in FLAGGED if c in df.columns]
    frame = (
        df.where(F.col(day) <= F.lit(date))
        .where(F.col(day) > F.lit(date - dt.timedelta(days=14)))
        .groupBy(*keys)
        .agg(*counts)
        .orderBy("date", *[c for c in ("action",) if c in df.columns])
        .toPandas()
    )
    note = "actions chosen over the last 14 days: contacted, and held out (the control group, never contacted)"
    return Section("Contact history", frame, note)


# Flags of a contact-history row, and the column each is counted in.
FLAGGED = (("contacted", "contacted"), ("holdout", "held_out"))


def uplift_so_far(lake: Lakehouse, date: dt.date) -> Section:
    df = read_optional(lake, ACTION_OUTCOMES)
    if df is None:
        return missing("Uplift so far", ACTION_OUTCOMES)  # type: ignore[arg-type]
    day = next((c for c in ("date", "action_date", "as_of_date") if c in df.columns), None)
    if day is not None:
        df = df.where(F.col(day) <= F.lit(date)).orderBy(day)
    if "person_id" in df.columns:  # a per-person table: never collect it, aggregate
        return Section("Uplift so far", None, f"{ACTION_OUTCOMES} is per person; see notebook 04")
    return Section("Uplift so far", df.limit(500).toPandas(), "per action and date: treated vs control")


def uplift_columns(columns: list[str]) -> tuple[str | None, str | None, str | None]:
    """(uplift, lower bound, upper bound) column names of an outcomes frame, by their usual names."""
    cols = [c.lower() for c in columns]
    pick = lambda *words: next((columns[i] for i, c in enumerate(cols) if all(w in c for w in words)), None)  # noqa: E731
    uplift = next(
        (
            columns[i]
            for i, c in enumerate(cols)
            if c.startswith("uplift") and "low" not in c and "upp" not in c and "high" not in c and "ci" not in c
        ),
        None,
    )
    return uplift, pick("low") or pick("lo"), pick("upp") or pick("high") or pick("hi")


def funnel(lake: Lakehouse, date: dt.date) -> Section:
    """The day's funnel per channel, every device and category together (gold.funnel_daily)."""
    df = _on(lake, catalog.GOLD_FUNNEL_DAILY, date)
    if df is None:
        return missing("Funnel", str(catalog.GOLD_FUNNEL_DAILY))
    sums = [F.sum(c).alias(c) for c in (*FUNNEL_STEPS, "orders", "revenue")]
    per_channel = df.where(F.col("category") == ALL).groupBy("channel").agg(*sums).orderBy(F.col("sessions").desc())
    frame = per_channel.toPandas()
    frame["view_to_cart"] = frame["carting_sessions"] / frame["viewing_sessions"].where(frame["viewing_sessions"] > 0)
    frame["cart_to_order"] = frame["ordering_sessions"] / frame["carting_sessions"].where(frame["carting_sessions"] > 0)
    return Section("Funnel", frame, "sessions of the day per channel that viewed a product, added to cart and ordered")


def paths_to_purchase(lake: Lakehouse, date: dt.date, top: int = 10) -> Section:
    df = _on(lake, catalog.GOLD_PATHS_TO_PURCHASE, date)
    if df is None:
        return missing("Paths to purchase", str(catalog.GOLD_PATHS_TO_PURCHASE))
    frame = (
        df.where(F.col("rank") <= top).select("outcome", "rank", "path", "sessions", "share").orderBy("outcome", "rank")
    ).toPandas()
    return Section("Paths to purchase", frame, f"the {top} most frequent paths of the sessions that ordered and not")


def rfm_grid(lake: Lakehouse, date: dt.date) -> Section:
    """Buyers per recency (rows) and frequency (columns) score, every monetary score together."""
    df = _on(lake, catalog.GOLD_RFM_GRID, date)
    if df is None:
        return missing("RFM grid", str(catalog.GOLD_RFM_GRID))
    cells = pd.DataFrame(df.groupBy("r_score", "f_score").agg(F.sum("persons").alias("persons")).toPandas())
    frame = cells.pivot_table(index="r_score", columns="f_score", values="persons", aggfunc="sum", fill_value=0)
    frame = frame.sort_index(ascending=False).rename(columns=lambda f: f"F{f}").rename_axis(columns=None).reset_index()
    return Section("RFM grid", frame, "buyers of the last 365 days per recency (R5: most recent) and frequency score")


def retention(lake: Lakehouse, date: dt.date, cohort: str = "first_visit") -> Section:
    """The share of each weekly cohort active in each week since (W0: its own week)."""
    df = _on(lake, catalog.GOLD_RETENTION_COHORTS, date)
    if df is None:
        return missing("Retention", str(catalog.GOLD_RETENTION_COHORTS))
    cells = pd.DataFrame(
        df.where(F.col("cohort") == cohort).select("cohort_week", "week_offset", "active_share").toPandas()
    )
    frame = cells.pivot_table(index="cohort_week", columns="week_offset", values="active_share", aggfunc="sum")
    frame = frame.rename(columns=lambda w: f"W{w}").rename_axis(columns=None).reset_index()
    frame["cohort_week"] = frame["cohort_week"].astype(str)
    return Section(
        "Retention", frame, f"share of the persons of each {cohort.replace('_', ' ')} week active in each week since"
    )


def tag_coverage(lake: Lakehouse, date: dt.date) -> Section:
    df = _on(lake, catalog.GOLD_TAG_COVERAGE, date)
    if df is None:
        return missing("Tag coverage", str(catalog.GOLD_TAG_COVERAGE))
    every = df.where(F.col("segment_name") == ALL).select("tag", "persons", "persons_previous", "persons_change")
    frame = every.orderBy(F.col("persons").desc(), "tag").toPandas()
    return Section("Tag coverage", frame, "persons per tag, against the day before")


def gather(lake: Lakehouse, mlflow: MlflowConfig, date: dt.date) -> list[Section]:
    """Every section of the daily report of `date`, in the order shown."""
    return [
        segment_sizes(lake, date),
        segment_movement(lake, date),
        score_histograms(lake, date),
        actions_by_type_and_channel(lake, date),
        caps_and_consent(lake, date),
        contact_history(lake, date),
        gate_results(mlflow, date),
        uplift_so_far(lake, date),
        funnel(lake, date),
        paths_to_purchase(lake, date),
        rfm_grid(lake, date),
        tag_coverage(lake, date),
        retention(lake, date),
    ]
