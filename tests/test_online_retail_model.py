"""The orders-only model on an Online Retail shaped table: customers, order features as of a date
(RFM, inter-purchase times, seasonality), the 13-week label and the spend in it."""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal

import numpy as np
import pytest
from helpers import local_conf_file
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.models import family
from portrait.orders_model import features as orm

T = dt.date(2011, 9, 9)
BRONZE = (
    "order_id string, account_id string, order_ts timestamp, product_id string, quantity int, "
    "unit_price decimal(12,3), status string, line_class string, country string"
)


def _bronze(spark):
    def line(order, account, day, product, qty, price, status="completed", cls="product", country="United Kingdom"):
        return (
            order,
            account,
            dt.datetime.fromisoformat(day + " 10:00:00"),
            product,
            qty,
            Decimal(price),
            status,
            cls,
            country,
        )

    return spark.createDataFrame(
        [
            line("1", "OR1", "2011-01-10", "p1", 2, "5.0"),
            line("1", "OR1", "2011-01-10", "p2", 1, "10.0"),
            line("2", "OR1", "2011-08-30", "p3", 3, "2.0"),
            line("2", "OR1", "2011-08-30", "POST", 1, "18.0", cls="postage"),  # not a product: ignored
            line("C3", "OR1", "2011-09-01", "p2", -1, "10.0", status="returned"),  # a return before the as-of date
            line("4", "OR1", "2011-10-01", "p1", 1, "5.0"),  # bought in the horizon
            line("5", "OR2", "2011-09-09", "p9", 1, "4.0", country="France"),  # the as-of day counts
            line("6", "OR2", "2011-12-10", "p9", 1, "4.0", country="France"),  # one day after the horizon
            line("7", "OR3", "2011-09-20", "p9", 1, "4.0"),  # first purchase after: not in population
            line("8", None, "2011-05-05", "p9", 1, "4.0"),  # guest
        ],
        BRONZE,
    )


def test_features_and_label_as_of_the_calibration_date(spark):
    lines = orm.customer_lines(_bronze(spark))
    rows = orm.with_purchase_label(
        orm.with_order_features(lines, as_of=T, horizon_days=91), lines, as_of=T, horizon_days=91
    )
    cols = [
        "person_id",
        "orders_ever",
        "days_since_last_order",
        "days_since_first_order",
        "mean_days_between_orders",
        "recency_over_interval",
        "orders_30d",
        "orders_365d",
        "orders_trend_90d",
        "revenue_ever",
        "revenue_90d",
        "avg_order_value",
        "items_per_order",
        "lines_per_order",
        "distinct_products",
        "return_line_share",
        "return_amount_share",
        "sd_days_between_orders",
        "max_days_between_orders",
        "last_days_between_orders",
        "recency_z",
        "recency_over_max_interval",
        "orders_same_window_last_year",
        "share_in_coming_weeks",
        "label",
        "future_spend",
    ]
    expected = spark.createDataFrame(
        [
            # OR1: orders of 20.0 (3 items, 2 lines) on Jan 10 and 6.0 on Aug 30; one line of 10.0 returned;
            # one gap of 232 days (no spread yet); neither day in ISO weeks 37..49; 5.0 spent on Oct 1.
            (
                "OR1",
                2.0,
                10.0,
                242.0,
                232.0,
                10 / 232,
                1.0,
                2.0,
                1.0,
                26.0,
                6.0,
                13.0,
                3.0,
                1.5,
                3.0,
                0.25,
                10 / 26,
                None,
                232.0,
                232.0,
                None,
                10 / 232,
                0.0,
                0.0,
                1.0,
                5.0,
            ),
            (
                "OR2",
                1.0,
                0.0,
                0.0,
                None,
                None,
                1.0,
                1.0,
                1.0,
                4.0,
                4.0,
                4.0,
                1.0,
                1.0,
                1.0,
                0.0,
                0.0,
                None,
                None,
                None,
                None,
                None,
                0.0,
                0.0,
                0.0,
                0.0,
            ),
        ],
        ", ".join(f"{c} {'string' if c == 'person_id' else 'double'}" for c in cols),
    )
    assertDataFrameEqual(rows.select(*cols), expected)
    assert set(orm.BASE_FEATURES + orm.INTERVAL_FEATURES + orm.SEASONAL_FEATURES) <= set(rows.columns)


