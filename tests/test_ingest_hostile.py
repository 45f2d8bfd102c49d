"""Hostile landing input (issue 15): every byte under a landing date is accounted for.

Each test writes a tiny file of one class of bad input and checks what became of every line:
kept exactly as it said, quarantined with a reason, or its whole file rejected with a reason in
`bronze.ingest_files`; and that the audit reconciles (rows read = kept + quarantined + duplicates,
per-file counts add up to the audit).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pytest
from helpers import make_config, write_landing
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

pytestmark = pytest.mark.slow

D = dt.date(2026, 11, 1)
ORDERS_HEADER = (
    "order_id,line_no,account_id,phone,email,order_ts,product_id,category,quantity,unit_price,"
    "discount_amount,coupon_code,channel,status,ship_city"
)
ORDER = "O{n},1,A1,,,2026-11-01 09:00:00,P1,toys,2,10.00,,,app,completed,Shanghai"


def _event(event_id, event_type="page_view", ts="2026-11-01T10:00:00.000Z", **extra) -> str:
    return json.dumps(
        {"event_id": event_id, "anonymous_id": "c1", "session_id": "s1", "event_type": event_type, "ts": ts, **extra},
        ensure_ascii=False,
    )


@pytest.fixture()
def cfg(tmp_path):
    return make_config(tmp_path)


def _bytes(cfg, source: str, folder: str, name: str, data: bytes) -> None:
    path = Path(cfg.paths.landing) / source / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _run(spark, cfg, source: str, date: dt.date = D) -> tuple[dict, Lakehouse]:
    counts = run_stage("ingest", spark, cfg, date, sources=[source])[source]
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    _assert_reconciles(lake)
    return counts, lake


def _assert_reconciles(lake: Lakehouse) -> None:
    """Per run and source the audit reconciles and the file report adds up to it."""
    audit = lake.read(catalog.BRONZE_INGEST_AUDIT)
    assert (
        audit.where(
            F.col("rows_read") != F.col("rows_kept") + F.col("rows_quarantined") + F.col("duplicates_dropped")
        ).count()
        == 0
    )
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
        summed.select(*cols), audit.join(summed.select("run_id", "source"), ["run_id", "source"]).select(*cols)
    )


def _reasons(lake: Lakehouse):
    return lake.read(catalog.BRONZE_QUARANTINE).select(
        F.regexp_extract("source_file", "[^/]+$", 0).alias("file"), "line_number", "reason"
    )


def _quarantined(spark, rows):
    return spark.createDataFrame(rows, "file string, line_number long, reason string")


def _files(lake: Lakehouse):
    return lake.read(catalog.BRONZE_INGEST_FILES).select(
        F.regexp_extract("file", "landing/(.*)$", 1).alias("file"), "status", "reason", "lines_read"
    )


def test_csv_without_header_row_is_quarantined_not_read_by_its_first_record(spark, cfg):
    write_landing(cfg, "orders", D, [ORDER.format(n=1), ORDER.format(n=2)], name="no_header.csv")
    counts, lake = _run(spark, cfg, "orders")
    assert (counts["rows_read"], counts["header_lines"], counts["rows_kept"]) == (2, 0, 0)
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(spark, [("no_header.csv", 1, "no_header_row"), ("no_header.csv", 2, "no_header_row")]),
    )
    # The first record's values are not reported as unknown column names.
    assert lake.read(catalog.BRONZE_INGEST_FILES).first()["extra_columns"] == []


def test_two_json_values_or_content_after_the_value_are_quarantined(spark, cfg):
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event("e1") + _event("e2"),  # two objects
            _event("e3") + " xyz",  # garbage after the object
            _event("e4") + "}",  # a stray closing brace
            _event("e5") + "]",  # a stray closing bracket
            _event("e6") + ", " + _event("e7"),  # two objects, comma separated
            _event("e8") + "   ",  # trailing blanks are not content
        ],
    )
    counts, lake = _run(spark, cfg, "clickstream")
    assert (counts["rows_kept"], counts["rows_quarantined"]) == (1, 5)
    assertDataFrameEqual(
        _reasons(lake), _quarantined(spark, [("part-0.txt", n, "trailing_content") for n in range(1, 6)])
    )
    assert [r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()] == ["e8"]


def test_json_that_is_not_one_object_per_line_is_quarantined(spark, cfg):
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            "{",
            '  "event_id": "e1",',
            "}",  # pretty-printed
            "[" + _event("e2") + "]",  # an array
            '"e3"',
            "42",
            "null",  # scalars
            _event("e4")[:-1] + ', "event_id": "e5"}',  # a key given twice
            _event("e6", price=float("nan")).replace('"e6"', '"e6"'),  # a NaN token
        ],
    )
    _, lake = _run(spark, cfg, "clickstream")
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("part-0.txt", 1, "unparseable"),
                ("part-0.txt", 2, "trailing_content"),
                ("part-0.txt", 3, "unparseable"),
                ("part-0.txt", 4, "not_a_json_object"),
                ("part-0.txt", 5, "not_a_json_object"),
                ("part-0.txt", 6, "not_a_json_object"),
                ("part-0.txt", 7, "not_a_json_object"),
                ("part-0.txt", 8, "unparseable"),
                ("part-0.txt", 9, "unparseable"),
            ],
        ),
    )


def test_encodings_and_byte_order_marks(spark, cfg):
    folder = f"date={D.isoformat()}"
    _bytes(cfg, "clickstream", folder, "bom.txt", b"\xef\xbb\xbf" + (_event("e1") + "\n").encode())
    _bytes(cfg, "clickstream", folder, "latin1.txt", (_event("e2", search_query="caf\xe9") + "\n").encode("latin-1"))
    _bytes(cfg, "clickstream", folder, "utf16.txt", (_event("e3") + "\n").encode("utf-16"))
    _bytes(cfg, "clickstream", folder, "utf16_no_bom.txt", (_event("e4") + "\n").encode("utf-16-le"))
    _bytes(cfg, "clickstream", folder, "cjk.txt", (_event("e5", search_query="连衣裙") + "\n").encode())
    counts, lake = _run(spark, cfg, "clickstream")
    kept = lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "search_query")
    assertDataFrameEqual(
        kept, spark.createDataFrame([("e1", None), ("e5", "连衣裙")], "event_id string, search_query string")
    )
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("latin1.txt", 1, "bad_encoding"),
                ("utf16_no_bom.txt", 1, "control_character"),
                ("utf16_no_bom.txt", 2, "control_character"),  # the NUL after the UTF-16 line feed
            ],
        ),
    )
    assertDataFrameEqual(
        _files(lake).where(F.col("status") == "rejected"),
        spark.createDataFrame(
            [(f"clickstream/{folder}/utf16.txt", "rejected", "utf16_encoding", 0)],
            "file string, status string, reason string, lines_read long",
        ),
    )
    assert counts["files_rejected"] == 1


def test_nul_bytes_are_quarantined(spark, cfg):
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event("e1", search_query="a\x00b").replace("\\u0000", "\x00"),
            _event("e2", search_query="a\x00b"),
            _event("e3"),
        ],
    )
    write_landing(cfg, "orders", D, [ORDERS_HEADER, ORDER.format(n=1).replace("toys", "to\x00ys"), ORDER.format(n=2)])
    _, lake = _run(spark, cfg, "clickstream")
    _run(spark, cfg, "orders")
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("part-0.txt", 1, "control_character"),
                ("part-0.txt", 2, "control_character"),
                ("part-0.txt", 2, "control_character"),
            ],
        ),
    )  # the orders file's line 2
    assert [r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()] == ["e3"]
    assert [r["order_id"] for r in lake.read(catalog.BRONZE_ORDERS).collect()] == ["O2"]


def test_numbers_in_strings_and_non_finite_numbers(spark, cfg):
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event("e1", price="9.50"),  # a number in a string says 9.5: kept
            _event("e2", price="NaN"),
            _event("e3", price="Infinity"),
            _event("e4", price="-inf"),
            _event("e5", price=1).replace(": 1", ": 1e400"),  # too large for a double: Infinity
            _event("e6", dwell_ms="12.5"),
            _event("e7", dwell_ms="1e3"),
            _event("e8", price="\u0663"),
            _event("e9", price="9.5 EUR"),
            _event("e10", dwell_ms=1200),
        ],
    )
    write_landing(
        cfg,
        "orders",
        D,
        [
            ORDERS_HEADER,
            ORDER.format(n=1).replace("10.00", "10.005"),
            ORDER.format(n=2).replace(",2,", ",2.0,"),
            ORDER.format(n=3),
        ],
    )
    _, lake = _run(spark, cfg, "clickstream")
    _run(spark, cfg, "orders")
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "price", "dwell_ms"),
        spark.createDataFrame([("e1", 9.5, None), ("e10", None, 1200)], "event_id string, price double, dwell_ms long"),
    )
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("part-0.txt", 2, "non_finite_price"),
                ("part-0.txt", 3, "non_finite_price"),
                ("part-0.txt", 4, "non_finite_price"),
                ("part-0.txt", 5, "bad_type_price"),  # 1e400: no double
                ("part-0.txt", 6, "bad_type_dwell_ms"),
                ("part-0.txt", 7, "bad_type_dwell_ms"),
                ("part-0.txt", 8, "bad_type_price"),
                ("part-0.txt", 9, "bad_type_price"),
                ("part-0.txt", 2, "bad_type_unit_price"),
                ("part-0.txt", 3, "bad_type_quantity"),
            ],
        ),
    )


def test_timestamps_in_other_formats_partial_or_impossible(spark, cfg):
    stamps = [
        "2026",
        "2026-11",
        "2026-11-01",
        "2026/11/01 10:00",
        "1730000000",
        "2026-02-30T10:00:00Z",
        "+12026-11-01T10:00:00Z",
        "2026-11-01T10:00:00+08:00",
        "2026-11-01 10:00",
    ]
    write_landing(cfg, "clickstream", D, [_event(f"e{i}", ts=t) for i, t in enumerate(stamps)])
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
        "consent_email,consent_push,consent_wechat,consent_updated_at"
    )
    write_landing(
        cfg,
        "crm",
        D,
        [crm_header]
        + [
            f"A{i},,,,,,1990,,1,{d},true,false,true,false,2026-10-01 10:00:00"
            for i, d in enumerate(["2026-13-01", "2025-02-29", "2024-02-29", "2024-2-9"])
        ],
    )
    _, lake = _run(spark, cfg, "clickstream")
    _run(spark, cfg, "crm")
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", F.date_format("ts", "yyyy-MM-dd HH:mm").alias("ts")),
        spark.createDataFrame([("e7", "2026-11-01 02:00"), ("e8", "2026-11-01 10:00")], "event_id string, ts string"),
    )
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CRM).select("account_id", F.col("signup_date").cast("string")),
        spark.createDataFrame([("A2", "2024-02-29")], "account_id string, signup_date string"),
    )
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                *[("part-0.txt", n, "bad_type_ts") for n in range(1, 8)],
                ("part-0.txt", 2, "bad_type_signup_date"),
                ("part-0.txt", 3, "bad_type_signup_date"),
                ("part-0.txt", 5, "bad_type_signup_date"),
            ],
        ),
    )


def test_csv_quoting_with_commas_newlines_and_repeated_headers(spark, cfg):
    write_landing(
        cfg,
        "orders",
        D,
        [
            ORDERS_HEADER,
            ORDER.format(n=1).replace("Shanghai", '"Shanghai, Pudong"'),
            ORDER.format(n=2).replace(",,,app,", ',,"say ""hi"", ok",app,'),
            ORDER.format(n=3).replace("Shanghai", '"Line one'),
            'line two"',  # a record split by a newline
            ORDERS_HEADER,  # the header again
            ORDER.format(n=4),
        ],
    )
    counts, lake = _run(spark, cfg, "orders")
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_ORDERS).select("order_id", "coupon_code", "ship_city"),
        spark.createDataFrame(
            [("O1", None, "Shanghai, Pudong"), ("O2", 'say "hi", ok', "Shanghai"), ("O4", None, "Shanghai")],
            "order_id string, coupon_code string, ship_city string",
        ),
    )
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("part-0.txt", 4, "unbalanced_quote"),
                ("part-0.txt", 5, "unbalanced_quote"),
                ("part-0.txt", 6, "repeated_header"),
            ],
        ),
    )
    assert counts["header_lines"] == 1


def test_compressed_files_with_the_wrong_name_or_truncated(spark, cfg):
    folder = f"date={D.isoformat()}"
    packed = gzip.compress((_event("e1") + "\n" + _event("e2") + "\n").encode())
    _bytes(cfg, "clickstream", folder, "good.json.gz", packed)
    _bytes(cfg, "clickstream", folder, "hidden_gzip.txt", packed)
    _bytes(cfg, "clickstream", folder, "truncated.json.gz", packed[: len(packed) // 2])
    _bytes(cfg, "clickstream", folder, "not_gzip.gz", (_event("e3") + "\n").encode())
    _bytes(cfg, "clickstream", folder, "plain.txt", (_event("e4") + "\n").encode())
    counts, lake = _run(spark, cfg, "clickstream")
    assert sorted(r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()) == ["e1", "e2", "e4"]
    assertDataFrameEqual(
        _files(lake).where(F.col("status") == "rejected").select("file", "reason"),
        spark.createDataFrame(
            [
                (f"clickstream/{folder}/hidden_gzip.txt", "compressed_without_extension"),
                (f"clickstream/{folder}/truncated.json.gz", "corrupt_compressed_file"),
                (f"clickstream/{folder}/not_gzip.gz", "corrupt_compressed_file"),
            ],
            "file string, reason string",
        ),
    )
    assert (counts["files"], counts["files_rejected"], counts["rows_read"]) == (5, 3, 3)


def test_ids_with_emoji_or_metacharacters_are_kept_as_written(spark, cfg):
    ids = [
        "e\U0001f642",
        "'; DROP TABLE bronze.clickstream; --",
        "../../etc/passwd",
        "e\u200b1",
        "`$(rm -rf /)`",
        "e%20\\n",
        "\u202eevil",
    ]
    write_landing(cfg, "clickstream", D, [_event(i) for i in ids], name="part 1 \U0001f642 #%.txt")
    counts, lake = _run(spark, cfg, "clickstream")
    assert counts["rows_kept"] == len(ids)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id"),
        spark.createDataFrame([(i,) for i in ids], "event_id string"),
    )


def test_unexpected_files_and_folders_are_rejected_and_never_stop_the_others(spark, cfg):
    good = (_event("e1") + "\n").encode()
    _bytes(cfg, "clickstream", f"date={D.isoformat()}", "part-0.txt", good)
    _bytes(cfg, "clickstream", f"date={D.isoformat()}", ".DS_Store", b"\x00\x01")
    _bytes(cfg, "clickstream", f"date={D.isoformat()}", "_SUCCESS", b"")
    _bytes(cfg, "clickstream", f"date={D.isoformat()}", "retry/part-1.txt", good)
    (Path(cfg.paths.landing) / "clickstream" / f"date={D.isoformat()}" / "empty_dir").mkdir()
    _bytes(cfg, "clickstream", "date=2026-13-01", "part-0.txt", good)
    _bytes(cfg, "clickstream", "date=latest", "part-0.txt", good)
    _bytes(cfg, "clickstream", "", "readme.txt", b"hello\n")
    counts, lake = _run(spark, cfg, "clickstream")
    assert [r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()] == ["e1"]
    folder = f"clickstream/date={D.isoformat()}"
    assertDataFrameEqual(
        _files(lake).select("file", "status", "reason"),
        spark.createDataFrame(
            [
                (f"{folder}/part-0.txt", "ok", None),
                (f"{folder}/.DS_Store", "rejected", "hidden_file"),
                (f"{folder}/_SUCCESS", "rejected", "hidden_file"),
                (f"{folder}/retry/part-1.txt", "rejected", "in_subfolder"),
                (f"{folder}/empty_dir", "rejected", "in_subfolder"),
                ("clickstream/date=2026-13-01/part-0.txt", "rejected", "bad_date_folder"),
                ("clickstream/date=latest/part-0.txt", "rejected", "bad_date_folder"),
                ("clickstream/readme.txt", "rejected", "outside_date_folder"),
            ],
            "file string, status string, reason string",
        ),
    )
    assert counts["files_rejected"] == 7


def test_any_file_name_is_read_as_written_and_a_link_out_of_the_zone_is_not_followed(spark, cfg, tmp_path):
    """Names with glob syntax are data, read literally next to a plain one; a name with a colon (which
    Hadoop cannot open) and a symbolic link to a file outside the landing zone are rejected with their
    reasons, without a byte of them read, and stop nothing (issue 28)."""
    folder = f"date={D.isoformat()}"
    names = ["part-0.txt", "x[1].txt", "y{2,3}.txt", "z*?.txt", "back\\slash.txt", "sp ace %41#.txt"]
    for i, name in enumerate(names):
        _bytes(cfg, "clickstream", folder, name, (_event(f"e{i}") + "\n").encode())
    _bytes(cfg, "clickstream", folder, "a:b.txt", (_event("e_colon") + "\n").encode())
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text(_event("e_outside") + "\n", encoding="utf-8")
    (Path(cfg.paths.landing) / "clickstream" / folder / "link.txt").symlink_to(outside)
    counts, lake = _run(spark, cfg, "clickstream")
    kept = lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "source_file").collect()
    assert sorted(r["event_id"] for r in kept) == sorted(f"e{i}" for i in range(len(names)))
    assert len({r["source_file"] for r in kept}) == len(names)  # each line from its own file
    files = lake.read(catalog.BRONZE_INGEST_FILES).select("file", "status", "reason", "rows_kept").collect()
    assert sorted((r["status"], r["reason"], r["rows_kept"]) for r in files) == sorted(
        [("ok", None, 1)] * len(names)
        + [("rejected", "symlink_outside_landing", 0), ("rejected", "unreadable_name", 0)]
    )
    assert counts["rows_kept"] == len(names) and counts["files_rejected"] == 2


def test_a_csv_of_a_thousand_columns_is_read_with_its_extra_columns(spark, cfg):
    """A header of 1,000 columns once overflowed the JVM's stack while Spark analysed the parse (issue 28)."""
    extra = [f"x{i}" for i in range(1000)]
    header = ORDERS_HEADER + "," + ",".join(extra)
    rows = [ORDER.format(n=n) + "," + ",".join(str(i) for i in range(1000)) for n in (1, 2)]
    write_landing(cfg, "orders", D, [header, *rows, header], name="wide.csv")
    counts, lake = _run(spark, cfg, "orders")
    kept = lake.read(catalog.BRONZE_ORDERS).select("order_id", "extra").collect()
    assert sorted(r["order_id"] for r in kept) == ["O1", "O2"]
    assert all(len(r["extra"]) == 1000 and r["extra"]["x999"] == "999" for r in kept)
    assertDataFrameEqual(_reasons(lake), _quarantined(spark, [("wide.csv", 4, "repeated_header")]))


