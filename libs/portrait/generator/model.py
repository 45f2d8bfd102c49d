"""The behavioural model: daily order rate λ(t) and visit probability v(t) per person.

Day ``t`` is an index: 0 is the first day of the history window, ``days - 1`` its last day
(``end_date``), ``days`` the first day after it. On day ``t`` a person places
N ~ Poisson(λ(t)) orders (each completed with probability ``COMPLETED_SHARE``) and visits
the shop if N > 0 or with probability v(t) otherwise. The truth's probabilities and draws
come from the same functions, so they are the probabilities of the process that wrote the
history.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from . import rand
from .persons import DRIFTING, by_archetype

# Per archetype, in persons.ARCHETYPES order.
ORDER_RATE = (0.085, 0.034, 0.007, 0.06, 0.07, 0.0004)
VISIT_PROB = (0.30, 0.22, 0.36, 0.35, 0.30, 0.006)
SOCIAL_RATE = (0.020, 0.012, 0.012, 0.020, 0.012, 0.002)

ORDER_STATUSES = ("completed", "cancelled", "returned")
ORDER_STATUS_SHARES = (0.88, 0.07, 0.05)
COMPLETED_SHARE = ORDER_STATUS_SHARES[0]


def _exists(t: Column) -> Column:
    """1.0 from the person's first day on (new customers do not exist before), else 0.0."""
    return F.when(t >= F.col("start_day"), F.lit(1.0)).otherwise(F.lit(0.0))


def _decay(t: Column, stretch: float) -> Column:
    """exp(-t / (stretch tau)) for drifting persons, 1.0 for everybody else."""
    return F.when(F.col("arch") == F.lit(DRIFTING),
                  F.exp(-t.cast("double") / (F.lit(stretch) * F.col("tau")))).otherwise(F.lit(1.0))


def order_rate(t: Column) -> Column:
    """λ(t): expected orders (all statuses) on day ``t`` (needs the latent person columns)."""
    lam = by_archetype(ORDER_RATE) * F.col("mult_p") * _decay(t, 1.0) * _exists(t)
    return F.least(lam, F.lit(1.0))


def visit_prob(t: Column) -> Column:
    """v(t): probability of a browsing visit on day ``t`` besides purchase visits."""
    v = by_archetype(VISIT_PROB) * F.col("mult_v") * _decay(t, 1.2) * _exists(t)
    return F.least(v, F.lit(0.95))


def poisson_small(u: Column, lam: Column) -> Column:
    """A Poisson(lam) draw capped at 3 from a uniform ``u`` (λ here is well below 1)."""
    p0 = F.exp(-lam)
    f0 = p0
    f1 = f0 + p0 * lam
    f2 = f1 + p0 * lam * lam / F.lit(2.0)
    return ((u >= f0).cast("int") + (u >= f1).cast("int") + (u >= f2).cast("int"))


def _days(first: int, count: int) -> Column:
    return F.sequence(F.lit(first), F.lit(first + count - 1))


def purchase_prob(*, days: int, horizon_days: int) -> Column:
    """P(>= 1 completed order in (end_date, end_date + horizon]) = 1 - exp(-c Σ λ)."""
    total = F.aggregate(_days(days, horizon_days), F.lit(0.0),
                        lambda acc, t: acc + order_rate(t))
    return F.lit(1.0) - F.exp(F.lit(-COMPLETED_SHARE) * total)


def quiet_prob(*, days: int, churn_days: int) -> Column:
    """P(no visit and no order in the ``churn_days`` days after end_date)."""
    log_p = F.aggregate(_days(days, churn_days), F.lit(0.0),
                        lambda acc, t: acc + F.log1p(-visit_prob(t)) - order_rate(t))
    return F.exp(log_p)


def draw_purchased(seed: int, *, days: int, horizon_days: int) -> Column:
    """A draw of 'completed order within the horizon', day by day from the model."""
    pk = F.col("person_key")
    return F.exists(_days(days, horizon_days), lambda t: rand.uniform(
        seed, "future_completed", pk, t) < F.lit(1.0) - F.exp(F.lit(-COMPLETED_SHARE) * order_rate(t)))


def draw_active(seed: int, *, days: int, churn_days: int) -> Column:
    """A draw of 'any visit or order in the churn window', consistent with draw_purchased."""
    pk = F.col("person_key")

    def active_on(t: Column) -> Column:
        completed = rand.uniform(seed, "future_completed", pk, t) < (
            F.lit(1.0) - F.exp(F.lit(-COMPLETED_SHARE) * order_rate(t)))
        other_order = rand.uniform(seed, "future_other_order", pk, t) < (
            F.lit(1.0) - F.exp(F.lit(-(1.0 - COMPLETED_SHARE)) * order_rate(t)))
        visit = rand.uniform(seed, "future_visit", pk, t) < visit_prob(t)
        return completed | other_order | visit

    return F.exists(_days(days, churn_days), active_on)
