"""Reasons behind a propensity: the inputs that move a person's model score most against the population.

For each input, every person is re-scored with that input set, in turn, to five population
quantiles (10 %, 30 %, 50 %, 70 %, 90 %: typical values, weighted as the population has them);
the change in the model's uncalibrated P(1) (score - mean of the re-scores,
`evaluation.raw_probability`) is how much the person's own value of the input moves their score.
Against the median alone, a tree model often gave exactly 0 (the person's value and the median in
the same leaves: 28 % of the tiny lake's churn population had no reason); against the spread of
typical values an input that the model uses anywhere in its range moves the score. The raw score
is used, not the published calibrated one: a calibration map flattens parts of the score (a step
function flattened most of them, and most persons got no reason), while the raw score is what the
inputs act on; the calibration is increasing, so the sign is the same. The three largest changes by size become
readable phrases ("no purchase for 64 days (-12 pts)", "1 order in 90 days (+0.4 pts)"); only an
input that does not move the score at all is no reason. One union of persons x (1 + 5 x inputs)
rows goes through the model once; the quantiles come from one aggregate, joined, not collected.
"""

from __future__ import annotations

from functools import reduce

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from portrait.config_models import ReasonInput
from portrait.models.evaluation import raw_probability

TOP = 3
OWN = ""  # `_input` of the person's own, unchanged row in the union
BACKGROUND = [0.1, 0.3, 0.5, 0.7, 0.9]  # the population quantiles an input is set to, in turn
MIN_CHANGE = 1e-9  # a smaller change is rounding in the mean of the re-scores, not an effect


def _phrase(inputs: list[ReasonInput]) -> Column:
    """The phrase of the input named in `_input` for the person's value in `_value`: `phrase_one`
    (the singular) when the value shown rounds to 1, `when_null` for a missing value."""
    cases = []
    for i in inputs:
        shown = F.col("_value") * F.lit(i.scale)
        text = F.format_string(i.phrase, shown)
        if i.phrase_one is not None:
            text = F.when(F.round(shown, 0) == F.lit(1.0), F.lit(i.phrase_one)).otherwise(text)
        cases.append(
            F.when(
                F.col("_input") == F.lit(i.column),
                F.when(F.col("_value").isNull(), F.lit(i.when_null or f"{i.column} unknown")).otherwise(text),
            )
        )
    return F.coalesce(*cases)


def points(delta: Column) -> Column:
    """The change `delta` (a probability difference, not 0) in percentage points, signed and readable:
    '+12 pts', '-1 pt', '+0.4 pts', '-<0.1 pts'."""
    pts = delta * F.lit(100.0)
    size = F.abs(pts)
    sign = F.when(pts > 0, F.lit("+")).otherwise(F.lit("-"))
    whole = F.round(size).cast("int")
    return F.concat(
        sign,
        F.when(size >= 0.95, F.concat(whole.cast("string"), F.when(whole == 1, F.lit(" pt")).otherwise(F.lit(" pts"))))
        .when(size >= 0.05, F.concat(F.format_string("%.1f", size), F.lit(" pts")))
        .otherwise(F.lit("<0.1 pts")),
    )


def _variants(rows: DataFrame, usable: list[ReasonInput], *, probability: str) -> DataFrame:
    """The union to re-score: each person's own row (`_input` = OWN), and for each input one row
    per background value, the input set to that value (`_value`: the person's own value)."""
    types = dict(rows.dtypes)
    background = rows.agg(
        *[
            F.percentile_approx(F.col(i.column).cast("double"), BACKGROUND, 1000).alias(f"_bg_{k}")
            for k, i in enumerate(usable)
        ]
    )
    base = rows.drop(probability).crossJoin(F.broadcast(background))
    bg_cols = [f"_bg_{k}" for k in range(len(usable))]
    own = base.withColumns({"_input": F.lit(OWN), "_value": F.lit(None).cast("double")}).drop(*bg_cols)
    variants = [
        base.withColumns({"_input": F.lit(i.column), "_value": F.col(i.column).cast("double")})
        .withColumn("_bg", F.explode(F.col(f"_bg_{k}")))
        .withColumn(i.column, F.col("_bg").cast(types[i.column]))
        .drop("_bg", *bg_cols)
        for k, i in enumerate(usable)
    ]
    return reduce(DataFrame.unionByName, [own, *variants])


def reasons(rows: DataFrame, model: PipelineModel, *, probability: str, inputs: list[ReasonInput]) -> DataFrame:
    """(person_id, reasons): the top 3 reasons behind the model's score of `rows`.

    Args:
        rows: one row per person with the model's input columns and `probability` (the score the
            model published for them; not read, dropped from the re-scored rows); only the persons
            to explain (e.g. the churn population).
        model: the fitted pipeline that produced `probability`; the changes are read from its
            uncalibrated `probability` vector.
        probability: the published score column.
        inputs: the candidate inputs and their phrases; inputs missing from `rows` are skipped.

    Returns:
        One row per person of `rows` with at least one input that moves their score; `reasons` is
        ordered by the size of the change, largest first.
    """
    usable = [i for i in inputs if i.column in rows.columns]
    if not usable:
        raise ValueError(f"none of the reason inputs {[i.column for i in inputs]} is a column of the rows")
    scored = model.transform(_variants(rows, usable, probability=probability))
    # One exchange by person: the window and both aggregates below are clustered by person_id.
    person = Window.partitionBy("person_id").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    p = raw_probability(scored)
    with_own = scored.select(
        "person_id",
        "_input",
        "_value",
        p.alias("_p"),
        F.max(F.when(F.col("_input") == F.lit(OWN), p)).over(person).alias("_own"),
    )
    changes = (
        with_own.where(F.col("_input") != F.lit(OWN))
        .groupBy("person_id", "_input")
        .agg(F.max("_value").alias("_value"), (F.max("_own") - F.avg("_p")).alias("_delta"))
    )
    delta = F.col("_delta")
    explained = changes.where(F.abs(delta) >= F.lit(MIN_CHANGE)).select(
        "person_id",
        F.struct(
            (-F.abs(delta)).alias("order"),
            F.col("_input").alias("input"),
            F.concat(_phrase(usable), F.lit(" ("), points(delta), F.lit(")")).alias("text"),
        ).alias("r"),
    )
    return explained.groupBy("person_id").agg(
        F.transform(F.slice(F.array_sort(F.collect_list("r")), 1, TOP), lambda r: r["text"]).alias("reasons")
    )


def with_reasons(
    rows: DataFrame, model: PipelineModel | None, *, probability: str, output: str, inputs: list[ReasonInput]
) -> DataFrame:
    """`rows` with `output` (array<string>): the reasons of the persons whose `probability` is not
    null (empty when no input moves their score at all); null for the others and without a model."""
    if model is None:
        return rows.withColumn(output, F.lit(None).cast("array<string>"))
    scored = rows.where(F.col(probability).isNotNull())
    found = reasons(scored, model, probability=probability, inputs=inputs).withColumnRenamed("reasons", output)
    none = F.array().cast("array<string>")  # scored, but every input at a value that moves nothing
    return rows.join(found, on="person_id", how="left").withColumn(
        output, F.when(F.col(probability).isNotNull(), F.coalesce(F.col(output), none))
    )
