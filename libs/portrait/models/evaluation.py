"""How good a binary propensity model is, computed in Spark: ranking, calibration, lift and gain.

Every number comes from a distributed aggregate; only small tables reach the driver (10 bins,
10 deciles, 100 ROC points, one row per feature), for the metrics and the plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.ml import PipelineModel
from pyspark.ml.classification import GBTClassificationModel, LogisticRegressionModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait.models import inputs
from portrait.models.blender import ProbabilityBlend
from portrait.models.calibrator import CALIBRATED  # the calibration stage's output
from portrait.models.deciles import with_decile

ECE_BINS = 10
ROC_POINTS = 100


def raw_probability(predictions: DataFrame) -> Column:
    """P(label = 1) from a classifier's `probability` vector (before calibration)."""
    return vector_to_array(predictions["probability"])[1]


def model_probability(predictions: DataFrame) -> Column:
    """The probability a model publishes: calibrated if its pipeline has the calibration stage."""
    if CALIBRATED in predictions.columns:
        return F.col(CALIBRATED)
    return raw_probability(predictions)


@dataclass
class Report:
    """A model's metrics (flat, for MLflow) and the small tables behind its plots."""

    metrics: dict[str, float]
    calibration: list[dict] = field(default_factory=list)  # bin, rows, mean_p, positive_rate
    deciles: list[dict] = field(default_factory=list)  # decile (1 = top), rows, positives, lift, gain
    roc: list[dict] = field(default_factory=list)  # fpr, tpr from (0, 0) to (1, 1)
    importances: list[dict] = field(default_factory=list)  # feature, importance, most important first


def auc(scored: DataFrame, *, score: str = "p", label: str = "label") -> float:
    """Area under the ROC curve of `score` against `label` (ties count one half)."""
    return BinaryClassificationEvaluator(rawPredictionCol=score, labelCol=label, metricName="areaUnderROC").evaluate(
        scored
    )


def pr_auc(scored: DataFrame, *, score: str = "p", label: str = "label") -> float:
    return BinaryClassificationEvaluator(rawPredictionCol=score, labelCol=label, metricName="areaUnderPR").evaluate(
        scored
    )


def calibration_table(scored: DataFrame, *, score: str = "p", label: str = "label", bins: int = ECE_BINS) -> list[dict]:
    """Rows per equal-width probability bin: mean predicted probability and observed positive rate."""
    bin_of = F.least(F.floor(F.col(score) * bins), F.lit(bins - 1)).cast("int")
    rows = (
        scored.groupBy(bin_of.alias("bin"))
        .agg(F.count("*").alias("rows"), F.avg(score).alias("mean_p"), F.avg(label).alias("positive_rate"))
        .orderBy("bin")
        .collect()
    )
    return [r.asDict() for r in rows]


def expected_calibration_error(table: list[dict]) -> float:
    """ECE: the row-weighted mean of |mean predicted - observed rate| over the bins of `calibration_table`."""
    total = sum(r["rows"] for r in table)
    if total == 0:
        raise ValueError("expected_calibration_error on no rows")
    return sum(r["rows"] * abs(r["mean_p"] - r["positive_rate"]) for r in table) / total


def decile_table(scored: DataFrame, *, score: str = "p", label: str = "label", key: str = "person_id") -> list[dict]:
    """Lift and cumulative gain by score decile (1 = highest scores).

    Deciles are equal-sized (`models.deciles.with_decile`, as the published `propensity_decile`):
    tied scores are split by `key` when `scored` has it, else in Spark's order.
    """
    ranked = with_decile(scored, score, output="decile", key=key if key in scored.columns else None)
    rows = (
        ranked.groupBy("decile")
        .agg(F.count("*").alias("rows"), F.sum(label).alias("positives"))
        .orderBy("decile")
        .collect()
    )
    total_rows = sum(r["rows"] for r in rows)
    total_pos = sum(r["positives"] for r in rows)
    base = total_pos / total_rows if total_rows else 0.0
    out, captured = [], 0.0
    for r in rows:
        captured += r["positives"]
        rate = r["positives"] / r["rows"]
        out.append(
            {
                "decile": r["decile"],
                "rows": r["rows"],
                "positives": float(r["positives"]),
                "lift": rate / base if base else 0.0,
                "gain": captured / total_pos if total_pos else 0.0,
            }
        )
    return out


def roc_curve(scored: DataFrame, *, score: str = "p", label: str = "label", points: int = ROC_POINTS) -> list[dict]:
    """ROC points at `points` equal-width score thresholds, from counts per score bin."""
    bin_of = F.least(F.floor(F.col(score) * points), F.lit(points - 1)).cast("int")
    counts = {
        r["bin"]: (r["pos"], r["neg"])
        for r in scored.groupBy(bin_of.alias("bin"))
        .agg(F.sum(label).alias("pos"), F.sum(1 - F.col(label)).alias("neg"))
        .collect()
    }
    pos_total = sum(p for p, _ in counts.values()) or 1.0
    neg_total = sum(n for _, n in counts.values()) or 1.0
    curve, tp, fp = [{"fpr": 0.0, "tpr": 0.0}], 0.0, 0.0
    for b in range(points - 1, -1, -1):  # threshold moving down: more rows called positive
        p, n = counts.get(b, (0.0, 0.0))
        tp, fp = tp + p, fp + n
        curve.append({"fpr": fp / neg_total, "tpr": tp / pos_total})
    return curve


