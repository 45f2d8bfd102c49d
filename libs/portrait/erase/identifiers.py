"""Erasure requests: identifiers as an operator gives them, and their hashed values in the identity map."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from portrait import privacy

HASHED_TYPES = ("phone", "email", "wechat_id")
ERASABLE_TYPES = (*HASHED_TYPES, "account", "cookie")


class ErasureError(ValueError):
    """An erasure request that cannot be carried out; nothing has been deleted."""


@dataclass(frozen=True)
class Identifier:
    """An identifier as given by the operator, in clear (`id_type` in ERASABLE_TYPES)."""

    id_type: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """`type=value`, e.g. `phone=13812345678`."""
        id_type, sep, value = text.partition("=")
        id_type = id_type.strip()
        if not sep or not value.strip():
            raise ErasureError(f"identifier must be type=value, got {cls(id_type, value).shown()!r}")
        if id_type not in ERASABLE_TYPES:
            raise ErasureError(f"unknown identifier type {id_type!r}; known: {', '.join(ERASABLE_TYPES)}")
        return cls(id_type, value)

    def shown(self) -> str:
        """For messages and logs: PII masked but for its last 4 characters; ids in clear."""
        if self.id_type in ("account", "cookie"):
            return f"{self.id_type}={self.value}"
        return f"{self.id_type}={'*' * max(len(self.value) - 4, 0)}{self.value[-4:]}"


def hashed(spark: SparkSession, identifiers: list[Identifier], *, key: bytes) -> list[tuple[Identifier, str]]:
    """Each identifier with its `id_value` in `silver.identity_map` (PII normalised and hashed as ingest does).

    Raises:
        ErasureError: for a phone, email or WeChat id that normalises to nothing.
    """
    if not identifiers:
        return []
    given = spark.createDataFrame(
        [(i, x.id_type, x.value) for i, x in enumerate(identifiers)], "i int, id_type string, clear string"
    )
    value = F.col("clear")
    for kind in HASHED_TYPES:
        value = F.when(F.col("id_type") == kind, privacy.pseudonymise(F.col("clear"), kind, key)).otherwise(value)
    rows = {r["i"]: r["id_value"] for r in given.select("i", value.alias("id_value")).collect()}
    empty = [identifiers[i].shown() for i, v in sorted(rows.items()) if v is None]
    if empty:
        raise ErasureError(f"not a valid identifier after normalisation: {', '.join(empty)}")
    return [(x, rows[i]) for i, x in enumerate(identifiers)]
