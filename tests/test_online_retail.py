"""The Online Retail export as an orders source through its conf mapping: classes, returns, guests,
quarantine reasons and reconciled counts, on tiny inline lines and (slow) on the real file."""

from __future__ import annotations

import datetime as dt
import gzip
import time
from pathlib import Path

import pytest
from helpers import ROOT, make_config
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, ingest
from portrait.config import ConfigError, load_config
from portrait.io import Lakehouse

D = dt.date(2011, 12, 9)
TABLE = catalog.BRONZE_ORDERS_ONLINE_RETAIL
REAL_FILE = Path("/work/shared/data/online_retail/online_retail.csv.gz")
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
NORMAL = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom"
LINES = [
    HEADER,
    NORMAL,
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    '536544,21773,"DECORATIVE ROSE BATHROOM, BOTTLE",1,2010-12-01 14:32:00,2.51,,United Kingdom',  # guest
    "536400,85123A,WHITE HANGING HEART T-LIGHT HOLDER,12,2010-12-02 09:00:00,2.55,17850.0,United Kingdom",
    # A return of 6: both 536365 (6) and 536400 (12) qualify; the latest is the original.
    "C536500,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-6,2010-12-03 10:00:00,2.55,17850.0,United Kingdom",
    # A return of 10 lanterns when only 6 were bought: no original.
    "C536501,71053,WHITE METAL LANTERN,-10,2010-12-03 10:05:00,3.39,17850.0,United Kingdom",
    "536370,POST,POSTAGE,3,2010-12-01 08:45:00,18.0,12583.0,France",
    "537000,BANK CHARGES,Bank Charges,1,2010-12-04 10:00:00,15.0,,United Kingdom",
    "C536379,M,Manual,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom",
    "C536380,D,Discount,-1,2010-12-01 09:45:00,27.5,14527.0,United Kingdom",
    "536602,22224,damaged,-5,2010-12-05 11:00:00,0.0,,United Kingdom",  # stock write-off
    NORMAL,  # exact duplicate
    "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom",  # negative price
    "536600,22222,SOMETHING,1,2010-31-12 10:00,1.00,17850.0,United Kingdom",  # bad date
    "536601,22223,NOTHING,0,2010-12-05 10:00:00,1.00,17850.0,United Kingdom",  # zero quantity
    "536603,22225,ODD ID,1,2010-12-05 12:00:00,1.00,ABC,United Kingdom",  # bad customer id
]


def _ingest(spark, cfg, date, **kw):
    """The ingest stage as the CLI calls it: the lakehouse and the `ingest` section."""
    return ingest.run(Lakehouse(spark, cfg.paths.lakehouse), ingest.RunConf.of(cfg), date, **kw)


def _write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return path


@pytest.fixture()
def retail_cfg(tmp_path, monkeypatch):
    export = _write_gz(tmp_path / "online_retail.csv.gz", LINES)
    monkeypatch.setenv("PORTRAIT_ONLINE_RETAIL_PATH", str(export))
    return make_config(tmp_path)


