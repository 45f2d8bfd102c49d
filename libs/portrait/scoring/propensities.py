"""Pure builders of the scoring rows: model probabilities, churn population, deciles, segments."""

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


def decile_from_cuts(column: str, cuts: list[float]) -> Column:
    """1 for the top 10 % of `column`, 10 for the lowest, given the nine decile thresholds."""
    above = sum((F.col(column) > F.lit(c)).cast("int") for c in cuts) if cuts else F.lit(0)
    return (F.lit(10) - above).cast("int")


def decile_cuts(df: DataFrame, column: str) -> DataFrame:
    """One row, `q`: the nine approximate decile thresholds of `column` (one distributed aggregate;
    a window over the whole date would put every person in one partition)."""
    return df.agg(F.percentile_approx(column, [i / 10 for i in range(1, 10)], 10000).alias("q"))


def with_tags(rows: DataFrame, tags: DataFrame | None) -> DataFrame:
    """`rows` plus `tags`, the array of the person's tag names (empty without tags)."""
    if tags is None:
        return rows.withColumn("tags", F.array().cast("array<string>"))
    per_person = tags.groupBy("person_id").agg(F.sort_array(F.collect_set("tag")).alias("tags"))
    return rows.join(per_person, on="person_id", how="left").withColumn(
        "tags", F.coalesce(F.col("tags"), F.array().cast("array<string>"))
    )
