"""Social posts, comments and reviews (JSON lines) and their sentiment/topic labels.

A person writes about ``Binomial(SLOTS, p)`` texts over the window, p from the archetype's
social rate and the person's social multiplier. Sentiment follows the archetype
(drifting persons complain), topics follow preferred categories, review ratings follow
sentiment.

Who wrote a record is known as a brand knows it. ``author_id`` is the platform's id of the
author (a WeChat openid, a Weibo uid, a Xiaohongshu user id). Records on WeChat also carry
the author's WeChat id (``wechat_id``, the unionid the brand's official account sees) when
the person has one; Weibo and Xiaohongshu never reveal it. An author who has bound their
brand membership on a platform (through the brand's mini-program or official account, or
by signing in to review an order) has their ``account_id`` on every record there: members
bind on a platform with probability ``MEMBER_BINDING_SHARE`` (most, not all); persons
without an account have nothing to bind.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from . import activity, catalog, dirty, model, rand, text
from .persons import DRIFTING, by_archetype
from .spec import Spec

SLOTS = 12
POST_TYPES = ("review", "post", "comment")
POST_TYPE_SHARES = (0.40, 0.35, 0.25)
PLATFORM_PREFIX = ("wx", "wb", "xhs")
WECHAT = 0  # catalog.PLATFORMS index
# Per platform (catalog.PLATFORMS order): share of account holders whose records there carry
# their account_id. WeChat binds most (the mini-program signs members in with WeChat).
MEMBER_BINDING_SHARE = (0.90, 0.80, 0.80)
# Per archetype: shares of positive, neutral, negative.
SENTIMENT_SHARES = (
    (0.65, 0.25, 0.10),
    (0.45, 0.35, 0.20),
    (0.40, 0.45, 0.15),
    (0.55, 0.30, 0.15),
    (0.15, 0.30, 0.55),
    (0.30, 0.40, 0.30),
)
FIELDS = (
    "post_id",
    "platform",
    "wechat_id",
    "author_id",
    "account_id",
    "post_type",
    "text",
    "rating",
    "product_id",
    "likes",
    "shares",
    "ts",
)
N_DIRTY_KINDS = 4  # truncated line, missing post_id, rating out of range, ts out of range
POST_KEYS = ("person_key", "slot")


def _sentiment(u: Column) -> Column:
    first = by_archetype([w[0] for w in SENTIMENT_SHARES])
    second = by_archetype([w[0] + w[1] for w in SENTIMENT_SHARES])
    return (u >= first).cast("int") + (u >= second).cast("int")


def _rating(sentiment: Column, u: Column) -> Column:
    return (
        F.when(sentiment == F.lit(0), F.when(u < F.lit(0.7), F.lit(5)).otherwise(F.lit(4)))
        .when(
            sentiment == F.lit(1), F.when(u < F.lit(0.6), F.lit(3)).when(u < F.lit(0.8), F.lit(4)).otherwise(F.lit(2))
        )
        .otherwise(F.when(u < F.lit(0.55), F.lit(1)).otherwise(F.lit(2)))
    )


def posts(persons: DataFrame, spec: Spec) -> DataFrame:
    """One row per generated text: ``date``, ``value`` (the JSON line), ``_dirty``, ``_dup``,
    and the labels ``post_id``, ``sentiment``, ``topic`` (clean values, also for dirty lines).

    Args:
        persons: ``spec.persons(spark)``.
        spec: the run's parameters.
    """
    seed = spec.seed
    df = _written_slots(persons, spec)
    df = df.withColumns(_post_draws(seed))
    df = df.withColumns(_post_choices(spec))
    fields = _post_fields(spec)
    df = df.select(*POST_KEYS, "day", "sentiment_idx", "topic_idx", "post_ms", *[v.alias(k) for k, v in fields.items()])
    df = dirty.with_markers(df, seed, "social", spec.dirty_fraction, N_DIRTY_KINDS, *POST_KEYS)
    return df.select(
        activity.date_string(spec.start_date, F.col("day")).alias("date"),
        _json_value(spec).alias("value"),
        "_dirty",
        "_dup",
        "post_id",
        rand.pick(text.SENTIMENTS, "sentiment_idx").alias("sentiment"),
        rand.pick(catalog.CATEGORIES, "topic_idx").alias("topic"),
    )


def _active_days(spec: Spec) -> Column:
    """Days of the window the person exists (from their ``start_day``)."""
    return F.lit(spec.days) - F.col("start_day")


def _written_slots(persons: DataFrame, spec: Spec) -> DataFrame:
    """One row per (person, ``slot``) the person writes a text in: each of ``SLOTS`` slots with
    probability ``p_slot``, from the archetype's social rate and the person's multiplier."""
    mean_posts = by_archetype(model.SOCIAL_RATE) * F.col("mult_s") * _active_days(spec)
    df = persons.withColumns(
        {
            "p_slot": F.least(mean_posts / F.lit(SLOTS), F.lit(0.9)),
            "slot": F.explode(F.sequence(F.lit(0), F.lit(SLOTS - 1))),
        }
    )
    return df.where(rand.uniform(spec.seed, "post", *POST_KEYS) < F.col("p_slot"))


def _post_draws(seed: int) -> dict[str, Column]:
    """A text's draws: day, platform, type and sentiment uniforms, topic, likes and time of day."""
    return {
        "u_day": rand.uniform(seed, "post_day", *POST_KEYS),
        "u_platform": rand.uniform(seed, "platform", *POST_KEYS),
        "u_post_type": rand.uniform(seed, "post_type", *POST_KEYS),
        "u_sentiment": rand.uniform(seed, "sentiment", *POST_KEYS),
        "topic_idx": catalog.pick_category(seed, "topic", *POST_KEYS, p_first=0.6, p_second=0.25),
        "likes": F.greatest(
            F.lit(0), F.floor(F.exp(F.lit(1.2) * rand.normal(seed, "likes", *POST_KEYS) + F.lit(1.0))) - F.lit(1)
        ).cast("int"),
        "post_ms": F.pmod(F.col("habit_hour") + rand.randint(seed, "post_hour", 7, *POST_KEYS) - F.lit(3), F.lit(24))
        * F.lit(3_600_000)
        + rand.randint(seed, "post_ms", 3_600_000, *POST_KEYS),
    }


