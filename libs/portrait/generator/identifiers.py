"""Identifiers as in life: accounts, cookies, phones, e-mails, WeChat and social ids.

Canonical values are unique per person by construction (scrambled person keys), except
the deliberately shared ones: family-tablet cookies, store-kiosk cookies, placeholder
phones/e-mails and the call-centre phone. Raw spellings (``+86 138 1234 5678``, upper-case
mail with spaces...) are produced per occurrence by ``raw_phone`` / ``raw_email``.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from . import names, rand
from .persons import NEW

PLACEHOLDER_EMAILS = ("test@test.com", "none@none.com", "noemail@example.com")
PLACEHOLDER_PHONES = ("00000000000", "13800138000")
CALL_CENTRE_PHONE = "15900001234"
RESERVED_PHONES = PLACEHOLDER_PHONES + (CALL_CENTRE_PHONE,)

ACCOUNT_SHARE_ESTABLISHED = 0.833  # new customers all have accounts: ~85 % overall
PHONE_SHARE, EMAIL_SHARE, WECHAT_SHARE = 0.85, 0.70, 0.60
# Share of 4-person blocks owning a family tablet: makes ~2 % of cookie values shared.
FAMILY_BLOCK_SHARE = 0.118
FAMILY_BLOCK = 4
KIOSK_SESSION_SHARE = 0.15
FAMILY_SESSION_SHARE = 0.25


def n_hubs(n_persons: int) -> int:
    """Number of store-kiosk cookies: 2 at SF >= 0.5, else 1."""
    return 2 if n_persons >= 50_000 else 1


def kiosk_user_share(n_persons: int) -> float:
    """Share of persons who sometimes browse on a kiosk: ~100 per kiosk, at most 8 %."""
    return min(0.08, 100.0 * n_hubs(n_persons) / max(n_persons, 1))


def account_digits(n_persons: int) -> int:
    """Digits of account numbers (``A0000123``: 7, more only beyond 10M persons)."""
    return max(7, len(str(max(n_persons - 1, 0))))


def _url_base64(seed: int, salt: str, length: int) -> Column:
    digest = f"sha2(concat_ws('|', '{int(seed)}', {rand.sql_string(salt)}, CAST(person_key AS STRING)), 256)"
    return F.expr(f"substring(translate(base64(unhex({digest})), '+/=', '-_'), 1, {length})")


def own_cookie(seed: int, index) -> Column:
    """The person's own cookie number ``index`` (an int or the name of an int column)."""
    return rand.uuid_like(seed, "cookie", "person_key", index)


def identifier_stages(*, seed: int, n_persons: int) -> list[dict[str, Column]]:
    """Column stages adding identifiers to a frame with ``person_key`` and the latent columns.

    Returns:
        Stages adding ``has_account``, ``account_id`` (null without), ``signup_day`` (day
        index, negative = before the window, null without account), ``n_cookies``, ``own_cookies``,
        ``family_cookie`` and ``kiosk_cookie`` (null unless the person uses one), ``cookies``
        (all of them), ``phone``, ``email``, ``wechat_id`` (canonical, null when the person
        has none), ``author_wechat``, ``author_weibo``, ``author_xiaohongshu`` and
        ``social_author_ids`` (in catalog.PLATFORMS order).
    """
    return [
        _identifier_draws(seed, n_persons),
        _family_stage(seed),
        _identifier_values(seed, n_persons),
        _cookie_stage(seed),
    ]


def _identifier_draws(seed: int, n_persons: int) -> dict[str, Column]:
    """Stage 1: the person's identifier draws (which identifiers they have, cookie count, kiosk,
    signup, the parts of phone and e-mail) and their social author ids."""
    pk = "person_key"
    digits = account_digits(n_persons)
    return {
        "family_grp": F.floor(F.col(pk) / F.lit(FAMILY_BLOCK)).cast("long"),
        "u_cookies": rand.uniform(seed, "n_cookies", pk),
        "u_mail_style": rand.uniform(seed, "mail_style", pk),
        "u_mail_domain": rand.uniform(seed, "mail_domain", pk),
        "nickname": rand.pick_uniform(names.NICKNAMES, seed, "nickname", pk),
        "mail_number": rand.scramble(pk, 10**digits, 1_234_567, 891).cast("string"),
        "phone_body": F.concat(
            rand.pick_uniform(names.MOBILE_PREFIXES, seed, "phone_prefix", pk),
            F.lpad(rand.scramble(pk, 10**8, 3_571_429, 12_345).cast("string"), 8, "0"),
        ),
        "has_account": (F.col("arch") == F.lit(NEW))
        | (rand.uniform(seed, "has_account", pk) < F.lit(ACCOUNT_SHARE_ESTABLISHED)),
        "has_phone": rand.uniform(seed, "has_phone", pk) < F.lit(PHONE_SHARE),
        "has_email": rand.uniform(seed, "has_email", pk) < F.lit(EMAIL_SHARE),
        "has_wechat": rand.uniform(seed, "has_wechat", pk) < F.lit(WECHAT_SHARE),
        "wechat_is_unionid": rand.uniform(seed, "wechat_style", pk) >= F.lit(0.5),
        "is_kiosk_user": rand.uniform(seed, "kiosk", pk) < F.lit(kiosk_user_share(n_persons)),
        "kiosk_hub": rand.randint(seed, "kiosk_hub", n_hubs(n_persons), pk),
        "signup_back": rand.randint(seed, "signup", 5 * 365, pk),
        "n_cookies": F.expr("1 + CAST(u_cookies < 0.35D AS INT) + CAST(u_cookies < 0.10D AS INT)"),
        "author_wechat": F.concat(F.lit("oW"), _url_base64(seed, "openid", 26)),
        "author_weibo": (F.lit(5_000_000_000) + rand.scramble(pk, 10**9, 7_777_777, 99)).cast("string"),
        "author_xiaohongshu": F.concat(rand.hex16(seed, "xhs", pk), F.substring(rand.hex16(seed, "xhs2", pk), 1, 8)),
    }


