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
    """exp(-(t - drift_day)+ / (stretch tau)) for drifting persons, 1.0 for everybody else."""
    faded = F.greatest(t - F.col("drift_day"), F.lit(0)).cast("double")
    return F.when(F.col("arch") == F.lit(DRIFTING), F.exp(-faded / (F.lit(stretch) * F.col("tau")))).otherwise(
        F.lit(1.0)
    )


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
    return (u >= f0).cast("int") + (u >= f1).cast("int") + (u >= f2).cast("int")


def _days(first: int, count: int) -> Column:
    return F.sequence(F.lit(first), F.lit(first + count - 1))


def _future_sum(*, days: int, count: int, term) -> Column:
    """Σ term(t) over the ``count`` days after the window.

    Every rate is constant after the window except for drifting persons, so only they pay for
    the day-by-day sum (a higher-order function, interpreted row by row).
    """
    day_by_day = F.aggregate(_days(days, count), F.lit(0.0), lambda acc, t: acc + term(t))
    return F.when(F.col("arch") == F.lit(DRIFTING), day_by_day).otherwise(F.lit(float(count)) * term(F.lit(days)))


def purchase_prob(*, days: int, horizon_days: int) -> Column:
    """P(>= 1 completed order in (end_date, end_date + horizon]) = 1 - exp(-c Σλ)."""
    total = _future_sum(days=days, count=horizon_days, term=order_rate)
    return F.lit(1.0) - F.exp(F.lit(-COMPLETED_SHARE) * total)


def quiet_prob(*, days: int, churn_days: int) -> Column:
    """P(no visit and no order in the ``churn_days`` days after end_date) = Π (1 - v) e^-λ."""
    log_p = _future_sum(days=days, count=churn_days, term=lambda t: F.log1p(-visit_prob(t)) - order_rate(t))
    return F.exp(log_p)


def future_draws(seed: int, *, purchase: Column, quiet: Column, coupled: bool) -> tuple[Column, Column]:
    """Draws of (bought in the horizon, quiet in the churn window) with those probabilities.

    When the churn window covers the horizon the two events exclude each other (a quiet person
    buys nothing) and ``quiet <= 1 - purchase``: one uniform then draws both, consistently.
    Otherwise they are drawn independently.
    """
    u = rand.uniform(seed, "future", "person_key")
    bought = u >= F.lit(1.0) - purchase
    if coupled:
        return bought, u < quiet
    return bought, rand.uniform(seed, "future_quiet", "person_key") < quiet