def test_a_run_that_fails_between_two_sources_commits_is_completed_by_its_rerun(spark, tmp_path, monkeypatch):
    """A run that dies after `bronze.clickstream` committed and before `bronze.orders` did leaves no
    audit, quarantine or file rows; its rerun leaves every bronze table equal to an uninterrupted
    run's: nothing counted twice, nothing missing (issue 28)."""
    import tinylake

    clean = make_config(tmp_path / "clean")
    failed = make_config(tmp_path / "failed", **{"paths.landing": clean.paths.landing})
    write_landing(clean, "clickstream", D, [_event("e1"), _event("e2"), _event("e3", "teleport")])
    write_landing(clean, "orders", D, [ORDERS_HEADER, ORDER.format(n=1), ORDER.format(n=2).replace(",2,", ",-2,")])
    run_stage("ingest", spark, clean, D, sources=["clickstream", "orders"])

    write = Lakehouse.replace_range

    def dies_at_orders(self, df, table, **kwargs):
        if table == catalog.BRONZE_ORDERS:
            raise OSError("the disk filled up")
        return write(self, df, table, **kwargs)

    monkeypatch.setattr(Lakehouse, "replace_range", dies_at_orders)
    with pytest.raises(OSError, match="disk filled up"):
        run_stage("ingest", spark, failed, D, sources=["clickstream", "orders"])
    lake = Lakehouse(spark, failed.paths.lakehouse)
    assert lake.read(catalog.BRONZE_CLICKSTREAM).count() == 2  # the half a failed run leaves
    assert not any(lake.exists(t) for t in (catalog.BRONZE_INGEST_AUDIT, catalog.BRONZE_QUARANTINE))
    monkeypatch.undo()

    run_stage("ingest", spark, failed, D, sources=["clickstream", "orders"])
    compared = tinylake.assert_same_tables(spark, clean, failed)
    assert {"bronze.clickstream", "bronze.orders", "bronze.quarantine", "bronze.ingest_audit"} <= set(compared)


