"""BG/NBD as a Spark ML stage: a fitted BG/NBD scores order-feature rows in one `transform`.

When nothing can be learned from labels (no training row), the orders-only model is BG/NBD itself
(`orders_model.run`): registered like every propensity, as a PipelineModel whose last classifier
stage writes `probability`, so the calibration stage appends to it and a scorer reads it as it
reads any other. The BG/NBD statistics come from the order features of the same as-of date
(`orders_model.features.with_order_features`, defined on purchase days exactly as
`btyd.purchase_stats`): x = purchase days - 1, T = days since the first purchase day, t_x = T - days
since the last one. The stage writes `expected_purchases` over `horizonDays` and `probability` =
[1 - s, s] with s = 1 - exp(-expected_purchases), the chance of at least one purchase if the
purchases of the horizon were Poisson with that mean: an increasing map, so its ranking (and AUC)
is BG/NBD's own. Saved and loaded as a Python stage, like `calibrator.ScoreCalibrator`.
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.models.btyd import ClvParams, expected_purchases

_PARAMS = ("r", "alpha", "a", "b")


class BgNbdPurchase(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Writes `expected_purchases`, `probability` and `prediction` of order-feature rows from a BG/NBD fit."""

    r = Param(Params._dummy(), "r", "BG/NBD r", typeConverter=TypeConverters.toFloat)
    alpha = Param(Params._dummy(), "alpha", "BG/NBD alpha (days)", typeConverter=TypeConverters.toFloat)
    a = Param(Params._dummy(), "a", "BG/NBD a", typeConverter=TypeConverters.toFloat)
    b = Param(Params._dummy(), "b", "BG/NBD b", typeConverter=TypeConverters.toFloat)
    horizonDays = Param(Params._dummy(), "horizonDays", "label horizon (days)", typeConverter=TypeConverters.toInt)

    @keyword_only
    def __init__(
        self,
        *,
        r: float = 1.0,
        alpha: float = 1.0,
        a: float = 1.0,
        b: float = 1.0,
        horizonDays: int = 1,  # noqa: N803 - Spark ML param names are camelCase
    ) -> None:
        super().__init__()
        self._setDefault(r=1.0, alpha=1.0, a=1.0, b=1.0, horizonDays=1)
        self._set(**self._input_kwargs)  # type: ignore[attr-defined]  # set by @keyword_only

    @classmethod
    def of(cls, params: ClvParams, *, horizon_days: int) -> BgNbdPurchase:
        """The stage of fitted `params` predicting over `horizon_days`."""
        return cls(r=params.r, alpha=params.alpha, a=params.a, b=params.b, horizonDays=horizon_days)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        fit = ClvParams(**{k: self.getOrDefault(k) for k in _PARAMS}, p=1.0, q=1.0, gamma=1.0)  # no spend here
        since_first = F.col("days_since_first_order").cast("double")
        x = F.col("purchase_days_ever").cast("double") - F.lit(1.0)
        t_x = since_first - F.col("days_since_last_order").cast("double")
        purchases = expected_purchases(fit, x=x, t_x=t_x, T=since_first, days=self.getOrDefault(self.horizonDays))
        s = F.lit(1.0) - F.exp(-F.col("expected_purchases"))
        return dataset.withColumn("expected_purchases", purchases.cast("double")).withColumns(
            {"probability": array_to_vector(F.array(F.lit(1.0) - s, s)), "prediction": (s > F.lit(0.5)).cast("double")}
        )
