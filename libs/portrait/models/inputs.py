"""How a portrait row becomes a feature vector, as a Spark ML stage inside every model.

Keeping the imputation in the pipeline makes a logged model self-contained: scoring hands it a
raw `gold.portrait` row, exactly like training did.
"""
from __future__ import annotations

from pyspark.ml.feature import SQLTransformer, VectorAssembler

# Recency features are null for "never": impute a value beyond any window instead of 0 (= today).
NEVER_DAYS = 999.0


def _impute(column: str) -> str:
    fill = NEVER_DAYS if column.startswith("days_since_") else 0.0
    return f"coalesce(cast(`{column}` AS double), {fill}) AS `f_{column}`"


def input_stages(columns: list[str], *, output: str = "features", log_scale: bool = False) -> list:
    """SQLTransformer (impute, optionally log1p) + VectorAssembler over `columns`."""
    exprs = []
    for c in columns:
        e = _impute(c)
        if log_scale:
            e = f"ln(1 + greatest({e.split(' AS ')[0]}, 0.0)) AS `f_{c}`"
        exprs.append(e)
    sql = SQLTransformer(statement=f"SELECT *, {', '.join(exprs)} FROM __THIS__")
    assembler = VectorAssembler(inputCols=[f"f_{c}" for c in columns], outputCol=output, handleInvalid="keep")
    return [sql, assembler]
