"""Model families of a propensity: the GBT, a regularised logistic regression, their blend; one chosen on validation.

The three candidates share their inputs (raw portrait or order-feature rows, imputed inside the
pipeline by `models.inputs`):

- `gbt`: the tuned GBT (`models.propensity.build_pipeline`);
- `logistic`: a logistic regression with a small L2 penalty on signed-log1p, standardised inputs
  (heavy-tailed counts and amounts would otherwise dominate a linear score);
- `blend`: (1 - w) x the GBT's P(1) + w x the logistic regression's, with the logistic weight w
  chosen among `LOGISTIC_WEIGHTS` (`blender.ProbabilityBlend`, so a blend is one PipelineModel).

`choose` fits both models once on the tuner's fit persons and scores its validation persons: the
AUC at weight 0 is the GBT's, at weight 1 the logistic regression's, the best inner weight is the
blend's. The family with the best validation AUC wins (on a tie the simpler one: gbt, then logistic,
then blend); test rows are never looked at. Every family's last stage writes `probability`, so the
calibration stage, the evaluation, the promotion gate, scoring and its reasons read any of them
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import StandardScaler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.models.blender import GBT_PROBABILITY, LOGISTIC_PROBABILITY, ProbabilityBlend, blended
from portrait.models.evaluation import auc
from portrait.models.inputs import input_stages

GBT = "gbt"
LOGISTIC = "logistic"
BLEND = "blend"
FAMILIES = (GBT, LOGISTIC, BLEND)  # also the order of preference on a tie
LOGISTIC_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # share of the logistic regression in the blend
REG_PARAM = 0.01  # the logistic regression's L2 penalty (elasticNetParam 0) on standardised inputs
FAMILY_TAG = "family"  # the model version tag (and MLflow param) naming the registered family


@dataclass(frozen=True)
class Family:
    """A model family and its logistic weight (0 for the GBT, 1 for the logistic regression)."""

    name: str
    logistic_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in FAMILIES:
            raise ValueError(f"unknown model family {self.name!r}: expected one of {', '.join(FAMILIES)}")

    @property
    def label(self) -> str:
        """What the registry and `portrait status` show: 'gbt', 'logistic', 'blend (logistic weight 0.25)'."""
        return f"{BLEND} (logistic weight {self.logistic_weight:g})" if self.name == BLEND else self.name


GBT_FAMILY = Family(GBT, 0.0)


@dataclass(frozen=True)
class FamilyChoice:
    """The chosen family and the validation AUCs it was chosen on."""

    family: Family
    valid_auc: dict[str, float]  # gbt, logistic, blend (at its best inner weight)
    blend_weight: float  # the best inner weight, whichever family won
    weight_auc: dict[float, float] = field(default_factory=dict)  # the blend's AUC at every weight

    @property
    def auc(self) -> float:
        return self.valid_auc[self.family.name]


def gbt_classifier(params: dict, *, seed: int, features: str = "features", suffix: str = "") -> GBTClassifier:
    """The GBT with tuned `params`; `suffix` renames its output columns (`probability<suffix>`, ...)."""
    gbt = GBTClassifier(
        labelCol="label",
        featuresCol=features,
        predictionCol=f"prediction{suffix}",
        seed=seed,
        maxDepth=params["max_depth"],
        maxIter=params["max_iter"],
        stepSize=params["step_size"],
        subsamplingRate=params.get("subsampling_rate", 1.0),
    )
    # Not constructor arguments of GBTClassifier in pyspark 4.2, but params of every probabilistic classifier.
    return gbt.setProbabilityCol(f"probability{suffix}").setRawPredictionCol(f"rawPrediction{suffix}")


def logistic_stages(columns: list[str], *, reg_param: float = REG_PARAM, suffix: str = "") -> list:
    """Inputs (imputed, signed log1p), StandardScaler and LogisticRegression over `columns`.

    `reg_param` is the L2 penalty; `suffix` renames the regression's output columns.
    """
    return [
        *input_stages(columns, output="raw_logistic", log_scale=True, prefix="l_"),
        StandardScaler(inputCol="raw_logistic", outputCol="features_logistic", withMean=True),
        LogisticRegression(
            labelCol="label",
            featuresCol="features_logistic",
            probabilityCol=f"probability{suffix}",
            rawPredictionCol=f"rawPrediction{suffix}",
            predictionCol=f"prediction{suffix}",
            regParam=reg_param,
            elasticNetParam=0.0,
            maxIter=100,
        ),
    ]


def pipeline(family: Family, gbt_cols: list[str], logistic_cols: list[str], params: dict, *, seed: int) -> Pipeline:
    """The unfitted pipeline of `family`: raw rows in, `probability` (and `prediction`) out.

    Args:
        gbt_cols: the GBT's inputs; logistic_cols: the logistic regression's.
        params: the GBT's tuned parameters (unused by the logistic family).
    """
    if family.name == GBT:
        return Pipeline(stages=[*input_stages(gbt_cols), gbt_classifier(params, seed=seed)])
    if family.name == LOGISTIC:
        return Pipeline(stages=logistic_stages(logistic_cols))
    return Pipeline(
        stages=[
            *input_stages(gbt_cols, output="features_gbt", prefix="g_"),
            gbt_classifier(params, seed=seed, features="features_gbt", suffix="_gbt"),
            *logistic_stages(logistic_cols, suffix="_logistic"),
            ProbabilityBlend(weight=family.logistic_weight),
        ]
    )


def both_scores(fitted_blend: PipelineModel, rows: DataFrame) -> DataFrame:
    """`label`, `p_gbt` and `p_logistic` (each model's P(1)) of labelled `rows` by a fitted blend pipeline."""
    out = fitted_blend.transform(rows)
    return out.select(
        F.col("label").cast("double").alias("label"),
        vector_to_array(out[GBT_PROBABILITY])[1].alias("p_gbt"),
        vector_to_array(out[LOGISTIC_PROBABILITY])[1].alias("p_logistic"),
    )


def _scores_of_two(gbt: PipelineModel, logistic: PipelineModel, rows: DataFrame) -> DataFrame:
    """`both_scores` of labelled `rows` by a fitted GBT pipeline and a fitted logistic pipeline (each
    writing `probability`), one after the other on the same rows."""
    p1 = vector_to_array(F.col("probability"))[1]
    by_gbt = gbt.transform(rows).withColumn("p_gbt", p1).select(*rows.columns, "p_gbt")
    out = logistic.transform(by_gbt)
    return out.select(F.col("label").cast("double").alias("label"), "p_gbt", p1.alias("p_logistic"))


def weight_aucs(scores: DataFrame, weights: tuple[float, ...] = LOGISTIC_WEIGHTS) -> dict[float, float]:
    """The AUC of the blend at every logistic weight of `weights` on `both_scores` rows."""
    return {w: auc(scores.select(blended(F.col("p_gbt"), F.col("p_logistic"), w).alias("p"), "label")) for w in weights}


def best_family(aucs: dict[float, float]) -> FamilyChoice:
    """The family with the best AUC among the GBT (weight 0), the logistic regression (weight 1) and
    the blend at its best inner weight; a tie goes to the simpler family (`FAMILIES` order)."""
    inner = [w for w in aucs if 0.0 < w < 1.0]
    blend_weight = max(inner, key=lambda w: aucs[w])  # the lowest weight among equals
    candidates = {
        GBT: Family(GBT, 0.0),
        LOGISTIC: Family(LOGISTIC, 1.0),
        BLEND: Family(BLEND, blend_weight),
    }
    valid = {name: aucs[f.logistic_weight] for name, f in candidates.items()}
    winner = max(FAMILIES, key=lambda name: (valid[name], -FAMILIES.index(name)))
    return FamilyChoice(candidates[winner], valid, blend_weight, dict(aucs))


def choose(
    fit_part: DataFrame,
    valid: DataFrame,
    gbt_cols: list[str],
    logistic_cols: list[str],
    params: dict,
    *,
    seed: int,
    fitted_gbt: PipelineModel | None = None,
) -> FamilyChoice:
    """The family with the best validation AUC: both models fitted on `fit_part`, scored on `valid`.

    Args:
        fit_part, valid: labelled rows of disjoint persons (the tuner's person split of the train rows).
        params: the GBT's tuned parameters.
        fitted_gbt: the GBT pipeline (`models.propensity.build_pipeline`) already fitted with `params`
            on `fit_part` (the tuner's best trial): only the logistic regression is fitted then. The
            same parameters, seed and rows give the same trees, so the AUCs are those of a refit.
    """
    if fitted_gbt is None:
        fitted = pipeline(Family(BLEND, 0.5), gbt_cols, logistic_cols, params, seed=seed).fit(fit_part)
        scores = both_scores(fitted, valid)
    else:
        scores = _scores_of_two(fitted_gbt, Pipeline(stages=logistic_stages(logistic_cols)).fit(fit_part), valid)
    scores = scores.persist()
    try:
        return best_family(weight_aucs(scores))
    finally:
        scores.unpersist()


def family_aucs(
    train: DataFrame,
    rows: DataFrame,
    gbt_cols: list[str],
    logistic_cols: list[str],
    params: dict,
    *,
    seed: int,
    blend_weight: float,
    fitted_blend: PipelineModel | None = None,
) -> dict[str, float]:
    """Every family's AUC (uncalibrated P(1)) on labelled `rows`, each fitted on `train`: a report
    next to the chosen one (e.g. on held-out persons), never a choice.

    Args:
        fitted_blend: the blend at `blend_weight` already fitted on `train` with `params` (the chosen
            model, when the blend won; its calibration stage, if any, is left aside): not fitted again.
    """
    fitted = fitted_blend
    if fitted is None:
        fitted = pipeline(Family(BLEND, blend_weight), gbt_cols, logistic_cols, params, seed=seed).fit(train)
    scores = both_scores(fitted, rows).persist()
    try:
        by_weight = weight_aucs(scores, (0.0, blend_weight, 1.0))
    finally:
        scores.unpersist()
    return {GBT: by_weight[0.0], LOGISTIC: by_weight[1.0], BLEND: by_weight[blend_weight]}