def _post_choices(spec: Spec) -> dict[str, Column]:
    """A text's day (drifting persons write later), platform (mostly the preferred one), type
    and sentiment, from its draws."""
    u_day = F.col("u_day")
    skew = F.when(F.col("arch") == F.lit(DRIFTING), u_day * u_day).otherwise(u_day)
    return {
        "day": F.col("start_day") + F.floor(skew * _active_days(spec)).cast("int"),
        "platform_idx": F.when(F.col("u_platform") < F.lit(0.7), F.col("pref_platform")).otherwise(
            rand.randint(spec.seed, "any_platform", 3, *POST_KEYS)
        ),
        "post_type": rand.pick(POST_TYPES, rand.weighted_index("u_post_type", POST_TYPE_SHARES)),
        "sentiment_idx": _sentiment(F.col("u_sentiment")),
    }


def _post_fields(spec: Spec) -> dict[str, Column]:
    """The clean value of every field of a text's JSON line (``FIELDS`` order)."""
    seed = spec.seed
    is_review = F.col("post_type") == F.lit("review")
    return {
        "post_id": F.concat(
            rand.pick(PLATFORM_PREFIX, "platform_idx"), F.lit("_"), rand.hex16(seed, "post_id", *POST_KEYS)
        ),
        "platform": rand.pick(catalog.PLATFORMS, "platform_idx"),
        "wechat_id": F.when(F.col("platform_idx") == F.lit(WECHAT), F.col("wechat_id")),
        "author_id": F.element_at("social_author_ids", F.col("platform_idx") + F.lit(1)),
        # Binding is a state of (person, platform): every record of a bound author carries it.
        "account_id": F.when(
            F.col("has_account")
            & (
                rand.uniform(seed, "member_binding", "person_key", "platform_idx")
                < rand.pick(MEMBER_BINDING_SHARE, "platform_idx")
            ),
            F.col("account_id"),
        ),
        "post_type": F.col("post_type"),
        "text": text.compose(seed, POST_KEYS, F.col("sentiment_idx"), F.col("topic_idx")),
        "rating": F.when(is_review, _rating(F.col("sentiment_idx"), rand.uniform(seed, "rating", *POST_KEYS))),
        "product_id": F.when(
            is_review, catalog.product_id(catalog.pick_product(seed, "review", F.col("topic_idx"), *POST_KEYS))
        ),
        "likes": F.col("likes"),
        "shares": F.floor(F.col("likes") * F.lit(0.3) * rand.uniform(seed, "shares", *POST_KEYS)).cast("int"),
        "ts": activity.iso_ts(spec.start_date, F.col("day"), F.col("post_ms")),
    }


def _json_value(spec: Spec) -> Column:
    """The line as written: the fields as JSON, with the damage of a dirty line (kind 0 truncated,
    1 no post_id, 2 rating out of range, 3 timestamp out of range)."""
    seed = spec.seed
    damaged = F.col("_dirty")
    bad_ts = F.when(rand.uniform(seed, "bad_ts", *POST_KEYS) < F.lit(0.5), F.lit("1999-12-31T23:59:59.000Z")).otherwise(
        activity.iso_ts(spec.end_date, F.lit(500) + rand.randint(seed, "bad_day", 900, *POST_KEYS), F.col("post_ms"))
    )
    out_fields = {f: F.col(f) for f in FIELDS}
    out_fields["post_id"] = F.when(damaged & (F.col("_kind") == F.lit(1)), F.lit(None).cast("string")).otherwise(
        F.col("post_id")
    )
    out_fields["rating"] = F.when(
        damaged & (F.col("_kind") == F.lit(2)), rand.pick_uniform((0, 6, 9, -1, 10), seed, "bad_rating", *POST_KEYS)
    ).otherwise(F.col("rating"))
    out_fields["ts"] = F.when(damaged & (F.col("_kind") == F.lit(3)), bad_ts).otherwise(F.col("ts"))
    full = F.to_json(F.struct(*[v.alias(k) for k, v in out_fields.items()]), {"ignoreNullFields": "false"})
    return F.when(
        damaged & (F.col("_kind") == F.lit(0)), dirty.truncate(full, rand.uniform(seed, "truncate", *POST_KEYS))
    ).otherwise(full)


def landing_lines(posts_df: DataFrame) -> DataFrame:
    """The lines to write: ``date``, ``value``, ``_dirty``, ``_dup`` with duplicates added."""
    return dirty.with_duplicates(posts_df.select("date", "value", "_dirty", "_dup"))


def labels(posts_df: DataFrame) -> DataFrame:
    """Truth labels: ``post_id``, ``sentiment``, ``topic``."""
    return posts_df.select("post_id", "sentiment", "topic")
