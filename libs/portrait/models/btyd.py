"""Buy-till-you-die models: BG/NBD purchases and Gamma-Gamma spend, fitted on sufficient statistics.

Per person at an as-of date (`purchase_stats`): `x` repeat purchase days (purchase days - 1),
`t_x` days from the first to the last purchase day, `T` days from the first purchase day to the
as-of date, `monetary` the mean spend of a purchase day. BG/NBD (Fader, Hardie & Lee 2005) and
Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") are fitted by maximum likelihood with
scipy on aggregated statistics: BG/NBD's likelihood depends on a person only through (x, t_x, T),
so Spark counts the persons per distinct triple and the driver gets that small table, never the
persons. Gamma-Gamma's depends on (x, monetary): spend is bucketed on a 1 % log grid first.

Why not a library: `lifetimes` is unmaintained (last release 2020, breaks on pandas 2 / numpy 2)
and `pymc-marketing` brings PyMC and PyTensor for two closed-form likelihoods; both would also
take per-person pandas frames. The predictions are Column expressions (`with_clv`): the Gauss
hypergeometric function of the BG/NBD expectation is a fixed-length series summed by Spark's
`aggregate`, so scoring stays a pure, distributed transform.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy.optimize import minimize
from scipy.special import gammaln

SERIES_TERMS = 600  # terms of the 2F1 series: enough for x up to ~300 repeat days (tested vs scipy)
_LOG_GRID = 100.0  # Gamma-Gamma spend buckets: round(100 * ln(monetary))


class NoPurchaseHistory(ValueError):
    """No person has a purchase to fit on."""


@dataclass(frozen=True)
class ClvParams:
    """Fitted BG/NBD (r, alpha, a, b; days) and Gamma-Gamma (p, q, gamma) parameters."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def purchase_stats(purchase_days: DataFrame, *, as_of: dt.date) -> DataFrame:
    """Sufficient statistics per person with a purchase on or before `as_of`.

    Args:
        purchase_days: one row per (person_id, day) with the day's `amount` (purchases only).

    Returns:
        `person_id`, `x`, `t_x`, `T` (doubles, days) and `monetary` (mean amount of a purchase day).
    """
    past = purchase_days.where(F.col("day") <= F.lit(as_of))
    return (
        past.groupBy("person_id")
        .agg(
            F.count("*").alias("n"),
            F.min("day").alias("first"),
            F.max("day").alias("last"),
            F.avg("amount").alias("monetary"),
        )
        .select(
            "person_id",
            (F.col("n") - 1).cast("double").alias("x"),
            F.datediff("last", "first").cast("double").alias("t_x"),
            F.datediff(F.lit(as_of), F.col("first")).cast("double").alias("T"),
            F.col("monetary").cast("double").alias("monetary"),
        )
    )


def _bgnbd_nll(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, n: np.ndarray) -> float:
    r, alpha, a, b = np.exp(log_params)
    common = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    a1 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a2 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return -float(np.sum(n * (common + np.logaddexp(a1, a2)))) / float(np.sum(n))


def _gamma_gamma_nll(log_params: np.ndarray, x: np.ndarray, m: np.ndarray, n: np.ndarray) -> float:
    p, q, g = np.exp(log_params)
    px = p * x
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + x * m)
    )
    return -float(np.sum(n * ll)) / float(np.sum(n))


def _fit(nll, start: list[float], *args) -> np.ndarray:
    result = minimize(
        nll, np.log(start), args=args, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-10}
    )
    if not np.isfinite(result.fun):
        raise ValueError(f"BTYD fit diverged: {result.message}")
    return np.exp(result.x)


def fit(stats: DataFrame) -> ClvParams:
    """Fit BG/NBD on (x, t_x, T) and Gamma-Gamma on repeat buyers' (x + 1 days, monetary).

    Collects only aggregated statistics (persons per distinct triple and per spend bucket), read
    twice: pass a checkpointed or cached `stats` when it is built from a large table.
    """
    # Sorted on the driver (the keys are distinct): numpy sums the likelihood in row order, so the
    # fit must not depend on the order the partitions came back in.
    triples = sorted(
        stats.groupBy("x", "t_x", "T").agg(F.count("*").alias("n")).collect(), key=lambda r: (r["x"], r["t_x"], r["T"])
    )
    if not triples:
        raise NoPurchaseHistory("no person has a purchase on or before the as-of date: nothing to fit BG/NBD on")
    x, t_x, T, n = (np.array([row[k] for row in triples], dtype=float) for k in ("x", "t_x", "T", "n"))
    r, alpha, a, b = _fit(_bgnbd_nll, [0.5, 30.0, 0.5, 2.0], x, t_x, T, n)
    # Gamma-Gamma needs several purchase days and a positive mean spend.
    buckets = (
        stats.where((F.col("x") > 0) & (F.col("monetary") > 0))
        .groupBy((F.col("x") + 1).alias("days"), F.round(F.log("monetary") * _LOG_GRID).alias("lm"))
        .agg(F.count("*").alias("n"))
        .collect()
    )
    buckets = sorted(buckets, key=lambda r: (r["days"], r["lm"]))
    days = np.array([row["days"] for row in buckets], dtype=float)
    m = np.exp(np.array([row["lm"] for row in buckets], dtype=float) / _LOG_GRID)
    counts = np.array([row["n"] for row in buckets], dtype=float)
    if not len(m):
        raise NoPurchaseHistory("no person has two purchase days: nothing to fit Gamma-Gamma on")
    start_gamma = float(np.average(m, weights=counts))
    p, q, g = _fit(_gamma_gamma_nll, [2.0, 3.0, start_gamma], days, m, counts)
    return ClvParams(float(r), float(alpha), float(a), float(b), float(p), float(q), float(g))


