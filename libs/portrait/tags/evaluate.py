"""Tag evaluation: the tags of every portrait row (a pure builder).

A `when` tag holds where its expression is true (null is false). A percentile tag holds for the
persons whose `feature` is among the highest `top` share of that as-of date's population (the
persons passing the optional `when` filter with a non-null feature). The threshold of each date is
`percentile_approx(-feature, top)` in one groupBy(as_of_date), broadcast back to the rows: the value
of the ceil(top * n)-th highest person (approximate for large n, within 1/10000 of the rank). Ties at
the threshold are in, so a tag may hold slightly more than `top` of the population.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.tags.definitions import Tag


def _holds(expression: str | None) -> Column:
    return F.coalesce(F.expr(expression), F.lit(False)) if expression else F.lit(True)


def _eligible(tag: Tag) -> Column:
    """A row in the percentile's population: a non-null feature and the `when` filter holds."""
    return F.col(tag.percentile.feature).isNotNull() & _holds(tag.when)


def _threshold(i: int) -> str:
    return f"__tag_threshold_{i}"


def evaluate(portrait: DataFrame, tags: Sequence[Tag]) -> DataFrame:
    """The tags of every portrait row.

    Args:
        portrait: `gold.portrait` rows (any as-of dates; at least the columns the tags use).
        tags: the catalog (`load_tags`).

    Returns:
        person_id string, as_of_date date, tag string: one row per tag that holds; a row whose
        expression is null is not tagged.
    """
    if not tags:
        raise ValueError("evaluate needs at least one tag")
    percentiles = [(i, t) for i, t in enumerate(tags) if t.percentile is not None]
    rows = portrait
    if percentiles:
        # One small row per as-of date: each percentile tag's threshold over its own population.
        thresholds = portrait.groupBy("as_of_date").agg(
            *[
                (
                    -F.percentile_approx(
                        F.when(_eligible(t), -F.col(t.percentile.feature).cast("double")), F.lit(t.percentile.top)
                    )
                ).alias(_threshold(i))
                for i, t in percentiles
            ]
        )
        rows = portrait.join(F.broadcast(thresholds), on="as_of_date", how="left")

    def holds(i: int, tag: Tag) -> Column:
        if tag.percentile is None:
            return _holds(tag.when)
        value = F.col(tag.percentile.feature).cast("double")
        return _eligible(tag) & F.coalesce(value >= F.col(_threshold(i)), F.lit(False))

    names = F.array(*[F.when(holds(i, t), F.lit(t.name)) for i, t in enumerate(tags)])
    return rows.select("person_id", "as_of_date", F.explode(F.array_compact(names)).alias("tag")).select(
        F.col("person_id").cast("string").alias("person_id"),
        F.col("as_of_date").cast("date").alias("as_of_date"),
        F.col("tag").cast("string").alias("tag"),
    )