def test_seasonality_counts_last_years_window_and_the_coming_weeks(spark):
    lines = orm.customer_lines(
        spark.createDataFrame(
            [
                ("1", "OR1", dt.datetime(2010, 10, 1, 9), "p1", 1, Decimal("2.0"), "completed", "product", "UK"),
                ("2", "OR1", dt.datetime(2010, 12, 20, 9), "p1", 1, Decimal("2.0"), "completed", "product", "UK"),
                ("3", "OR1", dt.datetime(2011, 3, 1, 9), "p1", 1, Decimal("2.0"), "completed", "product", "UK"),
                ("4", "OR1", dt.datetime(2011, 3, 22, 9), "p1", 1, Decimal("2.0"), "completed", "product", "UK"),
            ],
            BRONZE,
        )
    )
    rows = orm.with_order_features(lines, as_of=T, horizon_days=91)
    # Oct 1 2010 lies in (Sep 9 2010, Dec 9 2010]; Oct 1 (week 39) is in the coming ISO weeks 37..49.
    # Gaps 80, 71, 21 days: mean 57, sd 31.19; recency 171 days.
    sd = float(np.std([80, 71, 21], ddof=1))
    assertDataFrameEqual(
        rows.select(
            "person_id",
            "orders_same_window_last_year",
            "share_in_coming_weeks",
            "min_days_between_orders",
            "last_days_between_orders",
            "sd_days_between_orders",
            "recency_z",
        ),
        spark.createDataFrame(
            [("OR1", 1.0, 0.25, 21.0, 21.0, sd, (171 - 172 / 3) / sd)],
            "person_id string, orders_same_window_last_year double, share_in_coming_weeks double, "
            "min_days_between_orders double, last_days_between_orders double, "
            "sd_days_between_orders double, recency_z double",
        ),
    )


def test_blend_auc_at_every_logistic_weight(spark):
    scores = spark.createDataFrame(
        [(1.0, 0.9, 0.6), (1.0, 0.2, 0.8), (0.0, 0.8, 0.5), (0.0, 0.1, 0.4)],
        "label double, p_gbt double, p_logistic double",
    )
    # the GBT alone misranks the second buyer below the first non-buyer; from weight 0.75 the blend does not
    assert family.weight_aucs(scores) == {0.0: 0.75, 0.25: 0.75, 0.5: 0.75, 0.75: 1.0, 1.0: 1.0}


def _short_history(spark, first: dt.date, last: dt.date, *, customers: int = 300):
    """Bronze lines of `customers` buyers between `first` and `last`, each at their own rate."""
    rng = random.Random(8)
    rows, order = [], 0
    for c in range(customers):
        rate = rng.choice([0.005, 0.02, 0.05, 0.1])  # purchase days per day: rare to frequent buyers
        start = first + dt.timedelta(days=rng.randrange(30))
        for k in range((last - start).days + 1):
            if k == 0 or rng.random() < rate:
                order += 1
                ts = dt.datetime.combine(start + dt.timedelta(days=k), dt.time(10))
                rows.append((str(order), f"OR{c}", ts, "p1", 1, Decimal("5.0"), "completed", "product", "UK", last))
    return spark.createDataFrame(rows, BRONZE + ", date date")