def p_alive(params: ClvParams, *, x: Column, t_x: Column, T: Column) -> Column:
    """BG/NBD probability that the person has not dropped out by the as-of date."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    odds = F.lit(a) / (F.lit(b) + x - 1) * F.pow((F.lit(alpha) + T) / (F.lit(alpha) + t_x), F.lit(r) + x)
    return F.when(x > 0, 1.0 / (1.0 + odds)).otherwise(F.lit(1.0))


def hyp2f1(a: Column, b: Column, c: Column, z: Column, *, terms: int = SERIES_TERMS) -> Column:
    """Gauss's 2F1(a, b; c; z) for 0 <= z < 1 as a fixed-length power series (a Spark `aggregate`)."""

    def step(acc: Column, k: Column) -> Column:
        kd = k.cast("double")
        term = acc["term"] * (a + kd - 1) * (b + kd - 1) / ((c + kd - 1) * kd) * z
        return F.struct(term.alias("term"), (acc["total"] + term).alias("total"))

    start = F.struct(F.lit(1.0).alias("term"), F.lit(1.0).alias("total"))
    return F.aggregate(F.sequence(F.lit(1), F.lit(terms)), start, step)["total"]


def expected_purchases(params: ClvParams, *, x: Column, t_x: Column, T: Column, days: int) -> Column:
    """BG/NBD expected purchase days in the next `days` days given (x, t_x, T)."""
    r, alpha, a, b = (F.lit(v) for v in (params.r, params.alpha, params.a, params.b))
    t = F.lit(float(days))
    z = t / (alpha + T + t)
    f = hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - F.pow((alpha + T) / (alpha + T + t), r + x) * f
    odds = F.when(x > 0, a / (b + x - 1) * F.pow((alpha + T) / (alpha + t_x), r + x)).otherwise(F.lit(0.0))
    return head * body / (1 + odds)


def expected_spend_per_purchase(params: ClvParams, *, x: Column, monetary: Column) -> Column:
    """Gamma-Gamma mean spend of a future purchase day (the population mean for a single day)."""
    p, q, g = (F.lit(v) for v in (params.p, params.q, params.gamma))
    days = x + 1
    return F.when(days > 1, p * (g + days * monetary) / (p * days + q - 1)).otherwise(p * g / (q - 1))


def with_clv(df: DataFrame, stats: DataFrame, *, params: ClvParams, horizon_days: int) -> DataFrame:
    """`df` (one row per person_id) with `p_alive`, `expected_purchases` and `expected_spend` over
    the next `horizon_days`: null for persons without a purchase in `stats` (no BTYD history).

    Args:
        df: any per-person frame (e.g. the scored portrait).
        stats: `purchase_stats` at the scoring date.
        params: `fit(stats)`.
        horizon_days: the CLV horizon.
    """
    x, t_x, T = F.col("_x"), F.col("_t_x"), F.col("_T")
    history = stats.select(
        "person_id",
        F.col("x").alias("_x"),
        F.col("t_x").alias("_t_x"),
        F.col("T").alias("_T"),
        F.col("monetary").alias("_m"),
    )
    purchases = expected_purchases(params, x=x, t_x=t_x, T=T, days=horizon_days)
    spend = expected_spend_per_purchase(params, x=x, monetary=F.col("_m"))
    joined = df.join(history, on="person_id", how="left")  # stats: one row per person
    has = x.isNotNull()
    return joined.select(
        *df.columns,
        F.when(has, p_alive(params, x=x, t_x=t_x, T=T)).cast("double").alias("p_alive"),
        F.when(has, purchases).cast("double").alias("expected_purchases"),
        F.when(has, purchases * spend).cast("double").alias("expected_spend"),
    )
