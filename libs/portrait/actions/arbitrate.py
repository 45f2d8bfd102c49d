"""Arbitration: each person gets at most one action per day, the eligible one with the highest
expected value on a channel they consented to, within the contact caps; or `none` with the reason.

All of it is Column expressions over the scoring row joined with the contact state
(`portrait.actions.contacts`): no UDF, nothing collected.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import catalog
from portrait.actions.contacts import contact_state, days_since_column
from portrait.actions.holdout import in_holdout
from portrait.actions.policy import Action, Policy

NONE = "none"
EPS = 1e-9  # expected values closer than this are a tie
EV_LABEL = "expected value "  # how a reason text spells out an expected value: label, then its arithmetic


def first_consented(channels: list[str]) -> Column:
    """The first of `channels` the person consented to (`consent_<channel>`), else null."""
    return F.coalesce(*[F.when(F.col(f"consent_{c}"), F.lit(c)) for c in channels], F.lit(None).cast("string"))


def _eligible(a: Action) -> Column:
    return F.coalesce(F.expr(a.when), F.lit(False))


def _cooling(a: Action) -> Column:
    return F.coalesce(F.col(days_since_column(a.name)) < F.lit(a.cooldown_days), F.lit(False))


def _candidate(a: Action, rank: int) -> Column:
    """The action as a struct when the person may get it today (eligible, consented channel, not in
    cooldown, a known probability); sorting the structs puts the best expected value first."""
    p = F.expr(a.probability).cast("double")
    ev = p * F.lit(a.value) - F.lit(a.cost)
    ok = _eligible(a) & first_consented(a.channels).isNotNull() & ~_cooling(a) & p.isNotNull()
    return F.when(
        ok,
        F.struct(
            (-ev).alias("neg_ev"),
            F.lit(rank).alias("rank"),
            F.lit(a.name).alias("action"),
            first_consented(a.channels).alias("channel"),
            F.lit(a.offer).alias("offer"),
            F.lit(a.reason).alias("why"),
            F.lit(a.experiment).alias("experiment_id"),
            ev.alias("ev"),
            p.alias("p"),
            F.lit(a.value).alias("value"),
            F.lit(a.cost).alias("cost"),
        ),
    )


def _by_name(policy: Policy, name: Column, pick) -> Column:
    """A per-action constant (`pick(action)`) selected by the action name in `name`."""
    return F.coalesce(*[F.when(name == F.lit(a.name), pick(a)) for a in policy.actions])


def _names_where(policy: Policy, test) -> Column:
    """Comma-separated names of the actions for which the Column `test(action)` holds."""
    return F.concat_ws(", ", *[F.when(test(a), F.lit(a.name)) for a in policy.actions])


def with_next_action(
    rows: DataFrame,
    policy: Policy,
    *,
    history: DataFrame,
    date: dt.date,
    holdout_share: float,
    include_date: bool = False,
) -> DataFrame:
    """Add the day's decision to every scoring row.

    Args:
        rows: one row per person: the columns the policy's expressions use and `consent_<channel>`.
        policy: the validated policy.
        history: gold.actions_sent (any dates; only the days before `date` are used).
        date: the scoring date.
        holdout_share: the share held out of each experiment that does not set its own.
        include_date: the contacts of `date` itself cap too (the live job decides during the day;
            the daily score replaces its own date on a rerun, so it counts the days before only).

    Returns:
        `rows` plus intended_action (the best candidate before caps and holdout, else 'none'),
        action, channel, offer, experiment_id, expected_value, reason, holdout, policy_version.
    """
    state = contact_state(history, policy, date=date, include_date=include_date)
    joined = rows.join(state, on="person_id", how="left")
    cands = _candidates_best_first(policy)
    best, second = F.get(F.col("_cands"), 0), F.get(F.col("_cands"), 1)
    ev_text = _expected_value_text(best)
    held = _by_name(policy, best["action"], lambda a: in_holdout(a.experiment, policy.share(a, holdout_share)))
    decision = _reason_for_none(policy, best, ev_text)
    chosen = decision.isNull()
    why = _tie_note(best, second)
    holdout = chosen & held
    return joined.withColumn("_cands", cands).select(
        *rows.columns,
        F.coalesce(best["action"], F.lit(NONE)).alias("intended_action"),
        F.when(chosen & ~held, best["action"]).otherwise(F.lit(NONE)).alias("action"),
        F.when(chosen & ~held, best["channel"]).alias("channel"),
        F.when(chosen, best["offer"]).alias("offer"),
        F.when(chosen, best["experiment_id"]).alias("experiment_id"),
        best["ev"].alias("expected_value"),
        F.when(holdout, F.concat(F.lit("holdout of experiment "), best["experiment_id"]))
        .when(chosen, F.concat(why, best["why"], F.lit("; "), ev_text))
        .otherwise(decision)
        .alias("reason"),
        holdout.alias("holdout"),
        F.lit(policy.version).alias("policy_version"),
    )


def _candidates_best_first(policy: Policy) -> Column:
    """The actions the person may get today (`_candidate` structs), highest expected value first
    (tie: first in the policy)."""
    return F.array_sort(
        F.filter(F.array(*[_candidate(a, i) for i, a in enumerate(policy.actions)]), lambda x: x.isNotNull())
    )


def _expected_value_text(best: Column) -> Column:
    """The best candidate's expected value spelled out with its arithmetic, for the reason texts."""
    fmt = lambda x: F.format_number(x, 2)  # noqa: E731 - money in the reason texts
    return F.concat(
        F.lit(EV_LABEL),
        fmt(best["ev"]),
        F.lit(" = P "),
        fmt(best["p"]),
        F.lit(" x "),
        fmt(best["value"]),
        F.lit(" - "),
        fmt(best["cost"]),
    )