def _named(assembler: VectorAssembler | None, values: list[float]) -> dict[str, float]:
    """Importances by input column, from the assembler that built the model's vector (its inputs
    are the imputed `<prefix><column>` columns of `models.inputs.input_stages`)."""
    if assembler is None:
        raise ValueError("a classifier stage with no VectorAssembler before it")
    names = [inputs.column_of(c) for c in assembler.getInputCols()]
    if len(values) != len(names):
        raise ValueError(f"a classifier with {len(values)} weights on {len(names)} assembled columns")
    return dict(zip(names, values, strict=True))


def _parts(model: PipelineModel) -> list[tuple[str, dict[str, float]]]:
    """(gbt or logistic, importance per input) of each classifier stage of `model`."""
    parts, assembler = [], None
    for stage in model.stages:
        if isinstance(stage, VectorAssembler):
            assembler = stage
        elif isinstance(stage, GBTClassificationModel):
            parts.append(("gbt", _named(assembler, stage.featureImportances.toArray().tolist())))
        elif isinstance(stage, LogisticRegressionModel):
            size = [abs(c) for c in stage.coefficients.toArray().tolist()]
            total = sum(size) or 1.0
            parts.append(("logistic", _named(assembler, [c / total for c in size])))
    return parts


def feature_importances(model: PipelineModel, feature_cols: list[str]) -> list[dict]:
    """Each feature's importance, largest first, summing to 1 (0 for a feature a model does not use).

    The GBT's `featureImportances`; for the logistic regression the share of each |coefficient| on
    its standardised inputs; for a blend (`blender.ProbabilityBlend`) the two, weighted as the
    blend weighs the models' probabilities.
    """
    parts = _parts(model)
    if not parts or len({kind for kind, _ in parts}) != len(parts):
        raise ValueError(f"expected a GBT, a logistic regression or one of each in the pipeline, found {parts}")
    weight = next((s.getWeight() for s in model.stages if isinstance(s, ProbabilityBlend)), None)
    share = {"gbt": 1.0 - weight, "logistic": weight} if weight is not None else {parts[0][0]: 1.0}
    unknown = {f for _, named in parts for f in named} - set(feature_cols)
    if unknown or len(parts) != len(share):
        raise ValueError(f"importances of {sorted(unknown)} (not feature columns) or of {len(parts)} models")
    total = {f: sum(share[kind] * named.get(f, 0.0) for kind, named in parts) for f in feature_cols}
    return [{"feature": f, "importance": v} for f, v in sorted(total.items(), key=lambda fv: -fv[1])]


def scored_rows(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """(label, p = published probability, p_raw = the classifier's (or blend's) uncalibrated P(1), and person_id when `rows` have
    it: the tie-breaker of the deciles) for labelled rows."""
    out = model.transform(rows)
    return out.select(
        *(["person_id"] if "person_id" in rows.columns else []),
        F.col("label").cast("double").alias("label"),
        model_probability(out).alias("p"),
        raw_probability(out).alias("p_raw"),
    )


def model_auc(model: PipelineModel, rows: DataFrame) -> float:
    """AUC of the probability `model` publishes, on labelled raw portrait rows."""
    return auc(scored_rows(model, rows))


def evaluate(model: PipelineModel, rows: DataFrame, feature_cols: list[str]) -> Report:
    """Everything we log about a model on labelled rows (one small persisted frame, a few jobs).

    Metrics: auc, pr_auc, brier, ece (10 equal-width bins), base_rate, rows, auc_uncalibrated,
    lift and gain per equal-sized decile of the published probability and the top-decile lift.
    """
    scored = scored_rows(model, rows).persist(StorageLevel.MEMORY_AND_DISK)
    agg = scored.agg(
        F.avg((F.col("p") - F.col("label")) ** 2).alias("brier"),
        F.avg("label").alias("base_rate"),
        F.count("*").alias("rows"),
        F.countDistinct("label").alias("classes"),
    ).first()
    if agg["classes"] != 2:
        scored.unpersist()
        raise ValueError(
            f"cannot evaluate a binary model on {agg['rows']} rows with {agg['classes']} label "
            "value(s): the evaluation set needs positives and negatives (more persons or dates)"
        )
    calibration = calibration_table(scored)
    deciles = decile_table(scored)
    metrics = {
        "auc": auc(scored),
        "pr_auc": pr_auc(scored),
        "auc_uncalibrated": auc(scored, score="p_raw"),
        "brier": agg["brier"],
        "ece": expected_calibration_error(calibration),
        "base_rate": agg["base_rate"],
        "rows": float(agg["rows"]),
        "top_decile_lift": deciles[0]["lift"],
        **{f"lift_decile_{d['decile']}": d["lift"] for d in deciles},
        **{f"gain_decile_{d['decile']}": d["gain"] for d in deciles},
    }
    report = Report(
        metrics=metrics,
        calibration=calibration,
        deciles=deciles,
        roc=roc_curve(scored),
        importances=feature_importances(model, feature_cols),
    )
    scored.unpersist()
    return report
