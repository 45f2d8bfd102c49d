"""The blend stage: a weighted average of two classifiers' P(1), written as a `probability` vector.

A blend of the GBT and the logistic regression must score a raw portrait row in one `transform`,
like every other registered propensity model, and hand the calibration stage, the evaluation and
the reasons the column they all read: `probability` (element 1 is P(1)). The two classifiers of a
blend pipeline write their own `probability_gbt` and `probability_logistic` columns;
`ProbabilityBlend` averages their P(1) with column expressions and writes `probability`
([1 - p, p]) and `prediction` (p > 0.5, what MLflow's pyfunc wrapper reads). A SQLTransformer
cannot build a vector column, so this is a Python stage saved and loaded as the calibration
stage is (`DefaultParamsWritable` / `DefaultParamsReadable`).
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

GBT_PROBABILITY = "probability_gbt"
LOGISTIC_PROBABILITY = "probability_logistic"


def blended(p_gbt: Column, p_logistic: Column, weight: float) -> Column:
    """(1 - weight) * P(1) of the GBT + weight * P(1) of the logistic regression."""
    return F.lit(1.0 - weight) * p_gbt + F.lit(weight) * p_logistic


class ProbabilityBlend(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Writes `probability` = [1 - p, p] and `prediction`, p the weighted average of two P(1)."""

    weight = Param(Params._dummy(), "weight", "share of the logistic regression", typeConverter=TypeConverters.toFloat)

    @keyword_only
    def __init__(self, *, weight: float = 0.5) -> None:
        super().__init__()
        self._setDefault(weight=0.5)
        self._set(**self._input_kwargs)  # type: ignore[attr-defined]  # set by @keyword_only

    def getWeight(self) -> float:  # noqa: N802 - Spark ML getter naming
        return self.getOrDefault(self.weight)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        p = blended(
            vector_to_array(dataset[GBT_PROBABILITY])[1],
            vector_to_array(dataset[LOGISTIC_PROBABILITY])[1],
            self.getWeight(),
        )
        return dataset.withColumns(
            {
                "probability": array_to_vector(F.array(F.lit(1.0) - p, p)),
                "prediction": (p > F.lit(0.5)).cast("double"),
            }
        )