def _reason_for_none(policy: Policy, best: Column, ev_text: Column) -> Column:
    """Why the person gets no action today (the first that holds of: nothing eligible, no consent,
    7-day cap, quiet period, cooldown, nothing worth its cost); null when the best candidate is chosen."""
    any_eligible = F.greatest(F.lit(False), *[_eligible(a) for a in policy.actions])
    any_consented = F.greatest(
        F.lit(False), *[_eligible(a) & first_consented(a.channels).isNotNull() for a in policy.actions]
    )
    caps = policy.caps
    sent_7d = F.coalesce(F.col("sent_7d"), F.lit(0))
    since = F.col("days_since_last_action")
    return (
        F.when(~any_eligible, F.lit("no eligible action"))
        .when(
            ~any_consented,
            F.concat(F.lit("no consent on the channels of "), _names_where(policy, lambda a: _eligible(a))),
        )
        .when(
            sent_7d >= F.lit(caps.max_per_7d),
            F.concat(
                F.lit(f"cap: {caps.max_per_7d} actions in 7 days reached ("),
                sent_7d.cast("string"),
                F.lit(" in the last 6 days)"),
            ),
        )
        .when(
            since < F.lit(caps.quiet_days),
            F.concat(
                F.lit(f"quiet period of {caps.quiet_days} days: last action "), since.cast("string"), F.lit(" days ago")
            ),
        )
        .when(
            best.isNull(),
            F.concat(
                F.lit("cooldown: "),
                _names_where(policy, lambda a: _eligible(a) & first_consented(a.channels).isNotNull() & _cooling(a)),
                F.lit(" sent recently"),
            ),
        )
        .when(
            best["ev"] <= F.lit(policy.min_expected_value),
            F.concat(F.lit("nothing worth its cost: best "), best["action"], F.lit(" has "), ev_text),
        )
    )


def _tie_note(best: Column, second: Column) -> Column:
    """The reason's prefix when the two best candidates tie on expected value, else an empty string."""
    tie = second.isNotNull() & (F.abs(second["neg_ev"] - best["neg_ev"]) < F.lit(EPS))
    return F.when(
        tie,
        F.concat(
            F.lit("tie between "),
            best["action"],
            F.lit(" and "),
            second["action"],
            F.lit(", first in the policy wins; "),
        ),
    ).otherwise(F.lit(""))


def sent_rows(decided: DataFrame, *, date: dt.date | None = None) -> DataFrame:
    """The rows of gold.actions_sent for `date`: every chosen action, contacted or held out. Without
    `date`, each row's own `date` (gold.live_actions: the live contacts, which cap as daily ones do)."""
    chosen = decided.where((F.col("action") != F.lit(NONE)) | F.col("holdout"))
    return chosen.select(
        F.col("date") if date is None else F.lit(date).alias("date"),
        "person_id",
        F.col("intended_action").alias("action"),
        "channel",
        "offer",
        "experiment_id",
        "holdout",
        (~F.col("holdout")).alias("contacted"),
        "expected_value",
        "policy_version",
    )


def with_live_contacts(sent: DataFrame, live_actions: DataFrame) -> DataFrame:
    """Every contact that caps: gold.actions_sent rows and the live contacts of gold.live_actions
    (sent or held out: `sent_rows` of their own dates), in gold.actions_sent's columns."""
    contract = catalog.GOLD_ACTIONS_SENT
    return contract.conform(sent).unionByName(contract.conform(sent_rows(live_actions)))
