"""BG/NBD + Gamma-Gamma: the series, the fit on simulated customers, the CLV columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual
from scipy.special import hyp2f1 as scipy_hyp2f1

from portrait.models import btyd

D = dt.date(2024, 1, 31)


def test_hypergeometric_series_matches_scipy(spark):
    cases = [(0.5, 2.0, 3.0, 0.2), (12.4, 14.0, 15.1, 0.35), (150.2, 152.0, 152.5, 0.25), (1.2, 3.0, 2.9, 0.6)]
    df = spark.createDataFrame(cases, "a double, b double, c double, z double")
    got = df.select(btyd.hyp2f1(F.col("a"), F.col("b"), F.col("c"), F.col("z")).alias("f")).collect()
    for (a, b, c, z), row in zip(cases, got, strict=False):
        assert row["f"] == pytest.approx(scipy_hyp2f1(a, b, c, z), rel=1e-9)


def _simulate(n: int, *, r: float, alpha: float, a: float, b: float, seed: int) -> list[tuple]:
    """(person_id, x, t_x, T, monetary) of BG/NBD customers with a daily rate and a dropout per purchase."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lam, p = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        T = float(rng.integers(30, 365))
        t, x, t_x = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / lam)
            if t > T:
                break
            x, t_x = x + 1, float(np.floor(t))
            if rng.random() < p:  # drops out after a repeat purchase (never after the first one)
                break
        rows.append((f"p{i}", float(x), t_x, T, float(rng.gamma(4.0, 10.0))))
    return rows


def test_fit_recovers_the_parameters_of_simulated_customers(spark):
    truth = {"r": 0.8, "alpha": 40.0, "a": 0.6, "b": 3.0}
    stats = spark.createDataFrame(
        _simulate(4000, **truth, seed=3), "person_id string, x double, t_x double, T double, monetary double"
    )
    params = btyd.fit(stats)
    assert params.r == pytest.approx(truth["r"], rel=0.2)
    assert params.alpha == pytest.approx(truth["alpha"], rel=0.25)
    assert params.a == pytest.approx(truth["a"], rel=0.35)
    assert params.b == pytest.approx(truth["b"], rel=0.5)


def test_purchase_stats_and_clv_columns(spark):
    days = spark.createDataFrame(
        [
            ("p1", dt.date(2024, 1, 1), 10.0),
            ("p1", dt.date(2024, 1, 11), 30.0),
            ("p1", dt.date(2024, 2, 5), 99.0),
            ("p2", dt.date(2024, 1, 21), 5.0),
        ],
        "person_id string, day date, amount double",
    )
    stats = btyd.purchase_stats(days, as_of=D)
    assertDataFrameEqual(
        stats,
        spark.createDataFrame(
            [("p1", 1.0, 10.0, 30.0, 20.0), ("p2", 0.0, 0.0, 10.0, 5.0)],
            "person_id string, x double, t_x double, T double, monetary double",
        ),
    )

    params = btyd.ClvParams(r=0.8, alpha=40.0, a=0.6, b=3.0, p=4.0, q=3.0, gamma=15.0)
    persons = spark.createDataFrame([("p1",), ("p2",), ("p3",)], "person_id string")
    out = {r["person_id"]: r for r in btyd.with_clv(persons, stats, params=params, horizon_days=30).collect()}
    # p1: x = 1, t_x = 10, T = 30 (closed forms of Fader, Hardie & Lee 2005).
    odds = 0.6 / (3.0 + 1 - 1) * ((40 + 30) / (40 + 10)) ** (0.8 + 1)
    assert out["p1"]["p_alive"] == pytest.approx(1 / (1 + odds))
    z = 30 / (40 + 30 + 30)
    expected = (
        (0.6 + 3.0 + 1 - 1)
        / (0.6 - 1)
        * (1 - ((40 + 30) / (40 + 30 + 30)) ** 1.8 * scipy_hyp2f1(1.8, 4.0, 3.6, z))
        / (1 + odds)
    )
    assert out["p1"]["expected_purchases"] == pytest.approx(expected, rel=1e-9)
    spend = 4.0 * (15.0 + 2 * 20.0) / (4.0 * 2 + 3.0 - 1)
    assert out["p1"]["expected_spend"] == pytest.approx(expected * spend, rel=1e-9)
    assert out["p2"]["p_alive"] == 1.0 and out["p2"]["expected_spend"] > 0
    assert (out["p3"]["p_alive"], out["p3"]["expected_purchases"], out["p3"]["expected_spend"]) == (None, None, None)
