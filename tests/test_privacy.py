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
