"""Calibration: a smooth, rank-keeping map of the GBT's P(1), never exactly 0 or 1, saved in the pipeline."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.models import calibration, evaluation, labels, propensity
from portrait.models.calibrator import ISOTONIC, PLATT, ScoreCalibrator, interpolate

D = dt.date(2026, 6, 30)
FEATURES = ["f_signal", "f_noise"]
PARAMS = {"max_depth": 3, "max_iter": 10, "step_size": 0.2}


def test_isotonic_knots_are_the_centres_of_the_blocks():
    # Spark lists a block by its first and last score (one point for a single-score block).
    xs, ys = calibration.isotonic_knots([0.1, 0.3, 0.4, 0.5, 0.9], [0.0, 0.0, 0.25, 0.6, 0.6])
    assert xs == pytest.approx([0.2, 0.4, 0.7]) and ys == [0.0, 0.25, 0.6]


def test_interpolation_is_linear_between_knots_and_flat_beyond(spark):
    rows = spark.createDataFrame([(x,) for x in (0.0, 0.2, 0.3, 0.4, 0.55, 0.7, 1.0)], "x double")
    got = rows.select("x", interpolate(F.col("x"), [0.2, 0.4, 0.7], [0.0, 0.25, 0.55]).alias("y"))
    expected = spark.createDataFrame(
        [(0.0, 0.0), (0.2, 0.0), (0.3, 0.125), (0.4, 0.25), (0.55, 0.4), (0.7, 0.55), (1.0, 0.55)], "x double, y double"
    )
    assertDataFrameEqual(got, expected, rtol=1e-9)


def test_the_stage_is_strictly_increasing_inside_0_1_and_survives_save_and_load(spark, tmp_path):
    # Knots at rates 0 and 1: the step function published exactly 0 and 1 and tied whole blocks.
    stage = ScoreCalibrator(method=ISOTONIC, knotsX=[0.2, 0.4, 0.7], knotsY=[0.0, 0.25, 1.0], eps=0.01)
    xs = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.7, 0.8, 0.95, 1.0]
    rows = spark.createDataFrame([(x,) for x in xs], "p double")
    got = [r["q"] for r in rows.select(stage.value(F.col("p")).alias("q")).orderBy("p").collect()]
    assert all(0.0 < q < 1.0 for q in got)
    assert all(b > a for a, b in zip(got, got[1:], strict=False))  # strictly: no two scores tie
    assert got[0] == pytest.approx(0.01 * 0.999) and got[-1] == pytest.approx(0.99 * 0.999 + 0.001)
    stage.save(str(tmp_path / "stage"))
    loaded = ScoreCalibrator.load(str(tmp_path / "stage"))
    assert loaded.getMethod() == ISOTONIC
    assertDataFrameEqual(rows.select(loaded.value(F.col("p"))), rows.select(stage.value(F.col("p"))))


def _rows(spark, persons: int, dates: list[dt.date], *, seed: int = 3):
    ids = spark.range(persons).select(F.format_string("p%05d", "id").alias("person_id"))
    as_of = spark.createDataFrame([(d,) for d in dates], "as_of_date date")
    rows = ids.crossJoin(as_of).withColumns({"f_signal": F.rand(seed), "f_noise": F.rand(seed + 1)})
    p = 1 / (1 + F.exp(-(F.lit(4.0) * F.col("f_signal") - F.lit(3.0))))
    return rows.withColumn("label", (F.rand(seed + 2) < p).cast("double"))


@pytest.fixture(scope="module")
def trained(spark):
    dates = [D - dt.timedelta(days=d) for d in (30, 37, 44)]
    rows = _rows(spark, 3000, dates).localCheckpoint()
    sets = labels.training_sets(rows, oot_dates=dates[:1], test_fraction=0.25, calibration_fraction=0.2)
    return sets, propensity.fit_calibrated(sets, FEATURES, PARAMS, seed=7)


def test_a_trained_model_publishes_smooth_probabilities_that_keep_the_ranking(spark, trained, tmp_path):
    sets, fitted = trained
    assert isinstance(fitted.model.stages[-1], ScoreCalibrator)
    # The chosen map is the one with the lower held-out log-loss of the two candidates.
    losses = {m: fitted.calibration[f"log_loss_{m}"] for m in (ISOTONIC, PLATT)}
    assert fitted.model.stages[-1].getMethod() == min(losses, key=lambda m: losses[m])
    scored = evaluation.scored_rows(fitted.model, sets.test).localCheckpoint()
    stats = scored.agg(
        F.sum(((F.col("p") <= 0) | (F.col("p") >= 1)).cast("int")).alias("at_0_or_1"),
        F.countDistinct("p").alias("distinct_p"),
        F.countDistinct("p_raw").alias("distinct_raw"),
    ).first()
    assert stats["at_0_or_1"] == 0
    assert stats["distinct_p"] >= 0.9 * stats["distinct_raw"]
    auc, auc_raw = evaluation.auc(scored), evaluation.auc(scored, score="p_raw")
    assert auc >= auc_raw - 0.001

    # The step function this replaces, fitted on the same calibration rows, scored on the same test rows.
    gbt = PipelineModel(stages=fitted.model.stages[:-1])
    cal = gbt.transform(sets.calibration)
    step = IsotonicRegression(featuresCol="p_raw", labelCol="label", predictionCol="p").fit(
        cal.select(evaluation.raw_probability(cal).alias("p_raw"), "label")
    )
    stepped = step.transform(scored.drop("p"))
    step_ece = evaluation.expected_calibration_error(evaluation.calibration_table(stepped))
    ece = evaluation.expected_calibration_error(evaluation.calibration_table(scored))
    assert ece <= step_ece, (ece, step_ece)
    assert evaluation.auc(stepped) < auc  # the steps tie persons the raw score told apart

    # Saved and loaded as a pipeline, as MLflow's spark flavour does, it scores the same.
    fitted.model.save(str(tmp_path / "model"))
    again = evaluation.scored_rows(PipelineModel.load(str(tmp_path / "model")), sets.test)
    assertDataFrameEqual(again, scored)
