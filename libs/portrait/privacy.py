"""Pseudonymisation of PII with keyed hashes (HMAC-SHA256), in native Spark expressions.

HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The two padded keys are computed once on the
driver from the secret key; each row then costs two `sha2` calls, no Python UDF. The result
equals Python's `hmac.new(key, m, sha256).hexdigest()` (tested).

Identifiers are normalised first so that formatting does not split a person:
phones keep their digits (a leading 86 country code is dropped), emails are trimmed and lower-cased.
"""

from __future__ import annotations

import hashlib
import hmac

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
    return _hmac_bytes(F.encode(value, "UTF-8"), key)


def _hmac_bytes(value: Column, key: bytes) -> Column:
    """Hex HMAC-SHA256 of a binary column under `key`."""
    inner_hex, outer_hex = _padded_keys(key)
    inner = F.sha2(F.concat(F.unhex(F.lit(inner_hex)), value), 256)
    return F.sha2(F.concat(F.unhex(F.lit(outer_hex)), F.unhex(inner)), 256)


# Full-width digits (a phone typed with a CJK input method) are the same digits.
_FULL_WIDTH_DIGITS = "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"


def normalise_phone(col: Column) -> Column:
    """Digits only (full-width digits as ASCII); drop a leading 86 country code from 13-digit
    numbers; empty -> null."""
    digits = F.regexp_replace(F.translate(col, _FULL_WIDTH_DIGITS, "0123456789"), r"[^0-9]", "")
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
# What is caught, however it is spelled (README, Privacy): an email with Unicode letters in either
# part (`josé@exämple.org`, `用户@例子.中国`), a full-width `＠`/`．`, or written out (`(at)`, `[at]`,
# `{dot}`, spaces around them); a phone of 8+ digits, ASCII or any Unicode digits (full-width
# included), with spaces, brackets and hyphens between them; a WeChat id `wx_…`/`wxid_…`, or any id
# after a cue (`微信`, `微信号`, `WeChat ID`, or `WeChat:`/`weixin:`/`vx:` with a colon). Not caught:
# an email spelled out without brackets (`carol at example dot com`), a phone with dots between
# its digits, an id named by no cue.
_AT = r"\s*+(?:[@\uff20]|[(\[{<]\s*+(?i:at)\s*+[)\]}>])\s*+"
_DOT = r"\s*+(?:[.\uff0e]|[(\[{<]\s*+(?i:dot)\s*+[)\]}>])\s*+"
_EMAIL_RE = r"(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]++" + _AT + r"[\p{L}\p{N}-]++" + _DOT + r"[\p{L}\p{N}.\uff0e-]*+"
_PHONE_RE = r"(?<!\p{Nd})\+?\p{Nd}[\p{Nd} ()\-\uff0d\u3000]{6,}\p{Nd}"
_WECHAT_RE = r"(?<![A-Za-z0-9_])wx(?:id)?_[A-Za-z0-9_-]++"
_WECHAT_CUE_RE = (
    r"((?:\u5fae\u4fe1\u53f7?|(?i:wechat\s*+id|weixin\s*+id))\s*+[:\uff1a]?\s*+"
    r"|(?i:wechat|weixin|vx)\s*+[:\uff1a]\s*+)[A-Za-z][-_A-Za-z0-9]{5,}+"
)


def redact_free_text(col: Column) -> Column:
    """Mask emails, phone-like digit runs and WeChat ids inside a text (`<email>`, `<phone>`,
    `<wechat_id>`); the rest of the text is kept, so the text model still reads it.

    Used for free-text fields, unknown fields (their names too: `redact_keys`) and the raw record
    of quarantined lines. Linear in the text's length (native `regexp_replace`s whose runs are
    taken possessively, no backtracking across a run).
    """
    out = F.regexp_replace(col, _EMAIL_RE, "<email>")
    out = F.regexp_replace(out, _WECHAT_CUE_RE, "$1<wechat_id>")
    out = F.regexp_replace(out, _WECHAT_RE, "<wechat_id>")
    return F.regexp_replace(out, _PHONE_RE, "<phone>")