def test_a_horizon_longer_than_the_history_registers_bgnbd_and_says_why_in_one_line(
    spark, tmp_path, monkeypatch, capsys
):
    import mlflow
    import mlflow.spark
    from mlflow.tracking import MlflowClient

    import portrait.spark
    from portrait import catalog, cli
    from portrait.config import load_config
    from portrait.io import Lakehouse
    from portrait.orders_model import customer_lines, labelled_rows

    first, d, horizon = dt.date(2011, 6, 1), dt.date(2011, 8, 1), 91  # 61 days of history before D
    conf = local_conf_file(tmp_path)
    cfg = load_config(conf)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    bronze = _short_history(spark, first, d + dt.timedelta(days=horizon))
    bronze.write.format("delta").partitionBy("date").save(lake.path(catalog.BRONZE_ORDERS_ONLINE_RETAIL))
    monkeypatch.setattr(portrait.spark, "get_session", lambda *a, **k: spark)

    argv = ["orders-model", "--conf", str(conf), "--source", "online_retail"]
    code = cli.main([*argv, "--calibration-date", d.isoformat(), "--horizon-days", str(horizon)])
    out = capsys.readouterr().out
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)

    assert code == 0
    [line] = out.splitlines()
    latest = d - dt.timedelta(days=horizon)  # 2011-05-02: every training label window ends by D
    said = re.fullmatch(
        rf"orders-model online_retail: no labelled training row: the latest as-of date whose 91-day label window "
        rf"ends by {d} is {latest}, not after the export's first day {first}; BG/NBD, fitted on the history up to "
        r"D, is the model \(held-out AUC (0\.\d{4}); registered as orders_purchase_online_retail v(\d+)\)",
        line,
    )
    assert said is not None, line
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)
    version = client.get_model_version("orders_purchase_online_retail", said[2])
    assert version.tags["family"] == "bg_nbd"
    run = client.get_run(version.run_id).data
    assert f"{run.metrics['test_auc']:.4f}" == said[1] and run.params["family"] == "bg_nbd"
    assert float(said[1]) > 0.6  # frequent buyers buy again: BG/NBD ranks them above the rare ones

    # The registered model reads raw order-feature rows and scores them as BG/NBD fitted at D does
    # (labelled_rows fits it again on the same history: the same parameters up to the optimiser's
    # rounding, so the two agree to a relative 1e-6, not exactly).
    rows, _ = labelled_rows(customer_lines(bronze), as_of_dates=[d], horizon_days=horizon)
    model = mlflow.spark.load_model(client.get_model_version_download_uri(version.name, version.version))
    scored = model.transform(rows.withColumnRenamed("expected_purchases", "btyd_expected"))
    assert scored.count() == rows.count() > 0
    gap = F.abs(F.col("expected_purchases") - F.col("btyd_expected"))
    assert scored.where(gap > F.lit(1e-6) * F.col("btyd_expected")).isEmpty()
    assert scored.where("calibrated_probability <= 0 or calibrated_probability >= 1").isEmpty()


@pytest.mark.slow  # the whole orders-model job on 200 customers: about 4.5 minutes here
def test_orders_model_registers_the_family_with_the_best_validation_auc(spark, tmp_path):
    """The whole orders-model job (features at several as-of dates, BTYD per date, tuning, the family
    choice, calibration, MLflow run and registry): that the family registered and tagged is the one the
    run chose on validation needs every step of one real run; the family choice alone is unit-tested
    in test_models."""
    import mlflow
    from helpers import make_config
    from mlflow.tracking import MlflowClient

    from portrait import catalog, orders_model
    from portrait.io import Lakehouse
    from portrait.models import family

    first, d, horizon = dt.date(2011, 1, 3), dt.date(2011, 8, 1), 28
    small = {"max_evals": 1, "training_dates": 3, "training_step_days": 14, "max_depth": [2, 3], "max_iter": [5, 10]}
    cfg = make_config(tmp_path, **{f"train.{k}": v for k, v in small.items()})
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    bronze = _short_history(spark, first, d + dt.timedelta(days=horizon), customers=200)
    bronze.write.format("delta").partitionBy("date").save(lake.path(catalog.BRONZE_ORDERS_ONLINE_RETAIL))
    try:
        result = orders_model.run(
            lake,
            orders_model.RunConf.of(cfg),
            d,
            source="online_retail",
            horizon_days=horizon,
            select=False,
        )
        client = MlflowClient()
        version = client.get_model_version("orders_purchase_online_retail", result["model_version"])
        params = client.get_run(version.run_id).data.params
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    chosen = result["family"]
    valid = chosen["valid_auc"]
    assert set(valid) == set(family.FAMILIES) and set(chosen["test_auc_uncalibrated"]) == set(family.FAMILIES)
    name = chosen["chosen"].split(" ")[0]
    assert valid[name] == max(valid.values()) and result["best_valid_auc"] == valid[name]
    assert chosen["valid_auc"]["blend"] == max(v for w, v in chosen["valid_auc_by_weight"].items() if 0 < w < 1)
    assert version.tags["family"] == params["family"] == chosen["chosen"]
    print(
        f"\norders-model families: validation {valid}, held-out {chosen['test_auc_uncalibrated']}, "
        f"registered {chosen['chosen']} with held-out AUC {result['auc']:.4f}"
    )
