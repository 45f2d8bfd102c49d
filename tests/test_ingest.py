"""Ingest on tiny inline files: every line kept, quarantined with its reason, or a counted duplicate."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from helpers import make_config, write_landing
from portrait import ingest
from portrait.io import Lakehouse

D = dt.date(2026, 11, 1)
ORDERS_HEADER = ("order_id,line_no,account_id,phone,email,order_ts,product_id,category,quantity,unit_price,"
                 "discount_amount,coupon_code,channel,status,ship_city")


def _event(event_id, event_type="page_view", ts="2026-11-01T10:00:00.000Z", **extra):
    return json.dumps({"event_id": event_id, "anonymous_id": "c1", "user_id": None, "session_id": "s1",
                       "event_type": event_type, "ts": ts, "device_type": "mobile", "channel": "app",
                       "dwell_ms": 1200, **extra})


@pytest.fixture()
def lake_cfg(tmp_path):
    return make_config(tmp_path)


def test_clickstream_lines_are_kept_quarantined_or_deduplicated(spark, lake_cfg):
    lines = [
        _event("e1"),
        _event("e2", "add_to_cart", product_id="P1", category="toys", price=9.5),
        _event("e1"),                                        # exact repeat: duplicate dropped
        _event("e2", "checkout"),                            # same id, other content: quarantined
        '{"event_id": "e3", "anonymous_id": "c1", "ev',      # truncated line
        _event("e4", "teleport"),                            # unknown event type
        _event(None),                                        # missing event_id
        _event("e5", ts="2031-01-01T00:00:00Z"),             # in the future
        _event("e6", ts="1999-12-31T23:00:00Z"),             # before 2000
        _event("e7", ts="yesterday"),                        # not a timestamp
        _event("e8", "product_view", price=-3.0),            # negative price
    ]
    write_landing(lake_cfg, "clickstream", D, lines)
    counts = ingest.run(spark, lake_cfg, D, sources=["clickstream"])

    assert counts["clickstream"] == {"rows_read": 11, "rows_kept": 2, "rows_quarantined": 8,
                                     "duplicates_dropped": 1, "header_lines": 0}
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read("bronze.clickstream").select("event_id", "event_type", "price"),
        spark.createDataFrame([("e1", "page_view", None), ("e2", "add_to_cart", 9.5)],
                              "event_id string, event_type string, price double"),
    )
    reasons = lake.read("bronze.quarantine").groupBy("reason").count()
    assertDataFrameEqual(reasons, spark.createDataFrame([
        ("duplicate_id", 1), ("unparseable", 1), ("unknown_event_type", 1), ("missing_event_id", 1),
        ("timestamp_in_future", 1), ("timestamp_before_earliest", 1), ("bad_type_ts", 1), ("negative_price", 1),
    ], "reason string, count long"))
    audit = lake.read("bronze.ingest_audit").first()
    assert audit["rows_read"] == audit["rows_kept"] + audit["rows_quarantined"] + audit["duplicates_dropped"]


def test_orders_hash_pii_and_quarantine_bad_values(spark, lake_cfg):
    lines = [
        ORDERS_HEADER,
        "O1,1,A1,+86 138-1234-5678, Alice@Example.com ,2026-11-01 09:00:00,P1,toys,2,10.00,1.00,,app,completed,Shanghai",
        "O2,1,,13812345678,,2026-11-01 10:00:00,P2,books,1,5.50,,SAVE10,web,completed,Beijing",
        "O3,1,A2,,,2026-11-01 11:00:00,P3,toys,1,-4.00,,,app,completed,Beijing",          # negative price
        "O4,1,A2,,,2026-11-01 11:00:00,P3,toys,two,4.00,,,app,completed,Beijing",         # bad quantity
        ",1,A2,,,2026-11-01 11:00:00,P3,toys,1,4.00,,,app,completed,Beijing",             # missing order_id
        "O5,1,A2,,,2026-11-01 11:00:00,P3,toys,1,4.00,,,app",                              # too few fields
        "O6,1,A2,,,2026-11-01 11:00:00,P3,toys,-1,4.00,,,app,completed,Beijing",           # negative qty, not a return
    ]
    write_landing(lake_cfg, "orders", D, lines)
    counts = ingest.run(spark, lake_cfg, D, sources=["orders"])
    assert counts["orders"] == {"rows_read": 7, "rows_kept": 2, "rows_quarantined": 5,
                                "duplicates_dropped": 0, "header_lines": 1}

    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    bronze = lake.read("bronze.orders")
    assert "phone" not in bronze.columns and "email" not in bronze.columns
    hashes = bronze.orderBy("order_id").select("phone_hash", "email_hash").collect()
    # The same phone written two ways hashes to one value; the email is normalised too.
    assert hashes[0]["phone_hash"] == hashes[1]["phone_hash"] and len(hashes[0]["phone_hash"]) == 64
    assert hashes[0]["email_hash"] is not None and hashes[1]["email_hash"] is None
    reasons = sorted(r["reason"] for r in lake.read("bronze.quarantine").collect())
    assert reasons == ["bad_type_quantity", "invalid_quantity", "missing_order_id", "negative_price", "unparseable"]
    # Quarantined raw records keep their shape but never clear PII.
    dumped = " ".join(r["raw_record"] for r in lake.read("bronze.quarantine").collect())
    assert "1234" not in dumped.replace("<phone>", "")


def test_rerun_replaces_the_date_instead_of_appending(spark, lake_cfg):
    write_landing(lake_cfg, "clickstream", D, [_event("e1"), _event("e2")])
    ingest.run(spark, lake_cfg, D, sources=["clickstream"])
    ingest.run(spark, lake_cfg, D, sources=["clickstream"])
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assert lake.read("bronze.clickstream").count() == 2
    assert lake.read("bronze.ingest_audit").count() == 2  # the audit is a log: one row per run


def test_missing_source_folder_reads_nothing(spark, lake_cfg):
    counts = ingest.run(spark, lake_cfg, D, sources=["social"])
    assert counts["social"]["rows_read"] == 0
    assert Lakehouse(spark, lake_cfg.paths.lakehouse).read("bronze.social").count() == 0
