"""How a portrait row becomes a feature vector, as a Spark ML stage inside every model.

Keeping the imputation in the pipeline makes a logged model self-contained: scoring hands it a
raw `gold.portrait` row, exactly like training did.
"""

from __future__ import annotations

from pyspark.ml.feature import SQLTransformer, VectorAssembler

from portrait.keys import NEVER_DAYS


def _value(column: str, *, log_scale: bool) -> str:
    fill = NEVER_DAYS if column.startswith("days_since_") else 0.0
    value = f"coalesce(cast(`{column}` AS double), {fill})"
    # A signed log1p: the same as log1p on non-negative values, and a trend or a sentiment below 0
    # keeps its sign instead of being clipped to 0.
    return f"signum({value}) * ln(1.0 + abs({value}))" if log_scale else value


PREFIXES = ("f_", "g_", "l_")  # of the imputed columns: a model alone, a blend's GBT, a logistic regression


def column_of(imputed: str) -> str:
    """The input column behind an imputed column `<prefix><column>` of `input_stages`."""
    prefix = next((p for p in PREFIXES if imputed.startswith(p)), None)
    if prefix is None:
        raise ValueError(f"{imputed!r} is not an imputed input column (prefixes {', '.join(PREFIXES)})")
    return imputed[len(prefix) :]


def input_stages(columns: list[str], *, output: str = "features", log_scale: bool = False, prefix: str = "f_") -> list:
    """SQLTransformer (impute, optionally a signed log1p) + VectorAssembler over `columns`.

    The imputed values are columns `<prefix><column>` (`prefix` one of `PREFIXES`): two models of
    one pipeline (a blend) use two prefixes, so that their inputs do not collide.
    """
    if prefix not in PREFIXES:
        raise ValueError(f"input_stages: prefix {prefix!r} is not one of {', '.join(PREFIXES)}")
    exprs = ", ".join(f"{_value(c, log_scale=log_scale)} AS `{prefix}{c}`" for c in columns)
    sql = SQLTransformer(statement=f"SELECT *, {exprs} FROM __THIS__")
    assembler = VectorAssembler(inputCols=[f"{prefix}{c}" for c in columns], outputCol=output, handleInvalid="keep")
    return [sql, assembler]