def test_values_that_cannot_be_true_are_quarantined(spark, cfg):
    """A signup date after the day its extract landed, a discount above the line's amount (issue 28)."""
    write_landing(
        cfg,
        "orders",
        D,
        [ORDERS_HEADER, ORDER.format(n=1), ORDER.format(n=2).replace("10.00,,", "10.00,20.01,"), ORDER.format(n=3)],
    )
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
        "consent_email,consent_push,consent_wechat,consent_updated_at"
    )
    crm = "{a},,,,,f,1990,Shanghai,1,{signup},true,false,true,false,2026-10-01 10:00:00"
    write_landing(
        cfg, "crm", D, [crm_header, crm.format(a="A1", signup="2026-11-01"), crm.format(a="A2", signup="2099-01-01")]
    )
    counts = run_stage("ingest", spark, cfg, D, sources=["orders", "crm"])
    assert {s: (c["rows_kept"], c["rows_quarantined"]) for s, c in counts.items()} == {"orders": (2, 1), "crm": (1, 1)}
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    _assert_reconciles(lake)
    reasons = {(r["source"], r["line_number"]): r["reason"] for r in lake.read(catalog.BRONZE_QUARANTINE).collect()}
    assert reasons == {("orders", 3): "discount_exceeds_amount", ("crm", 3): "future_signup_date"}