def test_lines_are_classified_linked_kept_or_quarantined(spark, retail_cfg):
    counts = _ingest(spark, retail_cfg, D, sources=["online_retail"])["online_retail"]

    assert counts == {
        "rows_read": 16,
        "rows_kept": 11,
        "rows_quarantined": 4,
        "duplicates_dropped": 1,
        "header_lines": 1,
        "rows_written": 11,
        "class_discount": 1,
        "class_fee": 1,
        "class_manual": 1,
        "class_postage": 1,
        "class_product": 6,
        "class_stock_adjustment": 1,
        "guest_lines": 3,
        "returns": 4,
        "returns_linked": 1,
        "returns_unlinked": 3,
        "quarantined_bad_account_id": 1,
        "quarantined_bad_type_order_ts": 1,
        "quarantined_invalid_quantity": 1,
        "quarantined_negative_price": 1,
    }
    assert counts["rows_read"] == counts["rows_kept"] + counts["rows_quarantined"] + counts["duplicates_dropped"]
    lake = Lakehouse(spark, retail_cfg.paths.lakehouse)
    orders = lake.read(TABLE)
    cols = (
        "order_id string, line_no int, account_id string, product_id string, quantity int, status string, "
        "line_class string, original_order_id string"
    )
    assertDataFrameEqual(
        orders.select(
            "order_id", "line_no", "account_id", "product_id", "quantity", "status", "line_class", "original_order_id"
        ),
        spark.createDataFrame(
            [
                ("536365", 1, "OR17850", "71053", 6, "completed", "product", None),
                ("536365", 2, "OR17850", "85123A", 6, "completed", "product", None),
                ("536544", 1, None, "21773", 1, "completed", "product", None),
                ("536400", 1, "OR17850", "85123A", 12, "completed", "product", None),
                ("C536500", 1, "OR17850", "85123A", -6, "returned", "product", "536400"),
                ("C536501", 1, "OR17850", "71053", -10, "returned", "product", None),
                ("536370", 1, "OR12583", "POST", 3, "completed", "postage", None),
                ("537000", 1, None, "BANK CHARGES", 1, "completed", "fee", None),
                ("C536379", 1, "OR14527", "M", -1, "returned", "manual", None),
                ("C536380", 1, "OR14527", "D", -1, "returned", "discount", None),
                ("536602", 1, None, "22224", -5, "completed", "stock_adjustment", None),
            ],
            cols,
        ),
    )
    # Typed values, the quoted comma and the export's constants survive the mapping.
    guest = orders.where(F.col("order_id") == "536544").first()
    assert guest["description"] == "DECORATIVE ROSE BATHROOM, BOTTLE" and str(guest["unit_price"]) == "2.510"
    assert guest["order_ts"] == dt.datetime(2010, 12, 1, 14, 32) and guest["date"] == D
    assert (guest["currency"], guest["channel"], guest["country"]) == ("GBP", "web", "United Kingdom")
    assert orders.columns[:15] == [
        "order_id",
        "line_no",
        "account_id",
        "phone_hash",
        "email_hash",
        "order_ts",
        "product_id",
        "category",
        "quantity",
        "unit_price",
        "discount_amount",
        "coupon_code",
        "channel",
        "status",
        "ship_city",
    ]

    quarantine = lake.read(catalog.BRONZE_QUARANTINE).where(F.col("source") == "online_retail")
    assertDataFrameEqual(
        quarantine.select("reason", F.get_json_object("raw_record", "$.order_id").alias("order_id"), "line_number"),
        spark.createDataFrame(
            [
                ("negative_price", "A563186", 14),
                ("bad_type_order_ts", "536600", 15),
                ("invalid_quantity", "536601", 16),
                ("bad_account_id", "536603", 17),
            ],
            "reason string, order_id string, line_number long",
        ),
    )
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT).where(F.col("source") == "online_retail")
    assertDataFrameEqual(
        audit.select("rows_read", "rows_kept", "rows_quarantined", "duplicates_dropped", "date"),
        spark.createDataFrame(
            [(16, 11, 4, 1, D)],
            "rows_read long, rows_kept long, rows_quarantined long, duplicates_dropped long, date date",
        ),
    )


def test_rerun_replaces_and_generated_orders_are_untouched(spark, retail_cfg):
    _ingest(spark, retail_cfg, D, sources=["online_retail"])
    first = Lakehouse(spark, retail_cfg.paths.lakehouse).read(TABLE).select("order_id", "line_no", "product_id")
    first_rows = first.collect()
    _ingest(spark, retail_cfg, D, sources=["online_retail"])
    lake = Lakehouse(spark, retail_cfg.paths.lakehouse)
    # Same lines, same line numbers: line_no depends on the content only.
    assertDataFrameEqual(lake.read(TABLE).select("order_id", "line_no", "product_id"), first_rows)
    assert lake.read(catalog.BRONZE_QUARANTINE).count() == 4
    assert not lake.exists(catalog.BRONZE_ORDERS)


def test_a_file_whose_header_does_not_match_the_mapping_fails(spark, tmp_path, monkeypatch):
    export = _write_gz(tmp_path / "other.csv.gz", ["Invoice,StockCode,Description", NORMAL])
    monkeypatch.setenv("PORTRAIT_ONLINE_RETAIL_PATH", str(export))
    cfg = make_config(tmp_path)
    with pytest.raises(ValueError, match="no line equals the header"):
        _ingest(spark, cfg, D, sources=["online_retail"])


def test_a_missing_export_file_is_named(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAIT_ONLINE_RETAIL_PATH", str(tmp_path / "nowhere.csv.gz"))
    with pytest.raises(FileNotFoundError, match="nowhere.csv.gz"):
        _ingest(spark, make_config(tmp_path), D, sources=["online_retail"])


MINIMAL = """extends: base.yaml
paths: {lakehouse: ./l, landing: ./r, truth: ./t}
mlflow: {tracking_uri: "sqlite:///m.db", experiment: e}
"""


def _conf(tmp_path, text: str) -> Path:
    (tmp_path / "base.yaml").write_text((ROOT / "conf" / "base.yaml").read_text())
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL + text)
    return path


