"""The parameters of one generator run, and the person columns built once for it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cached_property

from pyspark.sql import Column, DataFrame, SparkSession

from . import identifiers, persons

PERSONS_AT_SF1 = 100_000


@dataclass(frozen=True)
class Spec:
    """What to generate.

    ``days`` days of history end on ``end_date`` inclusive; day index 0 is ``start_date``.
    """

    seed: int
    n_persons: int
    days: int
    end_date: datetime.date
    horizon_days: int = 30
    churn_days: int = 60
    dirty_fraction: float = 0.001

    @staticmethod
    def n_persons_for(scale: float) -> int:
        """Persons at a scale factor (SF1 = 100k)."""
        return max(1, round(PERSONS_AT_SF1 * scale))

    @property
    def start_date(self) -> datetime.date:
        return self.end_date - datetime.timedelta(days=self.days - 1)

    @cached_property
    def person_stages(self) -> tuple[dict[str, Column], ...]:
        """Latent and identifier column stages (Column objects are built once, reused on every frame)."""
        latent = persons.latent_stages(seed=self.seed, days=self.days, end_year=self.end_date.year)
        ids = identifiers.identifier_stages(seed=self.seed, n_persons=self.n_persons)
        return tuple(latent + ids)

    def with_person_columns(self, df: DataFrame) -> DataFrame:
        """Add every latent and identifier column to a frame with ``person_key``."""
        for stage in self.person_stages:
            df = df.withColumns(stage)
        return df

    def persons(self, spark: SparkSession) -> DataFrame:
        """One row per person (``person_key`` 0..n-1) with every person column."""
        base = spark.range(0, self.n_persons, 1, persons.person_partitions(self.n_persons))
        return self.with_person_columns(base.withColumnRenamed("id", "person_key"))
