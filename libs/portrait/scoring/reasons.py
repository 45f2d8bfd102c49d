"""Reasons behind a propensity: the inputs that move a person's score most against the population.

For each input, every person is re-scored with that input set to its population median; the change
(score - re-score) is how much the person's own value of the input moves their score. The three
largest changes become readable phrases ("no purchase for 64 days (-12 pts)"); a change that rounds
to 0 points is no reason, so a person at the population's medians may have fewer. One union of
persons x inputs goes through the model once; medians come from one aggregate, joined, not collected.
"""

from __future__ import annotations

from functools import reduce

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.config_models import ReasonInput
from portrait.models.evaluation import model_probability

TOP = 3


def _phrase(inputs: list[ReasonInput]) -> Column:
    """The phrase of the input named in `_input` for the person's value in `_value`."""
    cases = [
        F.when(
            F.col("_input") == F.lit(i.column),
            F.when(F.col("_value").isNull(), F.lit(i.when_null or f"{i.column} unknown")).otherwise(
                F.format_string(i.phrase, F.col("_value") * F.lit(i.scale))
            ),
        )
        for i in inputs
    ]
    return F.coalesce(*cases)


def _points(delta: Column) -> Column:
    """'+12 pts' / '-3 pts': the change in percentage points, signed."""
    pts = F.round(delta * 100).cast("int")
    return F.concat(F.when(pts >= 0, F.lit("+")).otherwise(F.lit("")), pts.cast("string"), F.lit(" pts"))


def reasons(rows: DataFrame, model: PipelineModel, *, probability: str, inputs: list[ReasonInput]) -> DataFrame:
    """(person_id, reasons): the top 3 reasons behind the column `probability` of `rows`.

    Args:
        rows: one row per person with the model's input columns and `probability` (the score the
            model gave them); only the persons to explain (e.g. the churn population).
        model: the fitted pipeline that produced `probability` (its probability output is read
            with `model_probability`).
        probability: the score column to explain.
        inputs: the candidate inputs and their phrases; inputs missing from `rows` are skipped.
    """
    usable = [i for i in inputs if i.column in rows.columns]
    if not usable:
        raise ValueError(f"none of the reason inputs {[i.column for i in inputs]} is a column of the rows")
    types = dict(rows.dtypes)
    medians = rows.agg(
        *[
            F.percentile_approx(F.col(i.column).cast("double"), 0.5, 1000).alias(f"_med_{k}")
            for k, i in enumerate(usable)
        ]
    )
    base = rows.crossJoin(F.broadcast(medians))
    variants = [
        base.withColumns(
            {"_input": F.lit(i.column), "_value": F.col(i.column).cast("double"), "_base": F.col(probability)}
        )
        .withColumn(i.column, F.col(f"_med_{k}").cast(types[i.column]))
        .drop(*[f"_med_{j}" for j in range(len(usable))], probability)
        for k, i in enumerate(usable)
    ]
    scored = model.transform(reduce(DataFrame.unionByName, variants))
    delta = F.col("_base") - model_probability(scored)
    explained = scored.where(F.round(F.abs(delta) * 100) >= 1).select(  # "+0 pts" explains nothing
        "person_id",
        F.struct(
            (-F.abs(delta)).alias("order"),
            F.col("_input").alias("input"),
            F.concat(_phrase(usable), F.lit(" ("), _points(delta), F.lit(")")).alias("text"),
        ).alias("r"),
    )
    return explained.groupBy("person_id").agg(
        F.transform(F.slice(F.array_sort(F.collect_list("r")), 1, TOP), lambda r: r["text"]).alias("reasons")
    )


def with_reasons(
    rows: DataFrame, model: PipelineModel | None, *, probability: str, output: str, inputs: list[ReasonInput]
) -> DataFrame:
    """`rows` with `output` (array<string>): the reasons of the persons whose `probability` is not
    null; null for the others and when there is no model."""
    if model is None:
        return rows.withColumn(output, F.lit(None).cast("array<string>"))
    scored = rows.where(F.col(probability).isNotNull())
    found = reasons(scored, model, probability=probability, inputs=inputs).withColumnRenamed("reasons", output)
    none = F.array().cast("array<string>")  # scored, but no input moves the score by a point
    return rows.join(found, on="person_id", how="left").withColumn(
        output, F.when(F.col(probability).isNotNull(), F.coalesce(F.col(output), none))
    )
