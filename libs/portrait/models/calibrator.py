"""The calibration stage: a smooth, strictly increasing map of a classifier's P(1), saved in the pipeline.

`ScoreCalibrator` is the last stage of every propensity pipeline. It reads element 1 of the
`probability` vector and writes `calibrated_probability` with column expressions only, so a
logged model still scores a raw portrait row in one `transform`. Two maps are possible (the fit
and the choice between them live in `models.calibration`):

- `interpolated_isotonic`: the isotonic fit's block centres as knots, linear between them, flat
  beyond the outer centres (no extrapolation past the most extreme observed rates);
- `platt`: sigmoid(slope * logit(p) + intercept).

Either value is then clipped to [eps, 1 - eps] and blended with a small share of the raw score,
`(1 - tie_weight) * value + tie_weight * p`: the blend makes the map strictly increasing
everywhere (flat tails and clipped ends keep the ranking of the raw score instead of tying it) and
keeps the value strictly inside (0, 1). It is saved and loaded as a Python stage
(`DefaultParamsWritable` / `DefaultParamsReadable`), which MLflow's spark flavour accepts.
"""

from __future__ import annotations

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

CALIBRATED = "calibrated_probability"
ISOTONIC = "interpolated_isotonic"
PLATT = "platt"
TIE_WEIGHT = 1e-3  # share of the raw score in the published value: at most 0.001 of bias
LOGIT_BOUND = 1e-7  # raw scores are clipped to [b, 1 - b] before their logit


def logit(p: Column) -> Column:
    """log(p / (1 - p)) of a probability clipped away from 0 and 1."""
    q = F.least(F.greatest(p, F.lit(LOGIT_BOUND)), F.lit(1 - LOGIT_BOUND))
    return F.log(q / (F.lit(1.0) - q))


def interpolate(x: Column, knots_x: list[float], knots_y: list[float]) -> Column:
    """Piecewise-linear through (knots_x, knots_y), flat beyond the first and last knot.

    `knots_x` must be strictly increasing. The segment is found by counting the knots at or below
    `x` (a higher-order function over a literal array: one expression, whatever the number of knots).
    """
    if len(knots_x) != len(knots_y) or not knots_x:
        raise ValueError(f"interpolate needs as many x as y knots, at least one: {len(knots_x)} x, {len(knots_y)} y")
    if any(b <= a for a, b in zip(knots_x, knots_x[1:], strict=False)):
        raise ValueError(f"interpolate needs strictly increasing x knots, got {knots_x}")
    if len(knots_x) == 1:
        return F.lit(knots_y[0])
    xs = F.array(*[F.lit(float(v)) for v in knots_x])
    ys = F.array(*[F.lit(float(v)) for v in knots_y])
    below = F.size(F.filter(xs, lambda k: k <= x))  # 0 .. len(knots)
    i = F.least(F.greatest(below, F.lit(1)), F.lit(len(knots_x) - 1))  # 1-based segment start
    x0, x1 = F.element_at(xs, i), F.element_at(xs, i + 1)
    y0, y1 = F.element_at(ys, i), F.element_at(ys, i + 1)
    t = F.least(F.greatest((x - x0) / (x1 - x0), F.lit(0.0)), F.lit(1.0))
    return y0 + (y1 - y0) * t


def platt(x: Column, slope: float, intercept: float) -> Column:
    """sigmoid(slope * logit(x) + intercept)."""
    return F.lit(1.0) / (F.lit(1.0) + F.exp(-(F.lit(slope) * logit(x) + F.lit(intercept))))


def finish(value: Column, x: Column, *, eps: float, tie_weight: float = TIE_WEIGHT) -> Column:
    """Clip `value` to [eps, 1 - eps] and blend in `tie_weight` of the raw score `x` (see module doc)."""
    clipped = F.least(F.greatest(value, F.lit(eps)), F.lit(1.0 - eps))
    return F.lit(1.0 - tie_weight) * clipped + F.lit(tie_weight) * x


class ScoreCalibrator(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Appends `calibrated_probability`, a strictly increasing map of `probability[1]` inside (0, 1)."""

    method = Param(Params._dummy(), "method", f"{ISOTONIC} or {PLATT}", typeConverter=TypeConverters.toString)
    knotsX = Param(Params._dummy(), "knotsX", "isotonic knots: raw scores", typeConverter=TypeConverters.toListFloat)
    knotsY = Param(Params._dummy(), "knotsY", "isotonic knots: rates", typeConverter=TypeConverters.toListFloat)
    slope = Param(Params._dummy(), "slope", "Platt slope on logit(p)", typeConverter=TypeConverters.toFloat)
    intercept = Param(Params._dummy(), "intercept", "Platt intercept", typeConverter=TypeConverters.toFloat)
    eps = Param(Params._dummy(), "eps", "values are clipped to [eps, 1 - eps]", typeConverter=TypeConverters.toFloat)

    @keyword_only
    def __init__(
        self,
        *,
        method: str = PLATT,
        knotsX: list[float] | None = None,  # noqa: N803 - Spark ML param names are camelCase
        knotsY: list[float] | None = None,  # noqa: N803
        slope: float = 1.0,
        intercept: float = 0.0,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self._setDefault(method=PLATT, knotsX=[], knotsY=[], slope=1.0, intercept=0.0, eps=1e-4)
        self._set(**self._input_kwargs)  # type: ignore[attr-defined]  # set by @keyword_only

    def getMethod(self) -> str:  # noqa: N802 - Spark ML getter naming
        return self.getOrDefault(self.method)

    def value(self, x: Column) -> Column:
        """The calibrated probability of the raw score `x`, as a column expression."""
        method = self.getMethod()
        if method == ISOTONIC:
            raw = interpolate(x, self.getOrDefault(self.knotsX), self.getOrDefault(self.knotsY))
        elif method == PLATT:
            raw = platt(x, self.getOrDefault(self.slope), self.getOrDefault(self.intercept))
        else:
            raise ValueError(f"ScoreCalibrator: unknown method {method!r} (expected {ISOTONIC} or {PLATT})")
        return finish(raw, x, eps=self.getOrDefault(self.eps))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        x = vector_to_array(dataset["probability"])[1]
        return dataset.withColumn(CALIBRATED, self.value(x))