def redact_keys(col: Column) -> Column:
    """A string map with `redact_free_text` applied to its keys (an email used as a JSON key). A key
    that masking changed gets `#<position>` so that two masked keys stay two entries."""

    def entry(e: Column, i: Column) -> Column:
        masked = redact_free_text(e["key"])
        key = F.when(masked == e["key"], e["key"]).otherwise(F.concat(masked, F.lit("#"), i.cast("string")))
        return F.struct(key.alias("key"), e["value"].alias("value"))

    return F.when(col.isNotNull(), F.map_from_entries(F.transform(F.map_entries(col), entry)))


# --- Encrypted quarantine records (issue 28): a line whose fields cannot be told apart is kept whole,
# encrypted under a key derived from the PII key, so an operator holding the key can read what
# arrived (`portrait quarantine --reveal`) and nobody else can. AES-256-GCM (Spark's native
# `aes_encrypt`, no UDF) with a synthetic IV, the first 12 bytes of an HMAC of the line under a
# second derived key: the same line encrypts to the same text, so a rerun writes the same table
# (a random IV would not), and equal IVs happen only for equal lines (which equal ciphertexts
# reveal, as equal hashes already do). The stored text is `ENCRYPTED` + base64(IV || ciphertext || tag).
ENCRYPTED = "aes-gcm:"


def _derived(key: bytes, purpose: str) -> str:
    """A 256-bit key for one purpose, derived from the PII key (HMAC-SHA256), in hex."""
    return hmac.new(key, f"portrait {purpose}".encode(), hashlib.sha256).hexdigest()


def encrypt_text(col: Column, key: bytes, *, max_chars: int | None = None) -> Column:
    """`ENCRYPTED` + base64 of AES-256-GCM of the UTF-8 text under a key derived from `key`; null
    stays null. With `max_chars`, the text's bytes are cut first so that the result fits in it."""
    plain = F.encode(col, "UTF-8")
    if max_chars is not None:  # base64 makes 4 characters of 3 bytes; the IV and tag add 28 bytes
        plain = F.substring(plain, 1, max(0, (max_chars - len(ENCRYPTED)) // 4 * 3 - 28))
    iv = F.substring(F.unhex(_hmac_bytes(plain, bytes.fromhex(_derived(key, "quarantine iv")))), 1, 12)
    sealed = F.aes_encrypt(plain, F.unhex(F.lit(_derived(key, "quarantine aes"))), F.lit("GCM"), F.lit("DEFAULT"), iv)
    # Spark's base64 breaks its text into MIME lines of 76 characters (CR LF): one line here.
    return F.when(col.isNotNull(), F.concat(F.lit(ENCRYPTED), F.regexp_replace(F.base64(sealed), r"[\r\n]", "")))


def decrypt_text(col: Column | str, key: bytes) -> Column:
    """The text `encrypt_text` sealed; a text that is not sealed as it is; null where `key` is not
    the one it was sealed under (GCM's tag does not verify)."""
    col = F.col(col) if isinstance(col, str) else col
    body = F.unbase64(F.substring(col, len(ENCRYPTED) + 1, 1 << 30))
    opened = F.try_aes_decrypt(body, F.unhex(F.lit(_derived(key, "quarantine aes"))), F.lit("GCM"), F.lit("DEFAULT"))
    return F.when(col.startswith(ENCRYPTED), F.decode(opened, "UTF-8")).otherwise(col)


# Where a record is cut into tokens when an encrypted record is searched for a person's identifiers
# (erase): CSV, JSON and key-value punctuation; and, for a second set, white space too (an email
# inside a sentence). A phone written with spaces is one token of the first set.
_FIELD_SEPARATORS = r"[,;\t|\"'{}\[\]=:]+"
_WORD_SEPARATORS = r"[,;\t|\"'{}\[\]=:\s]+"


def hashed_tokens(text: Column, kind: str, key: bytes) -> Column:
    """Every token of `text` normalised and hashed as an identifier of `kind` (`pseudonymise`): a
    record's identifiers of that kind are among them, whatever field they sit in."""
    tokens = F.concat(F.split(text, _FIELD_SEPARATORS), F.split(text, _WORD_SEPARATORS))
    return F.transform(tokens, lambda t: pseudonymise(t, kind, key))
