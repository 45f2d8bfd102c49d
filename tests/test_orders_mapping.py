"""A second orders export, shaped unlike Online Retail, loaded with a conf file and no code change:
no order id, no product, line totals instead of unit prices, dates before 2000 in two formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from helpers import ROOT
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, ingest
from portrait.config import load_config
from portrait.io import Lakehouse

D = dt.date(2005, 1, 1)
EXPORT = [
    "cust;day;qty;amount",
    "K1;03/02/1998;2;10.00",  # one order of two lines: same customer, same second
    "K1;03/02/1998;1;4.50",
    "K1;1998-03-15;-1;-4.50",  # a negative quantity is a return here (no return invoices)
    "K2;10/10/1999;1;0",  # price 0 with a customer: a sale in this export's rules
    ";11/10/1999;3;9.00",  # a guest
    "K3;01/01/1990;1;5.00",  # before this export's earliest date
    "K3;01/01/2001;1;5.00",  # after its latest date
    "K4;05/05/1998;2;-3.00",  # a total of the other sign than its quantity: negative price
    "K5;05/05/1998;0;0",  # zero quantity
]
CONF = """extends: base.yaml
paths: {{lakehouse: {root}/lake, landing: {root}/landing, truth: {root}/truth}}
mlflow: {{tracking_uri: "sqlite:///{root}/m.db", experiment: e}}
privacy: {{allow_demo_key: true, demo_key: test-key}}
ingest:
  mappings:
    shop_b:
      target: orders
      table: orders_shop_b_tills
      path: {root}/shop_b.csv
      header: [cust, day, qty, amount]
      delimiter: ";"
      columns: {{account_id: cust, order_ts: day, quantity: qty, line_total: amount}}
      timestamp_formats: ["dd/MM/yyyy", "yyyy-MM-dd"]
      earliest_date: 1995-01-01
      latest_date: 1999-12-31
      account_id_prefix: B
      currency: EUR
      constants: {{country: Germany, channel: store}}
      rules: {{negative_quantity_is_return: true, zero_price_class: product}}
"""


def test_an_export_unlike_online_retail_loads_by_conf_alone(spark, tmp_path):
    (tmp_path / "base.yaml").write_text((ROOT / "conf" / "base.yaml").read_text())
    (tmp_path / "shop_b.csv").write_text("".join(line + "\n" for line in EXPORT))
    conf = tmp_path / "shop_b.yaml"
    conf.write_text(CONF.format(root=tmp_path))
    cfg = load_config(conf)
    lake = Lakehouse(spark, cfg.paths.lakehouse)

    counts = ingest.run(lake, ingest.RunConf.of(cfg), D, sources=["shop_b"])["shop_b"]

    assert counts == {
        "rows_read": 9,
        "rows_kept": 5,
        "rows_quarantined": 4,
        "duplicates_dropped": 0,
        "header_lines": 1,
        "rows_written": 5,
        "class_product": 5,
        "guest_lines": 1,
        "returns": 1,
        "returns_linked": 0,
        "returns_unlinked": 1,
        "quarantined_invalid_quantity": 1,
        "quarantined_negative_price": 1,
        "quarantined_timestamp_after_latest": 1,
        "quarantined_timestamp_before_earliest": 1,
    }
    table = catalog.mapped_orders("orders", "shop_b", table="orders_shop_b_tills")
    assert lake.path(table).endswith("bronze/orders_shop_b_tills")
    assertDataFrameEqual(
        lake.read(table).select(
            "order_id",
            "line_no",
            "account_id",
            "order_ts",
            "product_id",
            "quantity",
            "unit_price",
            "line_total",
            "status",
            "line_class",
            "country",
            "channel",
            "currency",
        ),
        spark.createDataFrame(
            [
                (
                    "BK1@19980203000000",
                    1,
                    "BK1",
                    dt.datetime(1998, 2, 3),
                    None,
                    1,
                    Decimal("4.500"),
                    Decimal("4.500"),
                    "completed",
                    "product",
                    "Germany",
                    "store",
                    "EUR",
                ),
                (
                    "BK1@19980203000000",
                    2,
                    "BK1",
                    dt.datetime(1998, 2, 3),
                    None,
                    2,
                    Decimal("5.000"),
                    Decimal("10.000"),
                    "completed",
                    "product",
                    "Germany",
                    "store",
                    "EUR",
                ),
                (
                    "BK1@19980315000000",
                    1,
                    "BK1",
                    dt.datetime(1998, 3, 15),
                    None,
                    -1,
                    Decimal("4.500"),
                    Decimal("-4.500"),
                    "returned",
                    "product",
                    "Germany",
                    "store",
                    "EUR",
                ),
                (
                    "BK2@19991010000000",
                    1,
                    "BK2",
                    dt.datetime(1999, 10, 10),
                    None,
                    1,
                    Decimal("0.000"),
                    Decimal("0.000"),
                    "completed",
                    "product",
                    "Germany",
                    "store",
                    "EUR",
                ),
                (
                    "guest@19991011000000",
                    1,
                    None,
                    dt.datetime(1999, 10, 11),
                    None,
                    3,
                    Decimal("3.000"),
                    Decimal("9.000"),
                    "completed",
                    "product",
                    "Germany",
                    "store",
                    "EUR",
                ),
            ],
            "order_id string, line_no int, account_id string, order_ts timestamp, product_id string, quantity int, "
            "unit_price decimal(12,3), line_total decimal(14,3), status string, line_class string, "
            "country string, channel string, currency string",
        ),
    )
    quarantine = lake.read(catalog.BRONZE_QUARANTINE).where(F.col("source") == "shop_b")
    assertDataFrameEqual(
        quarantine.select("reason", "line_number"),
        spark.createDataFrame(
            [
                ("timestamp_before_earliest", 7),
                ("timestamp_after_latest", 8),
                ("negative_price", 9),
                ("invalid_quantity", 10),
            ],
            "reason string, line_number long",
        ),
    )
