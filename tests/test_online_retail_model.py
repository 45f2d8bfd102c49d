"""The Online Retail propensity: customers, order-derived features as of a date, and the 13-week label."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pyspark.testing import assertDataFrameEqual

from portrait.models import online_retail as orm

T = dt.date(2011, 9, 9)
BRONZE = ("order_id string, account_id string, order_ts timestamp, product_id string, quantity int, "
          "unit_price decimal(12,3), status string, line_class string, country string")


def _bronze(spark):
    def line(order, account, day, product, qty, price, status="completed", cls="product", country="United Kingdom"):
        return (order, account, dt.datetime.fromisoformat(day + " 10:00:00"), product, qty, Decimal(price), status,
                cls, country)
    return spark.createDataFrame([
        line("1", "OR1", "2011-01-10", "p1", 2, "5.0"),
        line("1", "OR1", "2011-01-10", "p2", 1, "10.0"),
        line("2", "OR1", "2011-08-30", "p3", 3, "2.0"),
        line("2", "OR1", "2011-08-30", "POST", 1, "18.0", cls="postage"),      # not a product: ignored
        line("C3", "OR1", "2011-09-01", "p2", -1, "10.0", status="returned"),  # a return before the as-of date
        line("4", "OR1", "2011-10-01", "p1", 1, "5.0"),                        # bought in the horizon
        line("5", "OR2", "2011-09-09", "p9", 1, "4.0", country="France"),      # the as-of day counts
        line("6", "OR2", "2011-12-10", "p9", 1, "4.0", country="France"),      # one day after the horizon
        line("7", "OR3", "2011-09-20", "p9", 1, "4.0"),                        # first purchase after: not in population
        line("8", None, "2011-05-05", "p9", 1, "4.0"),                         # guest
    ], BRONZE)


def test_features_and_label_as_of_the_calibration_date(spark):
    lines = orm.customer_lines(_bronze(spark))
    rows = orm.with_purchase_label(orm.with_order_features(lines, as_of=T), lines, as_of=T, horizon_days=91)
    cols = ["person_id", "orders_ever", "days_since_last_order", "days_since_first_order", "mean_days_between_orders",
            "recency_over_interval", "orders_30d", "orders_365d", "orders_trend_90d", "revenue_ever", "revenue_90d",
            "avg_order_value", "items_per_order", "lines_per_order", "distinct_products", "return_line_share",
            "return_amount_share", "is_uk", "label"]
    expected = spark.createDataFrame([
        # OR1: orders of 20.0 (3 items, 2 lines) on Jan 10 and 6.0 on Aug 30; one line of 10.0 returned.
        ("OR1", 2.0, 10.0, 242.0, 232.0, 10 / 232, 1.0, 2.0, 1.0, 26.0, 6.0, 13.0, 3.0, 1.5, 3.0, 0.25, 10 / 26,
         1.0, 1.0),
        ("OR2", 1.0, 0.0, 0.0, None, None, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    ], ", ".join(f"{c} {'string' if c == 'person_id' else 'double'}" for c in cols))
    assertDataFrameEqual(rows.select(*cols), expected)
    assert set(orm.FEATURES) <= set(rows.columns)


def test_training_rows_add_earlier_dates_whose_label_ends_by_the_as_of_date(spark):
    lines = orm.customer_lines(_bronze(spark))
    rows = orm.training_rows(lines, as_of=T, horizon_days=91, earlier=1)
    assertDataFrameEqual(
        rows.select("person_id", "as_of_date", "label"),
        spark.createDataFrame([("OR1", dt.date(2011, 6, 10), 1.0), ("OR1", T, 1.0), ("OR2", T, 0.0)],
                              "person_id string, as_of_date date, label double"))
