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


# Each pattern is linear in the text's length: a match can start only where its run of
# characters starts (a one-character lookbehind), and runs are taken possessively (`++`, `*+`),
# so the engine never rescans a run from each of its positions. The former email pattern
# (`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`) retried every start of a long run of letters
# and was quadratic: 20 KB took 12 s, 40 KB 34 s (bench/ingest_text_cost.py). No pattern repeats
# a group, since java.util.regex recurses once per repetition of a group (a stack overflow on
# megabyte values).
_EMAIL_RE = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]++\.[A-Za-z0-9.-]*+"
_PHONE_RE = r"(?<![0-9])\+?[0-9][0-9 ()-]{6,}[0-9]"
_WECHAT_RE = r"(?<![A-Za-z0-9_])wx_[A-Za-z0-9_-]++"
# Names cannot be told from other words: where a record holding a name field cannot be parsed,
# every run of letters is masked and only its shape (digits, punctuation, masked PII) is kept.
_LETTERS_RE = r"\p{L}++"


def redact_free_text(col: Column) -> Column:
    """Mask emails, phone-like digit runs and WeChat ids inside a text (`<email>`, `<phone>`,
    `<wechat_id>`); the rest of the text is kept, so the text model still reads it.

    Used for free-text fields, unknown fields and the raw record of quarantined lines. Linear in
    the text's length (three native `regexp_replace`, no backtracking across a run).
    """
    out = F.regexp_replace(col, _EMAIL_RE, "<email>")
    out = F.regexp_replace(out, _WECHAT_RE, "<wechat_id>")
    return F.regexp_replace(out, _PHONE_RE, "<phone>")


def redact_words(col: Column) -> Column:
    """`redact_free_text`, then every run of letters replaced by `x`: for unparseable records of a
    source with a name field, where the name cannot be located. Linear."""
    return F.regexp_replace(redact_free_text(col), _LETTERS_RE, "x")
