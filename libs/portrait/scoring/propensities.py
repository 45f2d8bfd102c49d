"""Pure builders of the scoring rows: model probabilities, churn population, tags (deciles: `models.deciles`)."""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.models.evaluation import model_probability


def churn_population(lookback_days: int) -> Column:
    """Persons with a visit or a completed order in the `lookback_days` up to the as-of date: the
    population the churn label is defined on (`models.labels.with_churn_label`)."""
    never = F.lit(lookback_days)
    return (
        F.least(F.coalesce(F.col("days_since_last_visit"), never), F.coalesce(F.col("days_since_last_order"), never))
        < never
    )


def with_probability(
    rows: DataFrame, model: PipelineModel | None, output: str, *, population: Column | None = None
) -> DataFrame:
    """`rows` plus the model's probability as `output` (null outside `population` or without a model)."""
    if model is None:
        return rows.withColumn(output, F.lit(None).cast("double"))
    out = model.transform(rows)
    p = model_probability(out)
    return out.select(*rows.columns, (p if population is None else F.when(population, p)).alias(output))


def with_tags(rows: DataFrame, tags: DataFrame | None) -> DataFrame:
    """`rows` plus `tags`, the array of the person's tag names (empty without tags)."""
    if tags is None:
        return rows.withColumn("tags", F.array().cast("array<string>"))
    per_person = tags.groupBy("person_id").agg(F.sort_array(F.collect_set("tag")).alias("tags"))
    return rows.join(per_person, on="person_id", how="left").withColumn(
        "tags", F.coalesce(F.col("tags"), F.array().cast("array<string>"))
    )
