"""A short text summary of a scored day for people (the demo prints it)."""

from __future__ import annotations

import datetime as dt
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from portrait import catalog
from portrait.actions import EV_LABEL
from portrait.io import Lakehouse

# A number standing alone in a reason (a count, an expected value, a probability), not one inside a
# name such as the experiment id `cart_reminder_2026q4`.
_NUMBER = r"(?<![\w.])-?[0-9]+(\.[0-9]+)?(?![\w])"
# The arithmetic of an expected value (`expected value 0.12 = P 0.03 x 6.00 - 0.05`) differs per person.
_ARITHMETIC = rf" has {re.escape(EV_LABEL)}.*$"


def reason_kind(reason: Column) -> Column:
    """A reason without its per-person numbers, to count reasons of one kind together: the numbers
    become `n`, an expected value's arithmetic is left out."""
    return F.regexp_replace(F.regexp_replace(reason, _ARITHMETIC, " has too low an expected value"), _NUMBER, "n")


def summary(lake: Lakehouse, date: dt.date, *, rows: int = 5) -> str:
    """Actions by type and channel, the share of persons contacted and held out, and a few rows
    with their reasons, for `date` of gold.next_actions_daily (aggregates and `rows` rows only)."""
    day = lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY).where(F.col("date") == F.lit(date))
    totals = day.agg(
        F.count(F.lit(1)).alias("n"),
        F.count(F.when(F.col("action") != "none", True)).alias("sent"),
        F.count(F.when(F.col("holdout"), True)).alias("held"),
    ).first()
    n = totals["n"] or 0
    out = [
        f"Next actions of {date}: {totals['sent']:,} of {n:,} persons contacted "
        f"({totals['sent'] / max(n, 1):.1%}), {totals['held']:,} held out (control groups)"
    ]
    out.append(f"  {'action':<26}{'channel':<10}{'persons':>10}")
    for r in (
        day.where(F.col("action") != "none")
        .groupBy("action", "channel")
        .count()
        .orderBy(F.col("count").desc(), "action", "channel")
        .collect()
    ):
        out.append(f"  {r['action']:<26}{r['channel']:<10}{r['count']:>10,}")
    out.append("  why not, top reasons for 'none':")
    for r in (
        day.where(F.col("action") == "none")
        .groupBy(reason_kind(F.col("reason")).alias("why"))
        .count()
        .orderBy(F.col("count").desc())
        .limit(5)
        .collect()
    ):
        out.append(f"    {r['count']:>8,}  {r['why']}")
    out.append("  a few contacted persons and why:")
    for r in (
        day.where(F.col("action") != "none")
        .orderBy("person_id")
        .limit(rows)
        .select("person_id", "action", "channel", "reason", "purchase_reasons", "recommendations")
        .collect()
    ):
        out.append(f"    {r['person_id']}  {r['action']} by {r['channel']}: {r['reason']}")
        if r["purchase_reasons"]:  # empty when no feature moved the score past the reason threshold
            out.append(f"      purchase propensity because: {'; '.join(r['purchase_reasons'])}")
        if r["recommendations"]:
            out.append(f"      recommended products: {', '.join(r['recommendations'])}")
    return "\n".join(out)
