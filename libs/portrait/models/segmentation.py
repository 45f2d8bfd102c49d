"""Segments: KMeans on scaled behaviour features, each cluster named from its profile."""
from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.models.inputs import input_stages

SEGMENT_FEATURES = [
    "orders_90d", "revenue_90d", "orders_365d", "days_since_last_order", "days_since_last_visit",
    "sessions_30d", "sessions_90d", "product_views_90d", "cart_adds_90d", "coupon_share_90d",
    "orders_trend_30d", "tenure_days",
]


def fit_segments(portrait: DataFrame, *, k: int, seed: int) -> tuple[PipelineModel, dict[str, float]]:
    """Fit KMeans with `k` clusters on log-scaled, standardised behaviour features.

    Returns:
        The fitted pipeline (its output column `prediction` is the cluster) and its silhouette.
    """
    stages = input_stages(SEGMENT_FEATURES, output="raw_features", log_scale=True)
    scaler = StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True)
    kmeans = KMeans(k=k, seed=seed, featuresCol="features", maxIter=40)
    model = Pipeline(stages=[*stages, scaler, kmeans]).fit(portrait)
    silhouette = ClusteringEvaluator(featuresCol="features").evaluate(model.transform(portrait))
    return model, {"silhouette": silhouette, "k": float(k)}


def profile_segments(model: PipelineModel, portrait: DataFrame) -> DataFrame:
    """Size and mean behaviour per cluster (small: one row per cluster)."""
    return (
        model.transform(portrait)
        .groupBy(F.col("prediction").alias("cluster"))
        .agg(F.count("*").alias("size"), *[F.avg(F.coalesce(F.col(c).cast("double"), F.lit(0.0))).alias(c)
                                           for c in SEGMENT_FEATURES if c != "days_since_last_order"],
             F.avg(F.coalesce(F.col("days_since_last_order").cast("double"), F.lit(999.0))).alias("days_since_last_order"))
    )


def name_segments(profiles: list[dict]) -> dict[int, str]:
    """Name clusters from their profile, by rules on a handful of means (driver-side, k rows).

    Order of precedence: champions (most revenue), then new (shortest tenure), hibernating
    (longest since last visit), at_risk (bought before, long since last order), loyal (most
    orders in the year), promising (the rest, by sessions). Names stay unique.
    """
    remaining = {int(p["cluster"]): p for p in profiles}
    names: dict[int, str] = {}

    def take(name: str, key, reverse: bool) -> None:
        if not remaining:
            return
        cluster = sorted(remaining, key=lambda c: key(remaining[c]), reverse=reverse)[0]
        names[cluster] = name
        del remaining[cluster]

    take("champions", lambda p: p["revenue_90d"], True)
    take("hibernating", lambda p: p["days_since_last_visit"], True)
    take("new", lambda p: p["tenure_days"], False)
    take("at_risk", lambda p: p["days_since_last_order"] if p["orders_365d"] > 0.5 else -1, True)
    take("loyal", lambda p: p["orders_365d"], True)
    for i, cluster in enumerate(sorted(remaining, key=lambda c: -remaining[c]["sessions_30d"])):
        names[cluster] = "promising" if i == 0 else f"promising_{i + 1}"
    return names
