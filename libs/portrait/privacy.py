"""Pseudonymisation of PII with keyed hashes (HMAC-SHA256), in native Spark expressions.

HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The two padded keys are computed once on the
driver from the secret key; each row then costs two `sha2` calls, no Python UDF. The result
equals Python's `hmac.new(key, m, sha256).hexdigest()` (tested).

Identifiers are normalised first so that formatting does not split a person:
phones keep their digits (a leading 86 country code is dropped), emails are trimmed and lower-cased.
"""
from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

_BLOCK = 64  # SHA-256 block size in bytes


def _padded_keys(key: bytes) -> tuple[str, str]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def hmac_sha256(value: Column, key: bytes) -> Column:
    """Hex HMAC-SHA256 of a string column under `key`; null stays null."""
    inner_hex, outer_hex = _padded_keys(key)
    inner = F.sha2(F.concat(F.unhex(F.lit(inner_hex)), F.encode(value, "UTF-8")), 256)
    return F.sha2(F.concat(F.unhex(F.lit(outer_hex)), F.unhex(inner)), 256)


def normalise_phone(col: Column) -> Column:
    """Digits only; drop a leading 86 country code from 13-digit numbers; empty -> null."""
    digits = F.regexp_replace(col, r"[^0-9]", "")
    digits = F.when((F.length(digits) == 13) & digits.startswith("86"), F.substring(digits, 3, 11)).otherwise(digits)
    return F.when(F.length(digits) > 0, digits)


def normalise_email(col: Column) -> Column:
    """Trimmed, lower-cased; empty -> null."""
    e = F.lower(F.trim(col))
    return F.when(F.length(e) > 0, e)


def normalise_text_id(col: Column) -> Column:
    """Trimmed; empty -> null (WeChat ids are case-sensitive, names are kept as written)."""
    t = F.trim(col)
    return F.when(F.length(t) > 0, t)


NORMALISERS = {
    "phone": normalise_phone,
    "email": normalise_email,
    "wechat_id": normalise_text_id,
    "name": normalise_text_id,
}


def pseudonymise(col: Column, kind: str, key: bytes) -> Column:
    """Normalise an identifier of `kind` (phone, email, wechat_id, name) and hash it."""
    return hmac_sha256(NORMALISERS[kind](col), key)


_EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_PHONE_RE = r"\+?[0-9][0-9 ()-]{6,}[0-9]"
_WECHAT_RE = r"\bwx_[A-Za-z0-9_-]+"


def redact_free_text(col: Column) -> Column:
    """Mask emails, phone-like digit runs and WeChat ids in text we could not parse.

    Used for the raw record of quarantined lines: we cannot locate their PII fields, but
    clear PII must not be written anywhere.
    """
    out = F.regexp_replace(col, _EMAIL_RE, "<email>")
    out = F.regexp_replace(out, _WECHAT_RE, "<wechat_id>")
    return F.regexp_replace(out, _PHONE_RE, "<phone>")
