"""Equal-sized score deciles (1 = the top 10 %), ties broken by a key, without a global window.

Rows are placed by nine approximate quantiles of the score (one aggregate, as exact as its
accuracy of 1 / 10,000 of the rows). Only the rows whose score equals one of the cuts can straddle
a decile boundary: those are ranked by the key within their score (a window partitioned by score,
over the tied rows only) and placed by their exact position, `rows above the score + rank in the
tie`. A window over all rows would sort every row in one partition.

Every decile then holds n / 10 rows up to one (plus the quantiles' error), whatever the ties: a
score shared by 30 % of the rows spans three deciles, split by the key, instead of filling one.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

ACCURACY = 10000  # percentile_approx: exact up to 1 / ACCURACY of the rows
_CUTS = [i / 10 for i in range(1, 10)]


def decile_from_cuts(score: Column, cuts: Column) -> Column:
    """1 for scores above every cut, 10 below them all: 10 minus the cuts strictly below `score`
    (`cuts` an array column of the nine ascending decile thresholds)."""
    return (F.lit(10) - F.aggregate(cuts, F.lit(0), lambda acc, c: acc + (score > c).cast("int"))).cast("int")


def decile_of_position(position: Column, rows: Column) -> Column:
    """The decile of the 0-based `position` (0 = highest score) among `rows` ranked rows."""
    return F.least(F.floor(position * F.lit(10) / rows) + F.lit(1), F.lit(10)).cast("int")


def with_decile(df: DataFrame, score: str, *, output: str, key: str | None = "person_id") -> DataFrame:
    """`df` plus `output` (int): the decile of `score`, 1 = top, each holding 10 % of the non-null
    scores up to one row; rows tied on `score` are ordered by `key` (ascending), null score -> null.

    Args:
        df: the rows (one per `key`: the key makes the split of a tie deterministic; None leaves the
            order within a tie to Spark, for rows that are interchangeable).
        score: the column to rank, highest first.
        output: the name of the decile column.
        key: the tie-breaking column.
    """
    s = F.col(score)
    stats = df.agg(F.percentile_approx(s, _CUTS, ACCURACY).alias("_q"), F.count(s).alias("_n"))
    placed = df.crossJoin(F.broadcast(stats))
    at_cut = F.coalesce(F.array_contains(F.col("_q"), s), F.lit(False))
    cuts = stats.select(F.explode(F.array_distinct("_q")).alias("_cut"))
    above = (
        df.select(s.alias("_s"))
        .crossJoin(F.broadcast(cuts))
        .groupBy("_cut")
        .agg(F.sum((F.col("_s") > F.col("_cut")).cast("long")).alias("_above"))
    )
    in_tie = (
        Window.partitionBy(s)
        .orderBy(F.col(key) if key else s)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    tied = (
        placed.where(at_cut)
        .join(F.broadcast(above), on=s == F.col("_cut"), how="left")
        .withColumn(output, decile_of_position(F.col("_above") + F.row_number().over(in_tie) - 1, F.col("_n")))
    )
    untied = placed.where(~at_cut).withColumn(output, decile_from_cuts(s, F.col("_q")))
    return tied.unionByName(untied, allowMissingColumns=True).select(*df.columns, output)
