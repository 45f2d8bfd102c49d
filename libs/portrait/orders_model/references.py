"""The classic references the orders model must beat, and the CLV calibration check (pure or
small-result helpers: AUCs and ten decile rows)."""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.models import evaluation
from portrait.models.family import logistic_stages
from portrait.orders_model.features import RFM_FEATURES


def logistic(train: DataFrame, columns: list[str]) -> PipelineModel:
    """The reference logistic regression: log1p-scaled, standardised `columns`, no penalty (the
    `logistic` family's stages with regParam 0)."""
    return Pipeline(stages=logistic_stages(columns, reg_param=0.0)).fit(train)


def reference_aucs(train: DataFrame, test: DataFrame, *, all_features: list[str]) -> dict[str, float]:
    """Held-out AUC of each reference on the same `test` rows (labelled, with the order features).

    - recency: fewer days since the last purchase ranks higher;
    - frequency: more purchase days ranks higher;
    - rfm_logistic_regression: logistic regression on log recency, frequency, monetary (fit on `train`);
    - bg_nbd: BG/NBD expected purchases over the horizon (fitted on the calibration period alone);
    - logistic_all_features: the linear model on the GBT's non-negative inputs (fit on `train`).
    """

    def auc_of(score) -> float:
        return evaluation.auc(test.select(score.cast("double").alias("p"), "label"))

    return {
        "recency": auc_of(-F.col("days_since_last_order")),
        "frequency": auc_of(F.col("purchase_days_ever")),
        "rfm_logistic_regression": evaluation.model_auc(logistic(train, RFM_FEATURES), test),
        "bg_nbd": auc_of(F.col("expected_purchases")),
        "logistic_all_features": evaluation.model_auc(logistic(train, all_features), test),
    }


def clv_by_decile(rows: DataFrame) -> list[dict]:
    """Predicted (`expected_spend`) vs actual (`future_spend`) spend per decile of the prediction
    (1 = the top 10 %), with persons and buyers: the CLV calibration check. Ten rows."""
    cuts = rows.agg(F.percentile_approx("expected_spend", [i / 10 for i in range(1, 10)], 10000).alias("q")).first()[
        "q"
    ]
    above = sum((F.col("expected_spend") > F.lit(c)).cast("int") for c in cuts)
    by = (
        rows.withColumn("decile", (F.lit(10) - above).cast("int"))
        .groupBy("decile")
        .agg(
            F.count("*").alias("persons"),
            F.avg("expected_spend").alias("predicted_spend"),
            F.avg("future_spend").alias("actual_spend"),
            F.avg("expected_purchases").alias("predicted_purchase_days"),
            F.avg("label").alias("buyer_rate"),
        )
    )
    return [r.asDict() for r in by.orderBy("decile").collect()]  # ten rows