def test_a_csv_last_line_cut_off_is_truncated_as_a_json_one_is(spark, cfg):
    """The last line of a file with no final newline (issue 28): a CSV line with fewer fields than its
    header, a quote left open or a last value cut out of its type is `truncated_record` and its file
    `truncated`, as a JSON line that does not parse is. A last line that is a whole record is read for
    what it says and its file is ok: the final line break is optional (RFC 4180, JSON lines), and a
    cut that leaves a whole record (`Shanghai` -> `Shan`) cannot be told from the text."""
    folder = f"date={D.isoformat()}"
    cut = ORDER.format(n=22)
    orders = {
        "whole.csv": ORDER.format(n=12),
        "fewer_fields.csv": cut[: cut.index("toys") + 2],
        "open_quote.csv": ORDER.format(n=32).replace("Shanghai", '"Shang'),
        "more_fields.csv": ORDER.format(n=42) + ",x",  # not what a cut leaves
        "bad_value.csv": ORDER.format(n=52).replace(",2,", ",x,"),  # whole, of a bad value
    }
    for i, (name, last) in enumerate(orders.items(), start=1):
        _bytes(cfg, "orders", folder, name, f"{ORDERS_HEADER}\n{ORDER.format(n=f'{i}1')}\n{last}".encode())
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
        "consent_email,consent_push,consent_wechat,consent_updated_at"
    )
    crm = "{a},,,,,f,1990,Shanghai,1,2020-01-01,true,false,true,false,2026-10-01 10:0{second}"
    crm_lines = [crm_header, crm.format(a="A1", second="0:00"), crm.format(a="A2", second="")]  # 10:0, cut
    _bytes(cfg, "crm", folder, "cut_value.csv", "\n".join(crm_lines).encode())
    _bytes(cfg, "clickstream", folder, "whole.json", (_event("e1") + "\n" + _event("e2", event_type=None)).encode())
    _bytes(cfg, "clickstream", folder, "cut.json", (_event("e3") + "\n" + _event("e4")[:30]).encode())
    counts = run_stage("ingest", spark, cfg, D, sources=["orders", "crm", "clickstream"])
    assert {s: (c["rows_kept"], c["rows_quarantined"], c["files_truncated"]) for s, c in counts.items()} == {
        "orders": (6, 4, 2),
        "crm": (1, 1, 1),
        "clickstream": (2, 2, 1),
    }
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    _assert_reconciles(lake)
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("fewer_fields.csv", 3, "truncated_record"),
                ("open_quote.csv", 3, "truncated_record"),
                ("more_fields.csv", 3, "unparseable"),
                ("bad_value.csv", 3, "bad_type_quantity"),
                ("cut_value.csv", 3, "truncated_record"),
                ("whole.json", 2, "missing_event_type"),
                ("cut.json", 2, "truncated_record"),
            ],
        ),
    )
    assertDataFrameEqual(
        _files(lake).select(F.regexp_extract("file", "[^/]+$", 0).alias("file"), "status"),
        spark.createDataFrame(
            [
                ("whole.csv", "ok"),
                ("fewer_fields.csv", "truncated"),
                ("open_quote.csv", "truncated"),
                ("more_fields.csv", "ok"),
                ("bad_value.csv", "ok"),
                ("cut_value.csv", "truncated"),
                ("whole.json", "ok"),
                ("cut.json", "truncated"),
            ],
            "file string, status string",
        ),
    )
    assert lake.read(catalog.BRONZE_ORDERS).where(F.col("order_id") == "O12").first()["ship_city"] == "Shanghai"


