"""Deterministic randomness for the generator, derived from hashes of keys.

Every random draw is a pure function of ``(seed, salt, *keys)``: the same person, day or
event gets the same value whatever the partitioning, the number of cores or the order in
which Spark evaluates rows. Salts name the decision (``"archetype"``, ``"visit"``...), so
two decisions about the same key are independent.

Keys are column *names* (or int literals) wherever possible: the draw is then built as one
SQL expression (``F.expr``), a single call into the JVM. Building the same expression
from Column objects costs ~15 Py4J round trips, and the generator builds hundreds of
draws, which made building the plan slower than running it at test scale. Column keys
(e.g. lambda variables of higher-order functions) take the Column path; both paths give
identical values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from pyspark.sql import Column
from pyspark.sql import functions as F

Key = Union[Column, str, int]  # noqa: UP007 - a runtime alias used in isinstance-free annotations

_MASK_63 = "9223372036854775807"
_TWO_63 = "9.223372036854775808E18"


def _sql_key(key: str | int) -> str:
    if isinstance(key, str):
        return f"CAST(`{key}` AS BIGINT)"
    return f"CAST({int(key)} AS BIGINT)"


def _col_key(key: Key) -> Column:
    if isinstance(key, Column):
        return key.cast("long")
    if isinstance(key, str):
        return F.col(key).cast("long")
    return F.lit(int(key)).cast("long")


def _all_named(keys) -> bool:
    return all(isinstance(k, (str, int)) for k in keys)


def sql_string(value: str) -> str:
    """A Spark SQL string literal for ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_literal(value) -> str:
    """A Spark SQL literal for a str, bool, int or float."""
    if isinstance(value, str):
        return sql_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if "e" in text or "E" in text:  # SQL double literals here are written without exponent
        text = format(float(value), ".20f")
    return text + "D"


def hash_sql(seed: int, salt: str, *keys: str | int) -> str:
    """SQL text of the 64-bit hash of ``(seed, salt, *keys)`` (xxhash64)."""
    parts = [f"CAST({int(seed)} AS BIGINT)", sql_string(salt)] + [_sql_key(k) for k in keys]
    return f"xxhash64({', '.join(parts)})"


def uniform_sql(seed: int, salt: str, *keys: str | int) -> str:
    """SQL text of a uniform double in [0, 1)."""
    return f"(CAST((({hash_sql(seed, salt, *keys)}) & {_MASK_63}) AS DOUBLE) / {_TWO_63})"


def hash64(seed: int, salt: str, *keys: Key) -> Column:
    """A 64-bit hash of the seed, the salt and the keys (xxhash64)."""
    if _all_named(keys):
        return F.expr(hash_sql(seed, salt, *keys))  # type: ignore[arg-type]
    return F.xxhash64(F.lit(int(seed)).cast("long"), F.lit(salt), *[_col_key(k) for k in keys])


def uniform(seed: int, salt: str, *keys: Key) -> Column:
    """A uniform double in [0, 1) drawn from ``(seed, salt, *keys)``."""
    if _all_named(keys):
        return F.expr(uniform_sql(seed, salt, *keys))  # type: ignore[arg-type]
    masked = hash64(seed, salt, *keys).bitwiseAND(F.lit(int(_MASK_63)))
    return masked.cast("double") / F.lit(float(_TWO_63))


def randint(seed: int, salt: str, n: int | str | Column, *keys: Key) -> Column:
    """A uniform integer in [0, n); ``n`` an int, a column name or a Column."""
    if _all_named(keys) and isinstance(n, (int, str)):
        bound = str(int(n)) if isinstance(n, int) else f"`{n}`"
        return F.expr(f"CAST(floor({uniform_sql(seed, salt, *keys)} * {bound}) AS INT)")  # type: ignore[arg-type]
    n_col = n if isinstance(n, Column) else (F.col(n) if isinstance(n, str) else F.lit(int(n)))
    return F.floor(uniform(seed, salt, *keys) * n_col).cast("int")


def normal(seed: int, salt: str, *keys: str | int) -> Column:
    """A standard normal draw (Box-Muller on two hashed uniforms)."""
    u1 = uniform_sql(seed, salt + "#bm1", *keys)
    u2 = uniform_sql(seed, salt + "#bm2", *keys)
    return F.expr(f"sqrt(-2.0D * ln(1.0D - {u1})) * cos(2.0D * pi() * {u2})")


def array_sql(values: Sequence) -> str:
    """SQL text of an array literal of small driver-side values."""
    return "array(" + ", ".join(sql_literal(v) for v in values) + ")"


def pick(values: Sequence, index: str | Column) -> Column:
    """``values[index]`` for a small driver-side lookup list (0-based index, name or Column)."""
    if isinstance(index, str):
        return F.expr(f"element_at({array_sql(values)}, CAST(`{index}` AS INT) + 1)")
    return F.element_at(F.expr(array_sql(values)), index.cast("int") + F.lit(1))


def pick_uniform(values: Sequence, seed: int, salt: str, *keys: str | int) -> Column:
    """A uniformly drawn element of ``values``."""
    idx = f"CAST(floor({uniform_sql(seed, salt, *keys)} * {len(values)}) AS INT) + 1"
    return F.expr(f"element_at({array_sql(values)}, {idx})")


def weighted_index(u: str, weights: Sequence[float]) -> Column:
    """The index i with probability ``weights[i] / sum(weights)``, given a uniform column ``u``."""
    total = float(sum(weights))
    acc, whens = 0.0, []
    for i, w in enumerate(weights[:-1]):
        acc += w / total
        whens.append(f"WHEN `{u}` < {acc!r}D THEN {i}")
    return F.expr(f"CASE {' '.join(whens)} ELSE {len(weights) - 1} END")


def _hex16_sql(seed: int, salt: str, *keys: str | int) -> str:
    # Setting the top bit makes hex() always 16 digits (no lpad needed) at the price of one
    # bit of entropy; it also gives uuids their RFC-4122-looking variant nibble (8-f).
    return f"lower(hex({hash_sql(seed, salt, *keys)} | -9223372036854775808))"


def hex16(seed: int, salt: str, *keys: str | int) -> Column:
    """16 lowercase hex digits of a hash (63 random bits)."""
    return F.expr(_hex16_sql(seed, salt, *keys))


def uuid_like(seed: int, salt: str, *keys: str | int) -> Column:
    """A version-4-shaped uuid string (8-4-4-4-12 hex) from two hashes."""
    a = _hex16_sql(seed, salt + "#a", *keys)
    b = _hex16_sql(seed, salt + "#b", *keys)
    return F.expr(
        f"concat_ws('-', substring({a}, 1, 8), substring({a}, 9, 4), concat('4', substring({a}, 14, 3)), "
        f"substring({b}, 1, 4), substring({b}, 5, 12))"
    )


def scramble(key: str, modulus: int, multiplier: int, offset: int) -> Column:
    """A bijection of [0, modulus) used to make unique-but-unordered numbers from a key column.

    ``multiplier`` must be coprime with ``modulus`` (all moduli here are powers of ten, so
    any multiplier not divisible by 2 or 5 works); keys must be below ``modulus``.
    """
    if multiplier % 2 == 0 or multiplier % 5 == 0:
        raise ValueError(f"scramble multiplier {multiplier} is not coprime with powers of ten")
    return F.expr(f"pmod(CAST(`{key}` AS BIGINT) * {multiplier} + {offset}, {modulus})")
