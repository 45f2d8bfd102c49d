"""Realistic defects in raw records: a drawn share is invalid, a smaller share duplicated.

Each source builder marks its rows with ``_dirty`` (the record was damaged; which damage is
a per-source choice drawn with ``kind``) and ``_dup`` (the line is written twice, exactly).
The sink counts both and drops the markers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from . import rand

DUPLICATE_SHARE_OF_DIRTY = 0.5


def is_dirty(seed: int, source: str, fraction: float, *keys) -> Column:
    """True for about ``fraction`` of the records of ``source``."""
    return rand.uniform(seed, "dirty_" + source, *keys) < F.lit(float(fraction))


def kind(seed: int, source: str, n_kinds: int, *keys) -> Column:
    """Which of ``n_kinds`` damages a dirty record gets."""
    return rand.randint(seed, "dirty_kind_" + source, n_kinds, *keys)


def is_duplicated(seed: int, source: str, fraction: float, *keys) -> Column:
    """True for about ``fraction * DUPLICATE_SHARE_OF_DIRTY`` of the records."""
    return rand.uniform(seed, "dup_" + source, *keys) < F.lit(float(fraction) * DUPLICATE_SHARE_OF_DIRTY)


def with_markers(df: DataFrame, seed: int, source: str, fraction: float, n_kinds: int, *keys) -> DataFrame:
    """Add the ``_dirty``, ``_kind`` and ``_dup`` markers every source builder needs."""
    return df.withColumns(
        {
            "_dirty": is_dirty(seed, source, fraction, *keys),
            "_kind": kind(seed, source, n_kinds, *keys),
            "_dup": is_duplicated(seed, source, fraction, *keys),
        }
    )


def truncate(line: Column, u: Column) -> Column:
    """A line cut at 30-80 % of its length (as a crashed writer leaves it)."""
    cut = F.greatest(F.lit(5), F.floor(F.length(line) * (F.lit(0.3) + F.lit(0.5) * u))).cast("int")
    return F.substring(line, 1, cut)


def with_duplicates(df: DataFrame) -> DataFrame:
    """Repeat the rows flagged ``_dup`` once more (stays within the partition: no shuffle)."""
    copies = F.when(F.col("_dup"), F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))
    return (
        df.withColumn("_copy", F.explode(copies))
        .withColumn("_dup", F.col("_dup") & (F.col("_copy") == F.lit(1)))
        .drop("_copy")
    )