def test_a_json_value_of_another_type_than_its_field_is_quarantined_not_stored_as_its_text(spark, cfg):
    """An object, an array, a number or a boolean where a JSON source has a string field (an id, a
    text) is `bad_type_<field>`, as anything but a number is where a number belongs: it was stored
    as its JSON text, a value never sent (`{"id":"A1"}`; `1.1` for `1.10`, `100.0` for `1e2`) (issue 28)."""
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event("e1", user_id={"id": "A1"}),
            _event("e2", session_id=["s1", "s2"]),
            _event("e3", user_id=42),
            _event("e4", product_id=1.5),
            _event("e5", search_query=True),
            _event({"id": "e6"}),
            _event("e7", price={"amount": 9.5}),
            _event("e8", user_id=None, search_query='{"q": 1}'),  # null is no value; this text is a string
            _event("e9", user_id="A9"),
        ],
    )
    counts, lake = _run(spark, cfg, "clickstream")
    assert (counts["rows_kept"], counts["rows_quarantined"]) == (2, 7)
    assertDataFrameEqual(
        lake.read(catalog.BRONZE_CLICKSTREAM).select("event_id", "user_id", "search_query"),
        spark.createDataFrame(
            [("e8", None, '{"q": 1}'), ("e9", "A9", None)], "event_id string, user_id string, search_query string"
        ),
    )
    assertDataFrameEqual(
        _reasons(lake),
        _quarantined(
            spark,
            [
                ("part-0.txt", 1, "bad_type_user_id"),
                ("part-0.txt", 2, "bad_type_session_id"),
                ("part-0.txt", 3, "bad_type_user_id"),
                ("part-0.txt", 4, "bad_type_product_id"),
                ("part-0.txt", 5, "bad_type_search_query"),
                ("part-0.txt", 6, "bad_type_event_id"),
                ("part-0.txt", 7, "bad_type_price"),
            ],
        ),
    )


