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
    return f"ln(1.0 + greatest({value}, 0.0))" if log_scale else value


def input_stages(columns: list[str], *, output: str = "features", log_scale: bool = False) -> list:
    """SQLTransformer (impute, optionally log1p) + VectorAssembler over `columns`."""
    exprs = ", ".join(f"{_value(c, log_scale=log_scale)} AS `f_{c}`" for c in columns)
    sql = SQLTransformer(statement=f"SELECT *, {exprs} FROM __THIS__")
    assembler = VectorAssembler(inputCols=[f"f_{c}" for c in columns], outputCol=output, handleInvalid="keep")
    return [sql, assembler]
