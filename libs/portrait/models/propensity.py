"""Purchase propensity: a GBT classifier on the portrait, labelled from the next N days.

Training rows are portraits at earlier as-of dates t; the label is a completed order in
(t, t + horizon]. Features stop at the end of t (`features.portrait`), labels start after it, so
no label is visible to its features. Train and test are split by a hash of person_id, so nobody
is on both sides.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.models.inputs import input_stages


def training_dates(date: dt.date, *, horizon_days: int, count: int, step_days: int) -> list[dt.date]:
    """As-of dates whose whole label window ends by `date`, latest first."""
    last = date - dt.timedelta(days=horizon_days)
    return [last - dt.timedelta(days=step_days * k) for k in range(count)]


def with_purchase_label(portraits: DataFrame, daily: DataFrame, *, horizon_days: int) -> DataFrame:
    """Add `label` (1.0 if the person completed an order in (as_of_date, as_of_date + horizon])."""
    future = daily.where(F.col("orders") > 0).select("person_id", F.col("day").alias("order_day"))
    keys = portraits.select("person_id", "as_of_date")
    bought = (
        keys.join(future, on="person_id", how="inner")
        .where((F.col("order_day") > F.col("as_of_date"))
               & (F.col("order_day") <= F.date_add(F.col("as_of_date"), horizon_days)))
        .select("person_id", "as_of_date").distinct()
        .withColumn("label", F.lit(1.0))
    )
    return portraits.join(bought, on=["person_id", "as_of_date"], how="left").withColumn(
        "label", F.coalesce(F.col("label"), F.lit(0.0))
    )


def person_bucket(salt: str) -> Column:
    """A stable number in [0, 1000) per person, independent of partitioning."""
    return F.pmod(F.xxhash64(F.lit(salt), F.col("person_id")), F.lit(1000))


def split_by_person(df: DataFrame, *, fraction: float, salt: str) -> tuple[DataFrame, DataFrame]:
    """(rest, held_out): each person lands entirely on one side."""
    held = person_bucket(salt) < int(round(fraction * 1000))
    return df.where(~held), df.where(held)


def positive_probability(predictions: DataFrame) -> Column:
    return vector_to_array(predictions["probability"])[1]


def build_pipeline(feature_cols: list[str], params: dict, *, seed: int) -> Pipeline:
    gbt = GBTClassifier(
        labelCol="label", featuresCol="features", seed=seed,
        maxDepth=params["max_depth"], maxIter=params["max_iter"], stepSize=params["step_size"],
        subsamplingRate=params.get("subsampling_rate", 1.0),
    )
    return Pipeline(stages=[*input_stages(feature_cols), gbt])


def evaluate(model: PipelineModel, df: DataFrame) -> dict[str, float]:
    """AUC, PR-AUC, Brier score, base rate and row count of `model` on labelled rows."""
    scored = model.transform(df)
    scored = scored.select("label", "rawPrediction", positive_probability(scored).alias("p"))
    auc = BinaryClassificationEvaluator(labelCol="label", metricName="areaUnderROC").evaluate(scored)
    pr = BinaryClassificationEvaluator(labelCol="label", metricName="areaUnderPR").evaluate(scored)
    agg = scored.agg(
        F.avg((F.col("p") - F.col("label")) ** 2).alias("brier"),
        F.avg("label").alias("base_rate"),
        F.count("*").alias("rows"),
    ).first()
    return {"auc": auc, "pr_auc": pr, "brier": agg["brier"], "base_rate": agg["base_rate"], "rows": float(agg["rows"])}


def tune(train: DataFrame, feature_cols: list[str], *, minimise: Callable, space: dict, max_evals: int,
         seed: int, on_trial: Callable[[dict, dict], None]) -> tuple[dict, float]:
    """Pick GBT parameters by validation AUC on a person split of `train`.

    `on_trial(params, metrics)` is called after every trial (the caller logs it to MLflow).
    """
    fit_part, valid = split_by_person(train, fraction=0.25, salt="validation")

    def objective(params: dict) -> float:
        model = build_pipeline(feature_cols, params, seed=seed).fit(fit_part)
        metrics = evaluate(model, valid)
        on_trial(params, metrics)
        return -metrics["auc"]

    return minimise(objective, space, max_evals=max_evals, seed=seed)