def test_a_file_late_beyond_the_lookback_is_rejected_once(spark, tmp_path):
    cfg = make_config(tmp_path, **{"ingest.late_lookback_days": 3})
    old = D - dt.timedelta(days=10)
    write_landing(cfg, "clickstream", old, [_event("e1", ts="2026-10-22T10:00:00Z")])
    _run(spark, cfg, "clickstream", old)
    write_landing(cfg, "clickstream", old, [_event("e2", ts="2026-10-22T10:00:00Z")], name="part-late.txt")
    write_landing(cfg, "clickstream", D, [_event("e3")])
    _, lake = _run(spark, cfg, "clickstream", D)
    _run(spark, cfg, "clickstream", D + dt.timedelta(days=1))
    late = _files(lake).where(F.col("status") == "rejected").select("file", "reason")
    assertDataFrameEqual(
        late,
        spark.createDataFrame(
            [(f"clickstream/date={old.isoformat()}/part-late.txt", "late_beyond_lookback")],
            "file string, reason string",
        ),
    )
    assert sorted(r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()) == ["e1", "e3"]


def test_a_badly_named_date_folder_stops_no_run_after_the_lookback(spark, tmp_path):
    """A rejected folder (`date=2026-13-01`) stays recorded in bronze.ingest_files; once its record is
    older than the lookback, every run reads its path among the earlier recorded files, where its
    name was parsed as a date and raised: every later ingest failed, deleting the folder did not help."""
    cfg = make_config(tmp_path, **{"ingest.late_lookback_days": 3})
    first = D - dt.timedelta(days=10)
    write_landing(cfg, "clickstream", first, [_event("e1", ts="2026-10-22T10:00:00Z")])
    _bytes(cfg, "clickstream", "date=2026-13-01", "part-0.txt", (_event("e9") + "\n").encode())
    _run(spark, cfg, "clickstream", first)
    write_landing(cfg, "clickstream", D, [_event("e3")])
    counts, lake = _run(spark, cfg, "clickstream", D)  # the folder's first record is before the lookback now
    assert counts["rows_kept"] == 1
    assert sorted(r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()) == ["e1", "e3"]
    bad = _files(lake).where(F.col("file") == "clickstream/date=2026-13-01/part-0.txt")
    assert {r["reason"] for r in bad.collect()} == {"bad_date_folder"}  # rejected again, never read