def _family_stage(seed: int) -> dict[str, Column]:
    """Stage 2: own cookies, the family block's size and draw, and the e-mail domain pick."""
    return {
        "own_cookies": F.slice(F.array(*[own_cookie(seed, i) for i in range(3)]), 1, F.col("n_cookies")),
        "family_size": F.lit(2) + rand.randint(seed, "family_size", 3, "family_grp"),
        "family_pick": rand.uniform(seed, "family", "family_grp"),
        "mail_domain_idx": rand.weighted_index("u_mail_domain", names.EMAIL_DOMAIN_WEIGHTS),
    }


def _identifier_values(seed: int, n_persons: int) -> dict[str, Column]:
    """Stage 3: the canonical identifier values (account, phone, e-mail, WeChat id, kiosk cookie),
    null when the person has none, the signup day, whether the person shares a family tablet and
    the list of their social author ids."""
    pk = "person_key"
    digits = account_digits(n_persons)
    phone = F.col("phone_body")
    mail_style = F.col("u_mail_style")
    qq_number = (F.lit(100_000_000) + rand.scramble(pk, 10**8, 9_876_543, 4_321)).cast("string")
    mail_local = (
        F.when(mail_style < F.lit(0.6), F.concat(F.col("name_pinyin"), F.col("mail_number")))
        .when(mail_style < F.lit(0.85), qq_number)
        .otherwise(F.concat(F.col("nickname"), F.lit("_"), F.col("mail_number")))
    )
    mail_domain = F.when(mail_style.between(0.6, 0.85), F.lit("qq.com")).otherwise(
        rand.pick(names.EMAIL_DOMAINS, "mail_domain_idx")
    )
    wechat = F.when(F.col("wechat_is_unionid"), F.concat(F.lit("o"), _url_base64(seed, "unionid", 27))).otherwise(
        F.concat(F.lit("wx_"), F.col("nickname"), F.col("mail_number"))
    )
    is_family = (
        (F.col("family_pick") < F.lit(FAMILY_BLOCK_SHARE))
        & (F.pmod(F.col(pk), F.lit(FAMILY_BLOCK)) < F.col("family_size"))
        & (F.col("family_grp") * F.lit(FAMILY_BLOCK) + F.col("family_size") <= F.lit(n_persons))
    )
    return {
        "is_family": is_family,
        "account_id": F.when(
            F.col("has_account"), F.format_string(f"A%0{digits}d", rand.scramble(pk, 10**digits, 7_654_321, 4_242))
        ),
        "signup_day": F.when(F.col("arch") == F.lit(NEW), F.col("start_day")).when(
            F.col("has_account"), F.lit(-30) - F.col("signup_back")
        ),
        # A generated number that happens to equal a reserved one gets another prefix.
        "phone": F.when(
            F.col("has_phone"),
            F.when(phone.isin(*RESERVED_PHONES), F.concat(F.lit("199"), F.substring(phone, 4, 8))).otherwise(phone),
        ),
        "email": F.when(F.col("has_email"), F.concat(mail_local, F.lit("@"), mail_domain)),
        "wechat_id": F.when(F.col("has_wechat"), wechat),
        "kiosk_cookie": F.when(F.col("is_kiosk_user"), rand.uuid_like(seed, "kiosk_cookie", "kiosk_hub")),
        "social_author_ids": F.array("author_wechat", "author_weibo", "author_xiaohongshu"),
    }


def _cookie_stage(seed: int) -> dict[str, Column]:
    """Stage 4: the family cookie and all of the person's cookies."""
    empty = F.array().cast("array<string>")
    return {
        "family_cookie": F.when(F.col("is_family"), rand.uuid_like(seed, "family_cookie", "family_grp")),
        "cookies": F.concat(
            F.col("own_cookies"),
            F.when(F.col("is_family"), F.array(rand.uuid_like(seed, "family_cookie", "family_grp"))).otherwise(empty),
            F.when(F.col("is_kiosk_user"), F.array("kiosk_cookie")).otherwise(empty),
        ),
    }


def raw_phone(phone: Column, u: Column) -> Column:
    """A phone as typed in a source: ``13812345678``, ``+86 138 1234 5678`` or ``138-1234-5678``."""
    spaced = F.concat(
        F.lit("+86 "),
        F.substring(phone, 1, 3),
        F.lit(" "),
        F.substring(phone, 4, 4),
        F.lit(" "),
        F.substring(phone, 8, 4),
    )
    dashed = F.concat(
        F.substring(phone, 1, 3), F.lit("-"), F.substring(phone, 4, 4), F.lit("-"), F.substring(phone, 8, 4)
    )
    return F.when(u < F.lit(0.6), phone).when(u < F.lit(0.8), spaced).otherwise(dashed)


def raw_email(email: Column, u: Column) -> Column:
    """An e-mail as typed: sometimes upper/capitalised, sometimes with surrounding spaces."""
    cased = (
        F.when(u < F.lit(0.10), F.upper(email))
        .when(u < F.lit(0.20), F.concat(F.upper(F.substring(email, 1, 1)), F.substring(email, 2, 200)))
        .otherwise(email)
    )
    return (
        F.when((u >= F.lit(0.5)) & (u < F.lit(0.54)), F.concat(F.lit(" "), cased, F.lit(" ")))
        .when((u >= F.lit(0.54)) & (u < F.lit(0.57)), F.concat(cased, F.lit(" ")))
        .otherwise(cased)
    )
