"""Audience builders: the persons of one date matching an expression over their tags and features.

The expression is Spark SQL over every `gold.portrait` column plus one boolean column per catalog
tag (false when the person does not have it). The persons are written to `gold.audiences` under
(name, date), replacing an earlier audience of that name and date; `definition` keeps the text.
Every row carries `person_id`, so `portrait erase` removes a person from audiences too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.tags.definitions import NAME_PATTERN, check_boolean_expression


def with_tag_flags(portrait: DataFrame, tags: DataFrame, tag_names: Sequence[str]) -> DataFrame:
    """Every portrait row with one boolean column per tag name: does the person have it that date?

    Args:
        portrait: `gold.portrait` rows, unique per (person_id, as_of_date).
        tags: `gold.tags` rows (person_id, as_of_date, tag).
        tag_names: the catalog's tag names, in catalog order; a tag nobody has is a column of false.
    """
    flags = tags.groupBy("person_id", "as_of_date").agg(
        *[F.bool_or(F.col("tag") == F.lit(name)).alias(name) for name in tag_names]
    )
    return portrait.join(flags, on=["person_id", "as_of_date"], how="left").select(
        *[F.col(c) for c in portrait.columns],
        *[F.coalesce(F.col(name), F.lit(False)).alias(name) for name in tag_names],
    )


def build(portrait_d: DataFrame, tags_d: DataFrame, where: str, *, tag_names: Sequence[str]) -> DataFrame:
    """The persons of `portrait_d` for whom `where` holds (null counts as false).

    Args:
        portrait_d: `gold.portrait` rows of date D.
        tags_d: `gold.tags` rows of date D.
        where: a Spark SQL boolean expression over portrait columns and tag names, e.g.
            ``"city_tier = 1 and sneaker_lover and frequent_buyer"``.
        tag_names: the catalog's tag names.

    Returns:
        every portrait column plus one boolean column per tag, for the matching persons.

    Raises:
        ValueError: the expression does not parse, names an unknown column or is not boolean;
            the message names the expression and gives Spark's reason.
    """
    flagged = with_tag_flags(portrait_d, tags_d, tag_names)
    check_boolean_expression(flagged, where, what="audience expression", error=ValueError)
    return flagged.where(F.expr(where))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"audience name must match {NAME_PATTERN.pattern} (snake_case, at most 63 characters), got {name!r}"
        )
    return name


def audience_rows(members: DataFrame, *, name: str, date: dt.date, where: str) -> DataFrame:
    """The `gold.audiences` rows of an audience: name, date, person_id, definition, created_at."""
    return members.select(
        F.lit(name).cast("string").alias("name"),
        F.lit(date).cast("date").alias("date"),
        F.col("person_id").cast("string").alias("person_id"),
        F.lit(where).cast("string").alias("definition"),
        F.current_timestamp().alias("created_at"),
    )