PHONES = ("+86 139 8765 4321", "13987654321", "139-8765-4321")
EMAIL = "Carol.Q@Example.org"
NAME = "Qianzhangwei"


def _planted(i: int) -> str:
    return f"hi {PHONES[i % 3]} or {EMAIL} thanks"


def _all_cells(spark, root: Path):
    """Every row of every Delta table under `root` as one JSON text (whole cells and text inside)."""
    for log in sorted(root.rglob("_delta_log")):
        table = spark.read.format("delta").load(str(log.parent))
        yield (
            log.parent.name,
            table.select(F.to_json(F.struct(*[F.col(c).cast("string") for c in table.columns])).alias("row")),
        )


def test_pii_in_free_text_reaches_no_table_in_clear(spark, cfg):
    """PII planted in the free-text and unknown fields of all four sources, kept and quarantined lines,
    then ingest and identity: every table of the lake is scanned for the clear values, which only real
    runs on real files write (the maskers themselves are unit-tested in test_privacy)."""

    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event(
                "e1",
                "search",
                category=_planted(0),
                search_query=_planted(1),
                device_type=_planted(2),
                channel=_planted(3),
                note=_planted(4),
            ),
            _event("e2", "teleport", search_query=_planted(5), note=_planted(6)),  # quarantined
            _event("e3", search_query=_planted(7)) + " " + _planted(8),  # quarantined, unparsed
        ],
    )
    header = ORDERS_HEADER + ",comment"
    planted = (
        ORDER.format(n=1)
        .replace("toys", _planted(0))
        .replace(",,app,", f",{_planted(1)},{_planted(2)},")
        .replace("Shanghai", _planted(3))
    )
    write_landing(
        cfg,
        "orders",
        D,
        [header, planted + f",{_planted(4)}", ORDER.format(n=2).replace(",2,", ",-2,") + f",{_planted(5)}"],
    )
    write_landing(
        cfg,
        "social",
        D,
        [
            json.dumps(
                {
                    "post_id": "p1",
                    "platform": "weibo",
                    "post_type": "post",
                    "text": _planted(0),
                    "ts": "2026-11-01T08:00:00Z",
                    "mood": _planted(1),
                }
            ),
            json.dumps(
                {
                    "post_id": "p2",
                    "platform": "weibo",
                    "post_type": "rant",
                    "text": _planted(2),
                    "ts": "2026-11-01T08:00:00Z",
                }
            ),
        ],
    )
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
        "consent_email,consent_push,consent_wechat,consent_updated_at"
    )
    crm_row = (
        f"A1,{NAME},{PHONES[0]},{EMAIL},wx_carol,{_planted(0)},1990,{_planted(1)},1,2020-01-01,true,false,"
        "true,false,2026-10-01 10:00:00"
    )
    write_landing(
        cfg,
        "crm",
        D,
        [
            crm_header,
            crm_row,
            crm_row.replace("A1,", "A2,").replace(",1990,", ",19x0,"),
            crm_row.replace("A1,", "A3,") + "\x01",
        ],
    )
    counts = run_stage("ingest", spark, cfg, D, sources=["clickstream", "orders", "social", "crm"])
    assert {s: c["rows_kept"] for s, c in counts.items()} == {"clickstream": 1, "orders": 1, "social": 1, "crm": 1}
    run_stage("identity", spark, cfg, D)

    lake = Lakehouse(spark, cfg.paths.lakehouse)
    kept = lake.read(catalog.BRONZE_CLICKSTREAM).first()
    assert kept["search_query"] == "hi <phone> or <email> thanks"  # the text model still reads the rest
    assert kept["extra"] == {"note": "hi <phone> or <email> thanks"}
    scanned = set()
    for name, rows in _all_cells(spark, Path(cfg.paths.lakehouse)):
        scanned.add(name)
        leaked = rows.where(
            F.lower("row").rlike("87654321|8765 4321|8765-4321|carol|example\\.org|wx_carol|" + NAME.lower())
        ).collect()
        assert leaked == [], f"{name}: {leaked}"
    assert {"clickstream", "orders", "social", "crm", "quarantine", "identity_map"} <= scanned
    raw = " ".join(r["raw_record"] for r in lake.read(catalog.BRONZE_QUARANTINE).collect())
    assert raw.count("<phone>") >= 6 and raw.count("<email>") >= 6


SPELLINGS = (
    "call \uff11\uff13\uff19\uff18\uff17\uff16\uff15\uff14\uff13\uff12\uff11 now",  # full-width digits
    "mail jos\u00e9.q@ex\u00e4mple.org or \u5361\u7f57\u5c14@\u4f8b\u5b50.\u4e2d\u56fd",  # Unicode in both parts
    "write carol.q (at) example (dot) org, carol.q[at]example.org or carol.q \uff20 example\uff0eorg",
    "add wxid_carol88, \u5fae\u4fe1\u53f7\uff1acarol_wx88 or WeChat ID: carolwx88",
)
LEAKS = "87654321|\uff18\uff17\uff16\uff15|carol|example|ex\u00e4mple|\u4f8b\u5b50"


