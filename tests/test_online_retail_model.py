"""The orders-only model on an Online Retail shaped table: customers, order features as of a date
(RFM, inter-purchase times, seasonality), the 13-week label and the spend in it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
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
