"""Deterministic, persistent control groups: one per experiment, from a hash of person and experiment."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from portrait.keys import hash_bucket

BUCKETS = 10_000


def holdout_bucket(experiment: str, person_id: Column | str = "person_id") -> Column:
    """A bucket in [0, BUCKETS) from xxhash64(experiment, person_id): the same person and experiment
    always land in the same bucket, on any day and any cluster; experiments are independent."""
    if isinstance(person_id, str):
        return hash_bucket(experiment, person_id, BUCKETS)
    return F.pmod(F.xxhash64(F.lit(experiment), person_id), F.lit(BUCKETS))


def in_holdout(experiment: str, share: float, person_id: Column | str = "person_id") -> Column:
    """True for the `share` of persons in the control group of `experiment`."""
    return holdout_bucket(experiment, person_id) < F.lit(int(round(share * BUCKETS)))