def test_pii_spelled_unusually_reaches_no_table_and_no_log_in_clear(spark, cfg):
    """Full-width digits, Unicode and written-out emails, WeChat ids in text, an email as a JSON key
    and as a CSV column name: masked in every table and in the `_delta_log` statistics (issue 28);
    a phone in full-width digits hashes as the same phone in ASCII."""
    events = [_event(f"e{i}", "search", search_query=text) for i, text in enumerate(SPELLINGS)]
    events.append(_event("e_key", **{"carol.q@example.org": "1", "qian@example.org": "2"}))
    write_landing(cfg, "clickstream", D, events)
    crm_header = (
        "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
        "consent_email,consent_push,consent_wechat,consent_updated_at,carol.q@example.org"
    )
    crm = "{a},Qian,{phone},,,f,1990,Shanghai,1,2020-01-01,true,false,true,false,2026-10-01 10:00:00,x"
    full_width = "\uff11\uff13\uff19\uff18\uff17\uff16\uff15\uff14\uff13\uff12\uff11"
    write_landing(
        cfg, "crm", D, [crm_header, crm.format(a="A1", phone="13987654321"), crm.format(a="A2", phone=full_width)]
    )
    counts = run_stage("ingest", spark, cfg, D, sources=["clickstream", "crm"])
    assert {s: c["rows_kept"] for s, c in counts.items()} == {"clickstream": len(events), "crm": 2}

    lake = Lakehouse(spark, cfg.paths.lakehouse)
    queries = {r["event_id"]: r["search_query"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()}
    assert queries["e0"] == "call <phone> now"
    assert queries["e1"] == "mail <email> or <email>"
    assert queries["e2"] == "write <email>, <email> or <email>"
    assert queries["e3"] == "add <wechat_id>, \u5fae\u4fe1\u53f7\uff1a<wechat_id> or WeChat ID: <wechat_id>"
    phones = {r["account_id"]: r["phone_hash"] for r in lake.read(catalog.BRONZE_CRM).collect()}
    assert phones["A1"] == phones["A2"] is not None
    for name, rows in _all_cells(spark, Path(cfg.paths.lakehouse)):
        leaked = rows.where(F.lower("row").rlike(LEAKS)).collect()
        assert leaked == [], f"{name}: {leaked}"
    for entry in Path(cfg.paths.lakehouse).rglob("_delta_log/*.json"):  # commits carry column statistics
        text = entry.read_text(encoding="utf-8").lower()
        assert not re.search(LEAKS, text), f"{entry}: clear PII in the log"


def test_multi_megabyte_values_in_every_field(spark, tmp_path):
    big = 2 * 1024 * 1024
    cfg = make_config(tmp_path)  # max_field_chars 4096
    fields = [
        "event_id",
        "anonymous_id",
        "session_id",
        "event_type",
        "ts",
        "category",
        "price",
        "search_query",
        "dwell_ms",
        "an_unknown_key",
    ]
    lines = [json.dumps({**json.loads(_event(f"e{i}", "search")), f: "7" * big}) for i, f in enumerate(fields)]
    lines.append(_event("e_key", **{"k" * 5000: "v"}))  # an unknown key's name over the limit
    lines.append(_event("e_small", search_query="s" * 5000))  # over the field limit, not the line limit
    lines.append(_event("e_extra", an_unknown_key="u" * 5000))  # the same limit for an unknown key
    lines.append(_event("e_ok", search_query="fine"))
    write_landing(cfg, "clickstream", D, lines)
    counts, lake = _run(spark, cfg, "clickstream")
    assert (counts["rows_kept"], counts["rows_quarantined"]) == (1, len(lines) - 1)
    reasons = dict((r["line_number"], r["reason"]) for r in _reasons(lake).collect())
    assert {reasons[n] for n in range(1, len(fields) + 1)} == {"oversized_line"}
    assert [reasons[len(fields) + k] for k in (1, 2, 3)] == ["oversized_field"] * 3
    assert len(reasons) == len(lines) - 1
    assert max(len(r["raw_record"]) for r in lake.read(catalog.BRONZE_QUARANTINE).collect()) <= 4 * 4096

    # With a limit above the values, each is typed and masked whole: kept or quarantined for its content.
    wide = make_config(tmp_path / "wide", **{"ingest.max_field_chars": 3 * big})
    text = "a" * big + " " + EMAIL
    write_landing(
        wide,
        "clickstream",
        D,
        [
            _event("e1", "search", search_query=text, note=text),
            _event("e2", price="1" * big),
            _event("e3", ts="2" * big),
            _event("e4" + "z" * big),
        ],
    )
    counts, lake = _run(spark, wide, "clickstream")
    assert (counts["rows_kept"], counts["rows_quarantined"]) == (2, 2)
    kept = {r["event_id"][:2]: r for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()}
    assert kept["e1"]["search_query"] == "a" * big + " <email>" and kept["e1"]["extra"]["note"].endswith(" <email>")
    assert len(kept["e4"]["event_id"]) == big + 2
    assert sorted(r["reason"] for r in _reasons(lake).collect()) == ["bad_type_ts", "non_finite_price"]  # 1e2097151
