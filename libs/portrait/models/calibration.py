"""Calibration: isotonic regression of the label on the GBT's P(1), appended to the pipeline.

A GBT's probability ranks well but is not a frequency (its log-loss boosting over- or
under-shoots). An isotonic fit on persons the GBT never saw maps it to an observed rate, and as the
last pipeline stage it travels with the logged model: scoring reads `calibrated_probability`.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame

from portrait.models.evaluation import CALIBRATED


def calibrate(model: PipelineModel, calibration_rows: DataFrame) -> PipelineModel:
    """`model` followed by an isotonic stage fitted on `calibration_rows` (labelled, raw portrait rows).

    The stage reads element 1 of the `probability` vector and writes `calibrated_probability`; the
    GBT's own `prediction` column stays as it is (the MLflow pyfunc wrapper reads it).
    """
    scored = model.transform(calibration_rows)
    isotonic = IsotonicRegression(
        featuresCol="probability", featureIndex=1, labelCol="label", predictionCol=CALIBRATED, isotonic=True
    ).fit(scored)
    return PipelineModel(stages=[*model.stages, isotonic])
