"""Calibration: a smooth, rank-keeping map of a model's P(1) to an observed rate, chosen by log-loss.

A GBT's probability ranks well but is not a frequency (its log-loss boosting over- or
under-shoots); nor is a blend's average of two probabilities, or a penalised logistic
regression's, quite. The map (the same for every `models.family`, and for BG/NBD's score when it
is the orders-only model) is fitted on persons the model never saw (the calibration rows) and appended
to the pipeline as `calibrator.ScoreCalibrator`, so it travels with the logged model: scoring
reads `calibrated_probability`.

Isotonic regression alone is a step function: on the demo 30 % of persons got exactly 0 and many
persons tied, which merged deciles, cost AUC and silenced reasons. Two smooth candidates are
fitted instead (isotonic interpolated between its block centres, and Platt scaling) and the one
with the lower log-loss on held-out calibration persons (two folds) is refitted on all of them.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.functions import array_to_vector
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait.keys import in_share
from portrait.models.calibrator import CALIBRATED, ISOTONIC, PLATT, ScoreCalibrator, logit
from portrait.models.evaluation import raw_probability

__all__ = ["CALIBRATED", "calibrate", "fit_isotonic", "fit_platt", "log_loss", "select_calibrator"]

FOLD_SALT = "calibration_fold"


def _eps(rows: int) -> float:
    """The clip of a fit on `rows` rows: 1 / (rows + 2), as if one positive and one negative more
    had been seen (an empty bottom block is not a certainty), at most 0.01 and at least 1e-4."""
    return min(0.01, max(1e-4, 1.0 / (rows + 2)))


def isotonic_knots(boundaries: list[float], predictions: list[float]) -> tuple[list[float], list[float]]:
    """(x, y) knots at the centres of an isotonic fit's blocks.

    Spark's `IsotonicRegressionModel` lists each block by its first and last raw score with the
    block's rate; runs of equal rates are one block, whose centre is the middle of its scores.
    """
    xs: list[float] = []
    ys: list[float] = []
    start = 0
    for k in range(1, len(predictions) + 1):
        if k == len(predictions) or predictions[k] != predictions[start]:
            xs.append((boundaries[start] + boundaries[k - 1]) / 2)
            ys.append(predictions[start])
            start = k
    return xs, ys


def fit_isotonic(scored: DataFrame, *, rows: int) -> ScoreCalibrator:
    """Interpolated isotonic map fitted on `scored` (columns `p`, raw score, and `label`)."""
    fitted = IsotonicRegression(featuresCol="p", labelCol="label", isotonic=True).fit(scored)
    xs, ys = isotonic_knots(fitted.boundaries.toArray().tolist(), fitted.predictions.toArray().tolist())
    return ScoreCalibrator(method=ISOTONIC, knotsX=xs, knotsY=ys, eps=_eps(rows))


def fit_platt(scored: DataFrame, *, rows: int) -> ScoreCalibrator | None:
    """Platt scaling fitted on `scored` (`p`, `label`); None when the fitted slope is not positive
    (the raw score does not rank the calibration rows, and a decreasing map would reverse it)."""
    features = scored.select(array_to_vector(F.array(logit(F.col("p")))).alias("features"), "label")
    fitted = LogisticRegression(featuresCol="features", labelCol="label", regParam=0.0, maxIter=100).fit(features)
    slope = float(fitted.coefficients[0])
    if slope <= 0:
        return None
    return ScoreCalibrator(method=PLATT, slope=slope, intercept=float(fitted.intercept), eps=_eps(rows))


def log_loss(calibrator: ScoreCalibrator, scored: DataFrame) -> float:
    """Mean log-loss of `calibrator`'s value of `p` against `label` (its values lie inside (0, 1))."""
    q = calibrator.value(F.col("p"))
    loss = -(F.col("label") * F.log(q) + (F.lit(1.0) - F.col("label")) * F.log(F.lit(1.0) - q))
    return float(scored.agg(F.avg(loss)).first()[0])


def _fit(method: str, scored: DataFrame, rows: int) -> ScoreCalibrator | None:
    return fit_isotonic(scored, rows=rows) if method == ISOTONIC else fit_platt(scored, rows=rows)


def select_calibrator(scored: DataFrame) -> tuple[ScoreCalibrator, dict[str, float]]:
    """The candidate with the lowest two-fold log-loss on `scored` (`person_id`, `p`, `label`),
    refitted on all of it; and each candidate's mean held-out log-loss (`log_loss_<method>`)."""
    fold = in_share(FOLD_SALT, 0.5)
    parts = [scored.where(fold), scored.where(~fold)]
    counted = scored.agg(F.count(F.when(fold, 1)).alias("in_fold"), F.count(F.lit(1)).alias("rows")).first()
    sizes = [counted["in_fold"], counted["rows"] - counted["in_fold"]]  # one aggregate for both folds
    losses: dict[str, float] = {}
    for method in (ISOTONIC, PLATT):
        held_out = []
        for k in (0, 1):
            fitted = _fit(method, parts[1 - k], sizes[1 - k]) if min(sizes) else None
            held_out.append(log_loss(fitted, parts[k]) if fitted is not None else float("inf"))
        losses[method] = sum(held_out) / 2
    best = min(losses, key=lambda m: losses[m])
    chosen = _fit(best, scored, sum(sizes)) or fit_isotonic(scored, rows=sum(sizes))
    return chosen, {f"log_loss_{m}": v for m, v in losses.items()}


def calibrate(model: PipelineModel, calibration_rows: DataFrame) -> tuple[PipelineModel, dict[str, float]]:
    """`model` followed by the calibration stage chosen and fitted on `calibration_rows`, and the
    candidates' held-out log-loss (`log_loss_interpolated_isotonic`, `log_loss_platt`).

    Args:
        model: the fitted pipeline whose last stage writes a `probability` vector.
        calibration_rows: labelled raw portrait rows (with `person_id`) the model was not fitted on.

    Returns:
        The pipeline with a `ScoreCalibrator` appended (it writes `calibrated_probability`; the
        classifier's own `prediction` column stays as it is: the MLflow pyfunc wrapper reads it),
        and the log-losses the choice was made on.
    """
    out = model.transform(calibration_rows)
    scored = out.select("person_id", raw_probability(out).alias("p"), F.col("label").cast("double").alias("label"))
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        calibrator, losses = select_calibrator(scored)
    finally:
        scored.unpersist()
    return PipelineModel(stages=[*model.stages, calibrator]), losses
