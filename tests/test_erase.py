"""Erase on a tiny lake of three persons: one erased by their clear phone, the others untouched.

The lake is built once per module (ingest -> identity -> features on inline landing files); the
erasure runs once and each test checks one promise. The person's markers (hashes computed here
with Python's hmac, independently of the Spark implementation; account, cookies, person id)
define which rows are theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import make_config, write_landing
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, cli, erase
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

D = dt.date(2026, 11, 1)
PHONE = "13812345678"
ORDERS_HEADER = (
    "order_id,line_no,account_id,phone,email,order_ts,product_id,category,quantity,unit_price,"
    "discount_amount,coupon_code,channel,status,ship_city"
)
CRM_HEADER = (
    "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
    "consent_email,consent_push,consent_wechat,consent_updated_at"
)


def _event(event_id, cookie, user=None, event_type="page_view", ts="2026-11-01T10:00:00Z", **extra):
    return json.dumps(
        {
            "event_id": event_id,
            "anonymous_id": cookie,
            "user_id": user,
            "session_id": f"s_{cookie}",
            "event_type": event_type,
            "ts": ts,
            "device_type": "mobile",
            "channel": "app",
            "dwell_ms": 1000,
            **extra,
        }
    )


def _post(post_id, wechat_id=None, author_id=None, **extra):
    return json.dumps(
        {
            "post_id": post_id,
            "platform": "wechat" if wechat_id else "weibo",
            "wechat_id": wechat_id,
            "author_id": author_id,
            "post_type": "review",
            "text": "nice",
            "rating": 5,
            "product_id": "P1",
            "likes": 1,
            "shares": 0,
            "ts": "2026-11-01T12:00:00Z",
            **extra,
        }
    )


def _landing(cfg):
    # Alice (A0001) is erased; Bob (A0002) and a guest buyer (phone only) stay.
    write_landing(
        cfg,
        "clickstream",
        D,
        [
            _event("e1", "ck-alice-1", "A0001", "login"),
            _event("e2", "ck-alice-1"),
            _event("e3", "ck-alice-2", "A0001", "login"),
            _event("e4", "ck-alice-2", event_type="teleport"),  # quarantined, names her cookie
            _event("e5", "ck-bob-1", "A0002", "login"),
            _event("e6", "ck-bob-1", event_type="add_to_cart", product_id="P1", category="toys", price=9.5),
            _event("e7", "ck-guest-1"),
        ],
    )
    write_landing(
        cfg,
        "orders",
        D,
        [
            ORDERS_HEADER,
            "O1,1,A0001,+86 138-1234-5678,alice@example.com,2026-11-01 09:00:00,P1,toys,1,10.00,,,app,completed,Shanghai",
            "O2,1,A0001,13812345678,,2026-11-01 09:30:00,P2,books,1,-1.00,,,app,completed,Shanghai",  # quarantined
            "O3,1,A0002,13900000002,bob@example.com,2026-11-01 10:00:00,P1,toys,2,10.00,,,web,completed,Beijing",
            "O4,1,,13700000003,guest@example.com,2026-11-01 11:00:00,P3,home,1,20.00,,,web,completed,Wuhan",
        ],
    )
    write_landing(
        cfg,
        "social",
        D,
        [
            _post("s1", wechat_id="wx_alice", author_id="au_alice"),
            _post("s2", author_id="au_bob"),
            _post("s3", wechat_id="wx_alice", rating=9),  # quarantined, her WeChat id hashed
        ],
    )
    write_landing(
        cfg,
        "crm",
        D,
        [
            CRM_HEADER,
            "A0001,Alice Li,13812345678,alice@example.com,wx_alice,F,1990,Shanghai,1,2024-01-01,true,true,false,true,"
            "2026-10-01 00:00:00",
            "A0002,Bob Wang,13900000002,bob@example.com,,M,1985,Beijing,1,2023-05-01,false,true,true,false,"
            "2026-10-02 00:00:00",
        ],
    )


def _hash(cfg, value: str) -> str:
    return hmac.new(cfg.pii_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()


def _snapshot(lake: Lakehouse) -> dict:
    return {n: lake.read(n).localCheckpoint() for n in catalog.ALL if lake.exists(n)}


def _parquet_text(root: str) -> dict[str, str]:
    """Every Parquet file under the lakehouse, read directly (not through Delta), as text."""
    return {str(p): str(pq.read_table(p).to_pylist()) for p in Path(root).rglob("*.parquet")}


def _mentions(df, markers: list[str]):
    text_cols = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
    text = F.concat_ws("|", *text_cols)
    return (
        F.lit(False)
        if not text_cols
        else F.exists(F.array(*[F.lit(m) for m in markers]), lambda m: F.instr(text, m) > 0)
    )


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("erase"))
    _landing(cfg)
    for stage in ("ingest", "identity", "features"):
        run_stage(stage, spark, cfg, D)
    lh = Lakehouse(spark, cfg.paths.lakehouse)
    person_id = (
        lh.read(catalog.SILVER_IDENTITY_MAP)
        .where((F.col("id_type") == "account") & (F.col("id_value") == "A0001"))
        .first()["person_id"]
    )
    markers = [
        person_id,
        "A0001",
        "ck-alice-1",
        "ck-alice-2",
        "au_alice",
        _hash(cfg, PHONE),
        _hash(cfg, "alice@example.com"),
        _hash(cfg, "wx_alice"),
        _hash(cfg, "Alice Li"),
    ]
    # A later day's history as if Bob had absorbed an old person of Alice's and another one: his row
    # names her id among the related persons. It must lose her id and stay.
    bob = lh.read(catalog.SILVER_IDENTITY_MAP).where(F.col("id_value") == "A0002").first()["person_id"]
    history = lh.read(catalog.SILVER_IDENTITY_HISTORY)
    history.where(F.col("person_id") == bob).limit(1).withColumns(
        {
            "as_of_date": F.lit(D + dt.timedelta(days=1)),
            "change": F.lit("merge"),
            "related_person_ids": F.array(F.lit(person_id), F.lit("p_someone_else")),
        }
    ).write.format("delta").mode("append").save(lh.path(catalog.SILVER_IDENTITY_HISTORY))
    before = _snapshot(lh)
    files_before = _parquet_text(cfg.paths.lakehouse)
    result = erase.run(lh, erase.RunConf.of(cfg), D, identifiers=[f"phone=+86 {PHONE}"])
    return {
        "cfg": cfg,
        "lake": lh,
        "person_id": person_id,
        "bob": bob,
        "markers": markers,
        "before": before,
        "files_before": files_before,
        "result": result,
    }


def test_the_person_is_gone_and_everyone_else_untouched(spark, lake):
    """Erasure over a lake where every stage has run (the module's lake): every table that can hold a person is covered, which a table-by-table test could miss."""
    lh, before, markers = lake["lake"], lake["before"], lake["markers"]
    theirs = {n: df.where(_mentions(df, markers)).count() for n, df in before.items()}
    # Where the person was before (else this test could not fail): every layer, and quarantine.
    for name in (
        catalog.BRONZE_CLICKSTREAM,
        catalog.BRONZE_ORDERS,
        catalog.BRONZE_SOCIAL,
        catalog.BRONZE_CRM,
        catalog.BRONZE_QUARANTINE,
        catalog.SILVER_IDENTITY_MAP,
        catalog.SILVER_EVENTS,
        catalog.SILVER_ORDERS,
        catalog.SILVER_SOCIAL,
        catalog.SILVER_CUSTOMERS,
        catalog.GOLD_PORTRAIT,
    ):
        assert theirs[name] > 0, name
    for name, df in before.items():
        if name == erase.LOG_TABLE:
            continue
        kept = df.where(~_mentions(df, markers))
        if erase.RELATED_COLUMN in df.columns:  # other persons' rows keep everything but her id
            kept = kept.withColumn(
                erase.RELATED_COLUMN, F.array_except(erase.RELATED_COLUMN, F.array(F.lit(lake["person_id"])))
            )
        assertDataFrameEqual(lh.read(name), kept)
    assert lh.read(catalog.GOLD_PORTRAIT).count() == before[catalog.GOLD_PORTRAIT].count() - 1 > 0
    assert lake["result"]["rows_deleted"] == {
        n.full_name: c for n, c in theirs.items() if n not in erase.NO_PERSON_DATA
    }


def test_other_persons_history_rows_lose_her_id_and_stay(spark, lake):
    merged = (
        lake["lake"]
        .read(catalog.SILVER_IDENTITY_HISTORY)
        .where((F.col("person_id") == lake["bob"]) & (F.col("change") == "merge"))
        .collect()
    )
    assert [r["related_person_ids"] for r in merged] == [["p_someone_else"]]
    assert lake["result"]["rows_scrubbed"] == {catalog.SILVER_IDENTITY_HISTORY.full_name: 1}


def test_no_parquet_file_on_disk_holds_the_person(lake):
    markers = lake["markers"]
    leaked_before = [p for p, text in lake["files_before"].items() if any(m in text for m in markers)]
    assert leaked_before, "the person should be in the files before erasure"
    files = _parquet_text(lake["cfg"].paths.lakehouse)
    assert files
    leaked = {p: [m for m in markers if m in text] for p, text in files.items() if any(m in text for m in markers)}
    assert leaked == {}


def test_erasure_log_has_one_row_without_pii(spark, lake):
    cfg, lh = lake["cfg"], lake["lake"]
    logged = lh.read(erase.LOG_TABLE)
    rows = logged.collect()
    assert len(rows) == 1
    row = rows[0]
    assert row["erasure_id"] == lake["result"]["erasure_id"] and row["date"] == D
    assert row["person_hashes"] == [_hash(cfg, lake["person_id"])]
    assert row["requested_by"] == ["phone"]
    assert (
        row["rows_deleted"][catalog.BRONZE_ORDERS.full_name] == 1
        and row["rows_deleted"][catalog.GOLD_PORTRAIT.full_name] == 1
    )
    assert set(row["tables_vacuumed"]) == {
        n.full_name for n in catalog.ALL if lh.exists(n) and n not in erase.NO_PERSON_DATA
    }
    text = str(row.asDict(recursive=True))
    for secret in (PHONE, *lake["markers"]):
        assert secret not in text


def test_erasing_again_by_person_id_deletes_nothing_and_is_logged(spark, lake):
    """A second erasure through the CLI's dispatch on the lake the first one erased: every table of
    the lake is compared whole (nothing else deleted) and the request is logged by hash; only a lake
    every stage wrote has every table an erasure must search."""
    cfg, lh = lake["cfg"], lake["lake"]
    contents = {n: df for n, df in _snapshot(lh).items() if n != erase.LOG_TABLE}
    args = cli._parser().parse_args(
        ["erase", "--conf", "conf/local.yaml", "--date", D.isoformat(), "--person-id", lake["person_id"]]
    )
    result = cli.run_job("erase", spark, cfg, args)
    assert set(result["rows_deleted"].values()) == {0}
    for name, df in contents.items():
        assertDataFrameEqual(lh.read(name), df)
    assertDataFrameEqual(
        lh.read(erase.LOG_TABLE)
        .where(F.col("erasure_id") == result["erasure_id"])
        .select("person_hashes", "requested_by"),
        spark.createDataFrame(
            [([_hash(cfg, lake["person_id"])], ["person_id"])],
            "person_hashes array<string>, requested_by array<string>",
        ),
    )


def test_an_unknown_identifier_is_an_error_naming_it_and_deletes_nothing(spark, lake):
    cfg, lh = lake["cfg"], lake["lake"]
    contents = _snapshot(lh)
    with pytest.raises(erase.ErasureError, match=r"phone=\*+9999 \(not in silver.identity_map\)") as exc:
        erase.run(lh, erase.RunConf.of(cfg), D, identifiers=["phone=13000009999", "account=A0002"])
    assert "13000009999" not in str(exc.value)  # the clear phone is masked even in the error
    with pytest.raises(erase.ErasureError, match="account=A9999"):
        erase.run(lh, erase.RunConf.of(cfg), D, identifiers=["account=A9999"])
    with pytest.raises(erase.ErasureError, match="unknown identifier type 'fax'"):
        erase.run(lh, erase.RunConf.of(cfg), D, identifiers=["fax=123"])
    for name, df in contents.items():
        assertDataFrameEqual(lh.read(name), df)


def test_person_rows_condition_matches_ids_as_whole_tokens(spark):
    df = spark.createDataFrame(
        [('{"account_id":"A1"}',), ('{"account_id":"A10"}',), ("x,A1.2",), ("ab" * 32,), (None,)],
        "raw_record string",
    )
    cond = erase.person_rows(df.columns, {"account": ["A1"], "phone": ["ab" * 32]}, ["p_x"])
    assertDataFrameEqual(
        df.where(cond),
        spark.createDataFrame([('{"account_id":"A1"}',), ("x,A1.2",), ("ab" * 32,)], "raw_record string"),
    )


def test_sealed_records_are_found_by_the_persons_identifiers_opened_with_the_key(spark):
    """A quarantined line kept encrypted names a person by a clear id or by PII in any field: found
    with the key, and the delete condition names the records as stored (no key material in it)."""
    from portrait import privacy

    key = b"k" * 32
    lines = [
        "A7,Qian,13987654321,,x\x01",  # their phone, in clear inside the sealed line
        "A8,Li,,li@example.org,x\x01",  # someone else
        "A70,Zhao,,,x\x01",  # an account id that only starts like theirs
        "A9,Wu,,,x,account A7\x01",  # their account id as a token
    ]
    df = spark.createDataFrame([(x,) for x in lines], "line string").select(
        privacy.encrypt_text(F.col("line"), key).alias("raw_record")
    )
    phone = df.select(privacy.pseudonymise(F.lit("139 8765 4321"), "phone", key)).first()[0]
    found = erase.sealed_records(df, {"account": ["A7"], "phone": [phone]}, key)
    opened = df.where(F.col("raw_record").isin(found)).select(privacy.decrypt_text("raw_record", key)).collect()
    assert sorted(r[0] for r in opened) == sorted([lines[0], lines[3]])
    cond = erase.person_rows(df.columns, {"phone": [phone]}, [], sealed=found)
    assert df.where(cond).count() == 2 and key.hex() not in str(cond)
    assert erase.sealed_records(df, {}, key) == []


def test_no_delta_log_file_holds_the_person(lake):
    """The transaction log (commit JSON, checkpoints, checksums) must not name the person either:
    neither the file statistics (min/max values) nor the DELETE predicates of the erasure."""
    markers = lake["markers"]
    root = Path(lake["cfg"].paths.lakehouse)
    logs = [p for p in root.rglob("*") if "_delta_log" in p.parts and p.is_file()]
    assert logs
    leaked = {}
    for p in logs:
        text = str(pq.read_table(p).to_pylist()) if p.suffix == ".parquet" else p.read_text(errors="replace")
        found = [m for m in markers if m in text]
        if found:
            leaked[str(p.relative_to(root))] = found
    assert leaked == {}
