"""PII pseudonymisation: native HMAC equals Python's, normalisation unites formats."""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import functions as F

from portrait import privacy

KEY = b"unit-test-key"


def test_native_hmac_matches_python(spark):
    values = ["13812345678", "alice@example.com", "ä中文", ""]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = [r.h for r in df.select(privacy.hmac_sha256(F.col("v"), KEY).alias("h")).collect()]
    want = [hmac.new(KEY, v.encode("utf-8"), hashlib.sha256).hexdigest() for v in values]
    assert got == want


def test_long_key_is_hashed_first_like_rfc2104(spark):
    key = b"k" * 100
    got = spark.createDataFrame([("x",)], "v string").select(privacy.hmac_sha256(F.col("v"), key)).first()[0]
    assert got == hmac.new(key, b"x", hashlib.sha256).hexdigest()


def test_phone_and_email_formats_normalise_to_one_hash(spark):
    df = spark.createDataFrame(
        [("+86 138-1234-5678", " Alice@Example.COM "), ("13812345678", "alice@example.com"), ("", None)],
        "phone string, email string",
    )
    rows = df.select(
        privacy.pseudonymise(F.col("phone"), "phone", KEY).alias("p"),
        privacy.pseudonymise(F.col("email"), "email", KEY).alias("e"),
    ).collect()
    assert rows[0]["p"] == rows[1]["p"] and rows[0]["e"] == rows[1]["e"]
    assert rows[2]["p"] is None and rows[2]["e"] is None


def test_free_text_redaction_masks_identifiers(spark):
    text = 'broken {"phone": "+86 138 1234 5678", "email": "bob@x.cn", "wechat_id": "wx_abc123"'
    out = spark.createDataFrame([(text,)], "t string").select(privacy.redact_free_text(F.col("t"))).first()[0]
    assert "1234" not in out and "bob@x.cn" not in out and "wx_abc123" not in out
    assert "<phone>" in out and "<email>" in out and "<wechat_id>" in out


def test_encrypted_text_opens_with_its_key_only_and_is_the_same_each_time(spark):
    """A quarantined line kept whole is sealed under the PII key: the same line seals to the same
    text (a rerun writes the same table), another key opens nothing, a cut keeps it within bounds."""
    key = b"k" * 32
    lines = ["A7,Qian Wei,13987654321,qian.wei@example.org", "用户@例子.中国,\x01", "", None]
    df = spark.createDataFrame([(x,) for x in lines], "line string")
    sealed = df.select(privacy.encrypt_text(F.col("line"), key).alias("s"))
    again = df.select(privacy.encrypt_text(F.col("line"), key).alias("s"))
    assert sealed.collect() == again.collect()
    opened = sealed.select(
        privacy.decrypt_text(F.col("s"), key).alias("mine"), privacy.decrypt_text(F.col("s"), b"x" * 32).alias("other")
    ).collect()
    assert [r["mine"] for r in opened] == lines
    assert [r["other"] for r in opened] == [None, None, None, None]
    texts = [r["s"] for r in sealed.collect()]
    assert all(t.startswith(privacy.ENCRYPTED) and "Qian" not in t and "1398" not in t for t in texts[:3])
    # A text that is not sealed is returned as it is (a record masked field by field).
    plain = spark.createDataFrame([('{"event_id":"e1"}',)], "s string")
    assert plain.select(privacy.decrypt_text(F.col("s"), key)).first()[0] == '{"event_id":"e1"}'
    cut = df.select(privacy.encrypt_text(F.col("line"), key, max_chars=64).alias("s"))
    assert max(len(r["s"]) for r in cut.collect() if r["s"]) <= 64
    assert cut.select(privacy.decrypt_text("s", key)).first()[0] == lines[0][:14]  # (64 - 8) // 4 * 3 - 28 bytes


def test_hashed_tokens_find_an_identifier_in_any_field_of_a_line(spark):
    key = b"k" * 32
    line = 'A7,Qian Wei,139 8765 4321,"Qian.Wei@Example.org",wx_qian'
    df = spark.createDataFrame([(line,)], "line string")
    row = df.select(
        *[privacy.hashed_tokens(F.col("line"), kind, key).alias(kind) for kind in ("phone", "email", "wechat_id")],
        privacy.pseudonymise(F.lit("13987654321"), "phone", key).alias("p"),
        privacy.pseudonymise(F.lit("qian.wei@example.org"), "email", key).alias("e"),
        privacy.pseudonymise(F.lit("wx_qian"), "wechat_id", key).alias("w"),
    ).first()
    assert row["p"] in row["phone"] and row["e"] in row["email"] and row["w"] in row["wechat_id"]
