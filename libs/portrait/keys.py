"""Knowledge several stages share, written once: identifier columns, hash buckets, sentinels.

- `ID_TYPE_OF`: which identifier type a column holds, in whichever table has that column (identity
  links and resolves by it, erase deletes by it).
- `hash_bucket` / `person_bucket` / `in_share`: a stable bucket of a key (a person, a post),
  independent of partitioning, that splits train/test persons, scoring holdouts and text holdouts.
- `BEGINNING`: the first date of "all history" in a date-range write.
- `NEVER_DAYS`: the value a model sees for a recency feature that is null ("never").
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

# The first day of "all history": a date-range replace from here covers every row.
BEGINNING = dt.date(1900, 1, 1)

# Recency features are null for "never": impute a value beyond any window instead of 0 (= today).
NEVER_DAYS = 999.0

# The identifier type held by a column, in whichever table has that column.
ID_TYPE_OF: dict[str, str] = {
    "anonymous_id": "cookie",
    "user_id": "account",
    "account_id": "account",
    "phone_hash": "phone",
    "email_hash": "email",
    "wechat_id_hash": "wechat_id",
    "author_id": "social_author",
}

# Buckets of `person_bucket`: a share is rounded to 1/1000 of the persons.
PERSON_BUCKETS = 1000


def typed(column: str) -> tuple[str, str]:
    """(identifier type, column) of an identifier column, e.g. `typed("phone_hash") == ("phone", "phone_hash")`."""
    return ID_TYPE_OF[column], column


def hash_bucket(salt: str, column: str, buckets: int) -> Column:
    """A stable number in [0, buckets) per value of `column`, independent of partitioning."""
    return F.pmod(F.xxhash64(F.lit(salt), F.col(column)), F.lit(buckets))


def person_bucket(salt: str) -> Column:
    """A stable number in [0, 1000) per person (`person_id`), independent of partitioning."""
    return hash_bucket(salt, "person_id", PERSON_BUCKETS)


def in_share(salt: str, fraction: float) -> Column:
    """True for about `fraction` of persons, the same ones on every run for the same salt."""
    return person_bucket(salt) < F.lit(int(round(fraction * PERSON_BUCKETS)))
