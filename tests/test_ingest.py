"""Ingest on tiny inline files: every line kept, quarantined with its reason, or a counted duplicate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from helpers import make_config, write_landing
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, ingest
from portrait.ingest.sources import SOURCES
from portrait.io import Lakehouse

D = dt.date(2026, 11, 1)
AUDIT = ("rows_read", "rows_kept", "rows_quarantined", "duplicates_dropped")
ORDERS_HEADER = (
    "order_id,line_no,account_id,phone,email,order_ts,product_id,category,quantity,unit_price,"
    "discount_amount,coupon_code,channel,status,ship_city"
)


def _ingest(spark, cfg, date, **kw):
    """The ingest stage as the CLI calls it: the lakehouse and the `ingest` section."""
    return ingest.run(Lakehouse(spark, cfg.paths.lakehouse), ingest.RunConf.of(cfg), date, **kw)


def _event(event_id, event_type="page_view", ts="2026-11-01T10:00:00.000Z", **extra):
    return json.dumps(
        {
            "event_id": event_id,
            "anonymous_id": "c1",
            "user_id": None,
            "session_id": "s1",
            "event_type": event_type,
            "ts": ts,
            "device_type": "mobile",
            "channel": "app",
            "dwell_ms": 1200,
            **extra,
        }
    )


@pytest.fixture()
def lake_cfg(tmp_path):
    return make_config(tmp_path)


def test_clickstream_lines_are_kept_quarantined_or_deduplicated(spark, lake_cfg):
    lines = [
        _event("e1"),
        _event("e2", "add_to_cart", product_id="P1", category="toys", price=9.5),
        _event("e1"),  # exact repeat: duplicate dropped
        _event("e2", "checkout"),  # same id, other content: quarantined
        '{"event_id": "e3", "anonymous_id": "c1", "ev',  # truncated line
        _event("e4", "teleport"),  # unknown event type
        _event(None),  # missing event_id
        _event("e5", ts="2031-01-01T00:00:00Z"),  # in the future
        _event("e6", ts="1999-12-31T23:00:00Z"),  # before 2000
        _event("e7", ts="yesterday"),  # not a timestamp
        _event("e8", "product_view", price=-3.0),  # negative price
    ]
    write_landing(lake_cfg, "clickstream", D, lines)
    counts = _ingest(spark, lake_cfg, D, sources=["clickstream"])

    assert counts["clickstream"] == {
        "rows_read": 11,
        "rows_kept": 2,
        "rows_written": 2,
        "rows_quarantined": 8,
        "duplicates_dropped": 1,
        "header_lines": 0,
        "files": 1,
        "files_empty": 0,
        "files_truncated": 0,
        "late_dates": 0,
        "files_rejected": 0,
    }
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "event_type", "price"),
        spark.createDataFrame(
            [("e1", "page_view", None), ("e2", "add_to_cart", 9.5)], "event_id string, event_type string, price double"
        ),
    )
    reasons = lake.read(catalog.BRONZE_QUARANTINE).groupBy("reason").count()
    assertDataFrameEqual(
        reasons,
        spark.createDataFrame(
            [
                ("duplicate_id", 1),
                ("unparseable", 1),
                ("unknown_event_type", 1),
                ("missing_event_id", 1),
                ("timestamp_in_future", 1),
                ("timestamp_before_earliest", 1),
                ("bad_type_ts", 1),
                ("negative_price", 1),
            ],
            "reason string, count long",
        ),
    )
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT).first()
    assert audit["rows_read"] == audit["rows_kept"] + audit["rows_quarantined"] + audit["duplicates_dropped"]


def test_orders_hash_pii_and_quarantine_bad_values(spark, lake_cfg):
    lines = [
        ORDERS_HEADER,
        "O1,1,A1,+86 138-1234-5678, Alice@Example.com ,2026-11-01 09:00:00,P1,toys,2,10.00,1.00,,app,completed,Shanghai",
        "O2,1,,13812345678,,2026-11-01 10:00:00,P2,books,1,5.50,,SAVE10,web,completed,Beijing",
        "O3,1,A2,,,2026-11-01 11:00:00,P3,toys,1,-4.00,,,app,completed,Beijing",  # negative price
        "O4,1,A2,,,2026-11-01 11:00:00,P3,toys,two,4.00,,,app,completed,Beijing",  # bad quantity
        ",1,A2,,,2026-11-01 11:00:00,P3,toys,1,4.00,,,app,completed,Beijing",  # missing order_id
        "O5,1,A2,,,2026-11-01 11:00:00,P3,toys,1,4.00,,,app",  # too few fields
        "O6,1,A2,,,2026-11-01 11:00:00,P3,toys,-1,4.00,,,app,completed,Beijing",  # negative qty, not a return
    ]
    write_landing(lake_cfg, "orders", D, lines)
    counts = _ingest(spark, lake_cfg, D, sources=["orders"])
    assert counts["orders"] == {
        "rows_read": 7,
        "rows_kept": 2,
        "rows_written": 2,
        "rows_quarantined": 5,
        "duplicates_dropped": 0,
        "header_lines": 1,
        "files": 1,
        "files_empty": 0,
        "files_truncated": 0,
        "late_dates": 0,
        "files_rejected": 0,
    }

    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    bronze = lake.read(catalog.BRONZE_ORDERS)
    assert "phone" not in bronze.columns and "email" not in bronze.columns
    hashes = bronze.orderBy("order_id").select("phone_hash", "email_hash").collect()
    # The same phone written two ways hashes to one value; the email is normalised too.
    assert hashes[0]["phone_hash"] == hashes[1]["phone_hash"] and len(hashes[0]["phone_hash"]) == 64
    assert hashes[0]["email_hash"] is not None and hashes[1]["email_hash"] is None
    reasons = sorted(r["reason"] for r in lake.read(catalog.BRONZE_QUARANTINE).collect())
    assert reasons == ["bad_type_quantity", "invalid_quantity", "missing_order_id", "negative_price", "unparseable"]
    # Quarantined raw records keep their shape but never clear PII.
    dumped = " ".join(r["raw_record"] for r in lake.read(catalog.BRONZE_QUARANTINE).collect())
    assert "1234" not in dumped.replace("<phone>", "")


def test_rerun_replaces_the_date_instead_of_appending(spark, lake_cfg):
    write_landing(lake_cfg, "clickstream", D, [_event("e1"), _event("e2")])
    _ingest(spark, lake_cfg, D, sources=["clickstream"])
    _ingest(spark, lake_cfg, D, sources=["clickstream"])
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assert lake.read(catalog.BRONZE_CLICKSTREAM).count() == 2
    assert lake.read(catalog.BRONZE_INGEST_AUDIT).count() == 2  # the audit is a log: one row per run


def test_missing_source_folder_reads_nothing(spark, lake_cfg):
    counts = _ingest(spark, lake_cfg, D, sources=["social"])
    assert counts["social"]["rows_read"] == 0
    assert Lakehouse(spark, lake_cfg.paths.lakehouse).read(catalog.BRONZE_SOCIAL).count() == 0


def _write_bytes(cfg, source: str, date: dt.date, name: str, data: bytes) -> str:
    folder = Path(cfg.paths.landing) / source / f"date={date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return f"file:{folder / name}"  # as Spark and the Hadoop file system spell it


def _assert_files_add_up_to_audit(lake):
    """Per run and source, the file report sums to the audit row, and the audit reconciles."""
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT)
    summed = (
        lake.read(catalog.BRONZE_INGEST_FILES)
        .groupBy("run_id", "source")
        .agg(
            F.sum(F.col("lines_read") - F.col("header_lines")).alias("rows_read"),
            *[F.sum(c).alias(c) for c in ("rows_kept", "rows_quarantined", "duplicates_dropped", "header_lines")],
        )
    )
    cols = ["run_id", "source", "rows_read", "rows_kept", "rows_quarantined", "duplicates_dropped", "header_lines"]
    assertDataFrameEqual(
        summed.select(*cols),
        audit.where(F.col("source").isin([r["source"] for r in summed.select("source").distinct().collect()])).select(
            *cols
        ),
    )
    assert (
        audit.where(
            F.col("rows_read") != F.col("rows_kept") + F.col("rows_quarantined") + F.col("duplicates_dropped")
        ).count()
        == 0
    )


def test_quarantined_lines_carry_their_line_number_across_files_and_splits(spark, lake_cfg):
    gbk = _event("e4", session_id="@@").encode("utf-8").replace(b"@@", "你好".encode("gbk"))
    a = [
        _event("e1").encode(),
        _event("e2", "teleport").encode(),
        _event("e3", coupon="X1", contact="bob@example.com").encode(),
        gbk,
    ]
    a += [_event(f"e{i}").encode() for i in range(5, 14)] + [_event("e14", price=-1.0).encode()]
    b = [_event("f1").encode(), b"", _event("f3", ts="yesterday").encode(), b'{"event_id": "f4", "anonymous_id": "c']
    path_a = _write_bytes(lake_cfg, "clickstream", D, "a.json", b"\n".join(a) + b"\n")
    path_b = _write_bytes(lake_cfg, "clickstream", D, "b.json", b"\n".join(b))  # last line cut off: no newline
    path_c = _write_bytes(lake_cfg, "clickstream", D, "c.json", b"")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")  # ~2 lines per split: many splits per file
    try:
        counts = _ingest(spark, lake_cfg, D, sources=["clickstream"])["clickstream"]
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)

    assert counts == {
        "rows_read": 18,
        "rows_kept": 12,
        "rows_written": 12,
        "rows_quarantined": 6,
        "duplicates_dropped": 0,
        "header_lines": 0,
        "files": 3,
        "files_empty": 1,
        "files_truncated": 1,
        "late_dates": 0,
        "files_rejected": 0,
    }
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_QUARANTINE).select("source_file", "line_number", "reason"),
        spark.createDataFrame(
            [
                (path_a, 2, "unknown_event_type"),
                (path_a, 4, "bad_encoding"),
                (path_a, 14, "negative_price"),
                (path_b, 2, "empty_line"),
                (path_b, 3, "bad_type_ts"),
                (path_b, 4, "truncated_record"),
            ],
            "source_file string, line_number long, reason string",
        ),
    )
    # Unknown keys are kept, not fatal; what looks like PII in them is masked.
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).where(F.col("extra").isNotNull()).select("event_id", "extra"),
        spark.createDataFrame(
            [("e3", {"coupon": "X1", "contact": "<email>"})], "event_id string, extra map<string,string>"
        ),
    )
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_INGEST_FILES).select(
            "file",
            "lines_read",
            "rows_kept",
            "rows_quarantined",
            "duplicates_dropped",
            "status",
            "extra_columns",
            "late",
        ),
        spark.createDataFrame(
            [
                (path_a, 14, 11, 3, 0, "ok", ["contact", "coupon"], False),
                (path_b, 4, 1, 3, 0, "truncated", [], False),
                (path_c, 0, 0, 0, 0, "empty", [], False),
            ],
            "file string, lines_read long, rows_kept long, rows_quarantined long, duplicates_dropped long, "
            "status string, extra_columns array<string>, late boolean",
        ),
    )
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT).first()
    assert (audit["files_empty"], audit["files_truncated"], audit["extra_columns"]) == (1, 1, ["contact", "coupon"])
    _assert_files_add_up_to_audit(lake)


def test_csv_files_are_read_by_their_own_header(spark, lake_cfg):
    cols = ORDERS_HEADER.split(",")
    o1 = dict(
        zip(cols, "O1,1,A1,,,2026-11-01 09:00:00,P1,toys,2,10.00,,,app,completed,Shanghai".split(","), strict=False)
    )
    o2 = dict(o1, order_id="O2", quantity="3")
    reordered = list(reversed(cols)) + ["gift_wrap"]
    write_landing(
        lake_cfg,
        "orders",
        D,
        [",".join(reordered)]
        + [",".join({**o, "gift_wrap": g}[c] for c in reordered) for o, g in ((o1, "yes"), (o2, ""))],
        name="reordered.csv",
    )
    no_status = [c for c in cols if c != "status"]
    write_landing(
        lake_cfg,
        "orders",
        D,
        [",".join(no_status)]
        + [",".join(o[c] for c in no_status) for o in (dict(o1, order_id="O3"), dict(o1, order_id="O4"))],
        name="no_status.csv",
    )
    write_landing(lake_cfg, "orders", D, [ORDERS_HEADER], name="header_only.csv")
    counts = _ingest(spark, lake_cfg, D, sources=["orders"])["orders"]

    assert counts == {
        "rows_read": 4,
        "rows_kept": 2,
        "rows_written": 2,
        "rows_quarantined": 2,
        "duplicates_dropped": 0,
        "header_lines": 3,
        "files": 3,
        "files_empty": 1,
        "files_truncated": 0,
        "late_dates": 0,
        "files_rejected": 0,
    }
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_ORDERS).select("order_id", "quantity", "unit_price", "status", "ship_city", "extra"),
        spark.createDataFrame(
            [
                ("O1", 2, 10.0, "completed", "Shanghai", {"gift_wrap": "yes"}),
                ("O2", 3, 10.0, "completed", "Shanghai", {"gift_wrap": None}),
            ],
            "order_id string, quantity int, unit_price double, status string, ship_city string, "
            "extra map<string,string>",
        ).withColumn("unit_price", F.col("unit_price").cast("decimal(12,2)")),
    )
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_QUARANTINE).select(
            F.regexp_extract("source_file", "[^/]+$", 0).alias("file"), "line_number", "reason"
        ),
        spark.createDataFrame(
            [("no_status.csv", 2, "missing_column_status"), ("no_status.csv", 3, "missing_column_status")],
            "file string, line_number long, reason string",
        ),
    )
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_INGEST_FILES).select(
            F.regexp_extract("file", "[^/]+$", 0).alias("file"),
            "lines_read",
            "header_lines",
            "rows_kept",
            "rows_quarantined",
            "status",
            "extra_columns",
        ),
        spark.createDataFrame(
            [
                ("reordered.csv", 3, 1, 2, 0, "ok", ["gift_wrap"]),
                ("no_status.csv", 3, 1, 0, 2, "ok", []),
                ("header_only.csv", 1, 1, 0, 0, "empty", []),
            ],
            "file string, lines_read long, header_lines long, rows_kept long, rows_quarantined long, "
            "status string, extra_columns array<string>",
        ),
    )
    assert lake.read(catalog.BRONZE_INGEST_AUDIT).first()["extra_columns"] == ["gift_wrap"]
    _assert_files_add_up_to_audit(lake)


def test_ids_kept_on_an_earlier_date_are_duplicates_or_quarantined(spark, lake_cfg):
    d2 = D + dt.timedelta(days=1)
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,"
        "consent_sms,consent_email,consent_push,consent_wechat,consent_updated_at"
    )
    crm_line = "A1,,,,,f,1990,Shanghai,1,2026-01-01,true,false,false,false,2026-10-01 00:00:00"
    write_landing(lake_cfg, "clickstream", D, [_event("e1"), _event("e2")])
    write_landing(lake_cfg, "crm", D, [crm_header, crm_line])
    write_landing(lake_cfg, "clickstream", d2, [_event("e1"), _event("e2", "login"), _event("e3")])
    write_landing(lake_cfg, "crm", d2, [crm_header, crm_line])  # a change extract: the same account again
    _ingest(spark, lake_cfg, D, sources=["clickstream", "crm"])
    counts = _ingest(spark, lake_cfg, d2, sources=["clickstream", "crm"])

    assert {k: counts["clickstream"][k] for k in AUDIT} == {
        "rows_read": 3,
        "rows_kept": 1,
        "rows_quarantined": 1,
        "duplicates_dropped": 1,
    }
    assert {k: counts["crm"][k] for k in AUDIT} == {
        "rows_read": 1,
        "rows_kept": 1,
        "rows_quarantined": 0,
        "duplicates_dropped": 0,
    }
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "event_type", "date"),
        spark.createDataFrame(
            [("e1", "page_view", D), ("e2", "page_view", D), ("e3", "page_view", d2)],
            "event_id string, event_type string, date date",
        ),
    )
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_QUARANTINE).select("date", "line_number", "reason"),
        spark.createDataFrame([(d2, 2, "duplicate_id")], "date date, line_number long, reason string"),
    )
    assert lake.read(catalog.BRONZE_CRM).count() == 2
    _assert_files_add_up_to_audit(lake)


def test_a_late_file_reingests_its_date_exactly_once(spark, lake_cfg):
    d2, d3 = D + dt.timedelta(days=1), D + dt.timedelta(days=2)
    write_landing(lake_cfg, "clickstream", D, [_event("e1"), _event("e2")])
    _ingest(spark, lake_cfg, D, sources=["clickstream"])
    write_landing(lake_cfg, "clickstream", d2, [_event("e3", ts="2026-11-02T10:00:00Z")])
    _ingest(spark, lake_cfg, d2, sources=["clickstream"])
    write_landing(lake_cfg, "clickstream", D, [_event("e4")], name="late.txt")
    write_landing(lake_cfg, "clickstream", d3, [_event("e5", ts="2026-11-03T10:00:00Z")])
    counts = _ingest(spark, lake_cfg, d3, sources=["clickstream"])["clickstream"]

    assert (counts["rows_read"], counts["rows_kept"], counts["late_dates"]) == (4, 4, 1)
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "date"),
        spark.createDataFrame([("e1", D), ("e2", D), ("e4", D), ("e3", d2), ("e5", d3)], "event_id string, date date"),
    )
    last = lake.read(catalog.BRONZE_INGEST_AUDIT).orderBy(F.col("date").desc()).first()
    assert (last["date"], last["late_dates"], last["rows_read"]) == (d3, [D], 4)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_INGEST_FILES)
        .where(F.col("run_id") == last["run_id"])
        .select(F.regexp_extract("file", "[^/]+$", 0).alias("file"), "date", "late", "rows_kept"),
        spark.createDataFrame(
            [("part-0.txt", D, True, 2), ("late.txt", D, True, 1), ("part-0.txt", d3, False, 1)],
            "file string, date date, late boolean, rows_kept long",
        ),
    )
    _assert_files_add_up_to_audit(lake)


def test_tables_of_an_older_lake_gain_the_new_columns(spark, lake_cfg):
    lake = Lakehouse(spark, lake_cfg.paths.lakehouse)
    earlier = D - dt.timedelta(days=1)
    old_audit = spark.createDataFrame(
        [("r0", "clickstream", earlier, earlier, 1, 1, 0, 0, 0, dt.datetime(2026, 10, 31))],
        "run_id string, source string, start_date date, date date, rows_read long, rows_kept long, "
        "rows_quarantined long, duplicates_dropped long, header_lines long, ingested_at timestamp",
    )
    lake.append_once(old_audit, catalog.BRONZE_INGEST_AUDIT, app_id="old", version=0)
    old_quarantine = spark.createDataFrame(
        [("clickstream", earlier, "f", "unparseable", "{", "r0")],
        "source string, date date, source_file string, reason string, raw_record string, run_id string",
    )
    lake.replace_range(old_quarantine, catalog.BRONZE_QUARANTINE, start=earlier)
    fields = SOURCES["clickstream"].fields
    lake.replace_range(
        spark.createDataFrame(
            [], ", ".join(f"{f.output_name} {f.type}" for f in fields) + ", source_file string, date date"
        ),
        catalog.BRONZE_CLICKSTREAM,
        start=earlier,
    )
    write_landing(lake_cfg, "clickstream", D, [_event("e1", coupon="X1"), "{"])
    _ingest(spark, lake_cfg, D, sources=["clickstream"])

    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "extra"),
        spark.createDataFrame([("e1", {"coupon": "X1"})], "event_id string, extra map<string,string>"),
    )

    audit = lake.read(catalog.BRONZE_INGEST_AUDIT)
    assertDataFrameEqual(
        audit.select("run_id", "rows_read", "extra_columns", "files_empty").where(F.col("run_id") == "r0"),
        spark.createDataFrame(
            [("r0", 1, None, None)], "run_id string, rows_read long, extra_columns array<string>, files_empty long"
        ),
    )
    assert audit.where(F.col("run_id") != "r0").select("extra_columns").first()[0] == ["coupon"]
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_QUARANTINE).select("date", "line_number", "reason"),
        spark.createDataFrame(
            [(earlier, None, "unparseable"), (D, 2, "unparseable")], "date date, line_number long, reason string"
        ),
    )