def test_mapping_is_typed_and_its_path_resolved(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTRAIT_ONLINE_RETAIL_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    m = load_config(_conf(tmp_path, "")).ingest.mappings["online_retail"]
    assert m.path == str((tmp_path / "../shared/data/online_retail/online_retail.csv.gz").resolve())
    assert m.columns.account_id == "CustomerID" and m.rules.line_classes["postage"] == ["POST", "DOT", "C2"]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "ingest: {mappings: {online_retail: {separator: ';'}}}",
            r"mine\.yaml: ingest\.mappings\.online_retail\.separator: unknown key \(allowed: account_id_pattern, ",
        ),
        (
            "ingest: {mappings: {online_retail: {columns: {sku: StockCode}}}}",
            r"mine\.yaml: ingest\.mappings\.online_retail\.columns\.sku: unknown key \(allowed: account_id, country, ",
        ),
        (
            "ingest: {mappings: {online_retail: {columns: {order_id: Invoice}}}}",
            r"mine\.yaml: ingest\.mappings\.online_retail: columns\.order_id is 'Invoice', which is not in header",
        ),
        (
            "ingest: {mappings: {online_retail: {target: clicks}}}",
            r"mine\.yaml: ingest\.mappings\.online_retail\.target: must be one of 'orders', got 'clicks'",
        ),
        (
            "ingest: {mappings: {online_retail: {account_id_pattern: '[0-9]+'}}}",
            r"ingest\.mappings\.online_retail\.account_id_pattern: '\[0-9\]\+' needs a group",
        ),
        (
            "ingest: {mappings: {online_retail: {rules: {line_classes: {product: [X]}}}}}",
            r"ingest\.mappings\.online_retail\.rules\.line_classes: may not define \['product'\]",
        ),
        (
            "ingest: {mappings: {online_retail: {columns: {line_total: UnitPrice}}}}",
            r"ingest\.mappings\.online_retail\.columns: .*exactly one of unit_price and line_total",
        ),
        (
            "ingest: {mappings: {online_retail: {currency: null}}}",
            r"ingest\.mappings\.online_retail: .*exactly one of currency",
        ),
        ("ingest: {mappings: {online_retail: {table: bronze.x}}}", r"ingest\.mappings\.online_retail\.table: "),
        (
            "ingest: {mappings: {online_retail: {latest_date: 2001-01-01, earliest_date: 2002-01-01}}}",
            r"ingest\.mappings\.online_retail: .*earliest_date 2002-01-01 is after latest_date",
        ),
        (
            "ingest: {mappings: {shop: {target: orders, path: x, header: [a, b], columns: {quantity: a, order_ts: b, line_total: a}, timestamp_formats: [x], currency: EUR, rules: {return_prefix: C}}}}",
            r"ingest\.mappings\.shop: .*return_prefix matches order ids, but columns\.order_id is not mapped",
        ),
    ],
)
def test_bad_mapping_fails_at_load_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_conf(tmp_path, text + "\n"))


@pytest.mark.slow
@pytest.mark.skipif(not REAL_FILE.exists(), reason=f"{REAL_FILE} is not here")
def test_real_online_retail_file_reconciles(spark, tmp_path, monkeypatch):
    """The real 541,909-line export through the mapped ingest, counts reconciled with Spark's own CSV
    reader: real data's quirks (guest lines, repeats, returns) are what a synthetic file cannot hold."""
    monkeypatch.setenv("PORTRAIT_ONLINE_RETAIL_PATH", str(REAL_FILE))
    cfg = make_config(tmp_path)
    started = time.perf_counter()
    counts = _ingest(spark, cfg, D, sources=["online_retail"])["online_retail"]
    print(f"\nonline_retail ingested in {time.perf_counter() - started:.1f} s: {counts}")

    assert counts["rows_read"] == 541_909 and counts["header_lines"] == 1
    assert counts["rows_read"] == counts["rows_kept"] + counts["rows_quarantined"] + counts["duplicates_dropped"]
    assert sum(v for k, v in counts.items() if k.startswith("class_")) == counts["rows_kept"]
    assert sum(v for k, v in counts.items() if k.startswith("quarantined_")) == counts["rows_quarantined"]

    # Cross-check with Spark's own CSV reader, independent of the ingest's parsing: one pass that
    # counts lines, guest lines and the repeats of identical lines.
    raw = spark.read.option("header", True).csv(str(REAL_FILE))
    per_line = raw.groupBy(*raw.columns).agg(F.count(F.lit(1)).alias("n"))
    guest = F.col("CustomerID").isNull()
    truth = per_line.agg(
        F.sum("n").alias("lines"),
        F.sum(F.when(guest, F.col("n"))).alias("guest_lines"),
        F.sum(F.col("n") - 1).alias("repeats"),
        F.sum(F.when(guest, F.col("n") - 1)).alias("guest_repeats"),
    ).first()
    assert (truth["lines"], truth["guest_lines"]) == (541_909, 135_080)
    assert counts["duplicates_dropped"] == truth["repeats"]

    lake = Lakehouse(spark, cfg.paths.lakehouse)
    quarantined_guests = (
        lake.read(catalog.BRONZE_QUARANTINE).where(F.get_json_object("raw_record", "$.account_id").isNull()).count()
    )
    written = (
        lake.read(TABLE)
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.count_distinct("order_id", "line_no").alias("keys"),
            F.sum(F.col("account_id").isNull().cast("int")).alias("guests"),
            F.sum((F.col("line_class") == "product").cast("int")).alias("products"),
            F.sum(F.col("original_order_id").isNotNull().cast("int")).alias("linked"),
        )
        .first()
    )
    assert written["lines"] == written["keys"] == counts["rows_kept"]  # (order_id, line_no) is a key
    assert written["guests"] == counts["guest_lines"] == 135_080 - truth["guest_repeats"] - quarantined_guests
    assert written["products"] == counts["class_product"] and written["linked"] == counts["returns_linked"]
