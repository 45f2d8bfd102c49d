"""Segments: KMeans on scaled behaviour features, k by silhouette, ids stable across retrains.

A segment model is a Spark ML pipeline (inputs -> standardise -> KMeans) whose output column
`prediction` is the *cluster*; the registry tags of its version map each cluster to a stable
*segment id* (`cluster_to_segment`) and each segment id to a name (`segment_names`). Ids are
kept from one training to the next by matching the new centroids to the previous champion's.
"""

from __future__ import annotations

import itertools
import math

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, StandardScalerModel, VectorAssembler
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from portrait.keys import NEVER_DAYS  # recency null = never: beyond any window, like the other models
from portrait.spark import per_core


def _n(column: str) -> str:
    return f"coalesce(cast(`{column}` AS double), 0.0)"


def _log_count(column: str) -> str:
    return f"ln(1.0 + greatest({_n(column)}, 0.0))"


# Model inputs: name -> SQL over a gold.portrait row. Counts are log-scaled (their spread is
# multiplicative), shares stay in [0, 1]; all are then standardised. Chosen on the demo lake for
# how well they recover the generator's archetypes (bench/segments.py): days with a visit (less
# noisy than sessions) over 90 and 30 days (steady, fading or just started), how often a cart
# ends in a purchase (buyers vs window shoppers), coupon use (bargain hunters) and an account
# younger than 30 days (new customers).
SEGMENT_INPUTS: dict[str, str] = {
    "log_visit_days_90d": _log_count("visit_days_90d"),
    "log_visit_days_30d": _log_count("visit_days_30d"),
    "cart_to_purchase_rate_90d": _n("cart_to_purchase_rate_90d"),
    "coupon_share_90d": _n("coupon_share_90d"),
    "new_account_30d": "CASE WHEN `tenure_days` <= 30 THEN 1.0 ELSE 0.0 END",
}
SEGMENT_FEATURES = ["visit_days_90d", "visit_days_30d", "cart_to_purchase_rate_90d", "coupon_share_90d", "tenure_days"]
# Described per segment (means) besides the model inputs.
PROFILE_FEATURES = [
    "orders_90d",
    "revenue_90d",
    "orders_365d",
    "days_since_last_order",
    "days_since_last_visit",
    "sessions_30d",
    "sessions_90d",
    "product_views_90d",
    "cart_adds_90d",
    "coupon_share_90d",
    "orders_trend_30d",
    "tenure_days",
]


def input_pipeline() -> list:
    """SQLTransformer (the SEGMENT_INPUTS) + VectorAssembler + StandardScaler -> `features`."""
    exprs = ", ".join(f"{sql} AS `seg_{name}`" for name, sql in SEGMENT_INPUTS.items())
    return [
        SQLTransformer(statement=f"SELECT *, {exprs} FROM __THIS__"),
        VectorAssembler(inputCols=[f"seg_{n}" for n in SEGMENT_INPUTS], outputCol="raw_features", handleInvalid="keep"),
        StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True),
    ]


def fit_segments(
    portrait: DataFrame, *, ks: list[int], seed: int
) -> tuple[PipelineModel, dict[str, float], dict[int, float]]:
    """Fit KMeans for every k in `ks` on the scaled inputs; keep the k with the best silhouette.

    The inputs are prepared once and cached; each k is one KMeans fit and one silhouette
    (Spark ML `ClusteringEvaluator`, squared euclidean).

    Returns:
        The fitted pipeline of the best k (output column `prediction` is the cluster), its
        metrics (`silhouette`, `k`) and the silhouette of every k tried.
    """
    if not ks:
        raise ValueError("fit_segments needs at least one k")
    prep = Pipeline(stages=input_pipeline()).fit(portrait)
    # One partition per core: each KMeans iteration is a Spark job, costed per task (`spark.per_core`).
    prepared = per_core(prep.transform(portrait).select("features")).persist(StorageLevel.MEMORY_AND_DISK)
    evaluator = ClusteringEvaluator(featuresCol="features")
    curve: dict[int, float] = {}
    models: dict[int, KMeansModel] = {}
    try:
        for k in ks:
            models[k] = KMeans(k=k, seed=seed, featuresCol="features", maxIter=40).fit(prepared)
            curve[k] = evaluator.evaluate(models[k].transform(prepared))
    finally:
        prepared.unpersist()
    best = max(curve, key=lambda k: (curve[k], -k))  # ties: the smaller k
    model = PipelineModel(stages=[*prep.stages, models[best]])
    return model, {"silhouette": curve[best], "k": float(best)}, curve


def centroids(model: PipelineModel) -> tuple[list[str], list[list[float]], list[float]]:
    """The model's inputs, its centroids in input units (before standardising) and the inputs' std.

    Centroids of two models are comparable in these units, whatever data each scaler was fitted on.
    """
    assembler = next(s for s in model.stages if isinstance(s, VectorAssembler))
    scaler = next(s for s in model.stages if isinstance(s, StandardScalerModel))
    kmeans = next(s for s in model.stages if isinstance(s, KMeansModel))
    mean, std = scaler.mean.toArray(), scaler.std.toArray()
    centres = [[float(c[i] * std[i] + mean[i]) for i in range(len(c))] for c in kmeans.clusterCenters()]
    return list(assembler.getInputCols()), centres, [float(s) for s in std]


def _min_cost_assignment(cost: list[list[float]]) -> dict[int, int]:
    """Exact minimum-cost matching of rows to columns (each used once), for a few rows.

    Dynamic programming over subsets of columns (k <= 10: at most 10 x 2^10 states), so no
    solver is needed. With more rows than columns the extra rows stay unmatched.
    """
    n_rows, n_cols = len(cost), len(cost[0]) if cost else 0
    if n_rows > n_cols:  # match columns to rows instead and invert
        flipped = _min_cost_assignment([list(col) for col in zip(*cost, strict=False)])
        return {r: c for c, r in flipped.items()}
    best: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
    for r in range(n_rows):
        nxt: dict[int, tuple[float, tuple[int, ...]]] = {}
        for used, (total, picks) in best.items():
            for c in range(n_cols):
                if used & (1 << c):
                    continue
                key, value = used | (1 << c), total + cost[r][c]
                if key not in nxt or value < nxt[key][0]:
                    nxt[key] = (value, picks + (c,))
        best = nxt
    _, picks = min(best.values(), key=lambda t: t[0])
    return dict(enumerate(picks))


def match_segments(
    new: list[list[float]], previous: list[list[float]], previous_ids: dict[int, int], *, scale: list[float]
) -> dict[int, int]:
    """Segment id of every new cluster: the id of the previous centroid it is matched to.

    Args:
        new: centroids of the new model (input units), one per cluster.
        previous: centroids of the previous model, same inputs in the same order.
        previous_ids: the previous model's cluster -> segment id.
        scale: per input, the unit distances are measured in (the new scaler's std).

    Returns:
        new cluster -> segment id. Centroids are paired by the matching of least total
        euclidean distance; a new cluster left over (k grew) gets a fresh id above all previous ones.
    """

    def distance(a: list[float], b: list[float]) -> float:
        return math.sqrt(sum(((x - y) / (s or 1.0)) ** 2 for x, y, s in zip(a, b, scale, strict=False)))

    if not previous:
        return {c: c for c in range(len(new))}
    pairs = _min_cost_assignment([[distance(a, b) for b in previous] for a in new])
    ids = {c: previous_ids.get(p, p) for c, p in pairs.items()}
    fresh = itertools.count(max([*previous_ids.values(), len(previous) - 1]) + 1)
    for c in range(len(new)):
        if c not in ids:
            ids[c] = next(fresh)
    return dict(sorted(ids.items()))


def with_segment_id(clustered: DataFrame, cluster_to_segment: dict[int, int]) -> DataFrame:
    """`segment_id` from the model's `prediction` through the version's mapping."""
    mapping = F.create_map(*[F.lit(x) for c, s in sorted(cluster_to_segment.items()) for x in (c, s)])
    return clustered.withColumn("segment_id", mapping[F.col("prediction").cast("int")].cast("int"))


def profile_segments(model: PipelineModel, portrait: DataFrame, cluster_to_segment: dict[int, int]) -> DataFrame:
    """Size, share and mean of the profile features per segment (small: one row per segment).

    Missing values count as 0, recency as NEVER_DAYS, like the model sees them.
    """

    def value(c: str):
        fill = NEVER_DAYS if c.startswith("days_since_") else 0.0
        return F.coalesce(F.col(c).cast("double"), F.lit(fill))

    whole = Window.partitionBy().rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    total = F.sum("size").over(whole)  # k rows: one partition is fine
    return (
        with_segment_id(model.transform(portrait), cluster_to_segment)
        .groupBy("segment_id")
        .agg(F.count("*").alias("size"), *[F.avg(value(c)).alias(c) for c in PROFILE_FEATURES])
        .withColumn("share", F.col("size") / total)
        .select("segment_id", "size", "share", *PROFILE_FEATURES)
    )


def name_segments(profiles: list[dict], *, key: str = "segment_id") -> dict[int, str]:
    """Name segments from their profile, by rules on a handful of means (driver-side, k rows).

    Order of precedence: champions (most revenue), then hibernating (longest since last visit),
    new (shortest tenure), at_risk (bought before, long since last order), loyal (most orders in
    the year), promising (the rest, by sessions). Names stay unique.
    """
    remaining = {int(p[key]): p for p in profiles}
    names: dict[int, str] = {}

    def take(name: str, rank, reverse: bool) -> None:
        if not remaining:
            return
        chosen = sorted(remaining, key=lambda c: (rank(remaining[c]), c), reverse=reverse)[0]
        names[chosen] = name
        del remaining[chosen]

    take("champions", lambda p: p["revenue_90d"], True)
    take("hibernating", lambda p: p["days_since_last_visit"], True)
    take("new", lambda p: p["tenure_days"], False)
    take("at_risk", lambda p: p["days_since_last_order"] if p["orders_365d"] > 0.5 else -1, True)
    take("loyal", lambda p: p["orders_365d"], True)
    for i, seg in enumerate(sorted(remaining, key=lambda c: (-remaining[c]["sessions_30d"], c))):
        names[seg] = "promising" if i == 0 else f"promising_{i + 1}"
    return names


def profiles_markdown(profiles: list[dict], names: dict[int, str]) -> str:
    """The segment descriptions as a Markdown table (one row per segment, by size)."""
    cols = ["size", "share", *PROFILE_FEATURES]
    lines = ["| segment_id | name | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for p in sorted(profiles, key=lambda p: -p["size"]):
        cells = [f"{p[c]:.3f}" if isinstance(p[c], float) else str(p[c]) for c in cols]
        lines.append(f"| {p['segment_id']} | {names[int(p['segment_id'])]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def adjusted_rand_index(df: DataFrame, a: str, b: str) -> float:
    """Adjusted Rand index of two labelings (columns `a`, `b`) of the rows of `df`.

    Rows where either label is null are left out. Spark counts the contingency table (one
    aggregate per cell, row and column); the combinatorics run on those few aggregated numbers:
    ARI = (Σ C(n_ij,2) - E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) - E), E = Σ C(a_i,2) Σ C(b_j,2) / C(n,2).
    Returns 1.0 when both labelings are a single cluster or every row alone (ARI's usual convention).
    """
    pairs = lambda c: c * (c - 1) / 2.0  # noqa: E731 - C(n, 2) as a column expression
    cells = df.where(F.col(a).isNotNull() & F.col(b).isNotNull()).groupBy(a, b).agg(F.count("*").alias("n"))
    rows = cells.groupBy(a).agg(F.sum("n").alias("n"))
    cols = cells.groupBy(b).agg(F.sum("n").alias("n"))
    sums = (
        cells.agg(F.sum(pairs(F.col("n"))).alias("cells"), F.sum("n").alias("n"))
        .crossJoin(rows.agg(F.sum(pairs(F.col("n"))).alias("rows")))
        .crossJoin(cols.agg(F.sum(pairs(F.col("n"))).alias("cols")))
        .first()
    )
    n = sums["n"] or 0
    if n < 2:
        raise ValueError(f"adjusted_rand_index needs at least two rows with both {a!r} and {b!r}, got {n}")
    index, row_pairs, col_pairs = float(sums["cells"]), float(sums["rows"]), float(sums["cols"])
    expected = row_pairs * col_pairs / pairs(float(n))
    maximum = (row_pairs + col_pairs) / 2.0
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def silhouette_figure(curve: dict[int, float], chosen: int):
    """Silhouette per k, the chosen k marked (a matplotlib Figure, Agg backend)."""
    from portrait.models import plots  # matplotlib with the Agg backend, only where a figure is drawn

    ks = sorted(curve)
    fig, ax = plots.plt.subplots(figsize=(5, 4))
    ax.plot(ks, [curve[k] for k in ks], marker="o")
    ax.axvline(chosen, linestyle="--", color="grey", label=f"chosen k = {chosen}")
    ax.set(xlabel="k", ylabel="silhouette (squared euclidean)", title="KMeans: silhouette by k", xticks=ks)
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def stable_segment_ids(
    model: PipelineModel, previous: PipelineModel | None, previous_ids: dict, *, previous_version: str | None = None
) -> tuple[dict[int, int], str]:
    """Cluster -> segment id for a new model, matched to the previous (champion) model's centroids.

    Args:
        model: the new segment model.
        previous: the current champion, or None when there is none.
        previous_ids: the champion's `cluster_to_segment` (keys may be strings, as in the tag);
            empty for a champion from before stable ids: its clusters are its ids.
        previous_version: for the note.

    Returns:
        The mapping and a note for the logs and tags: `identity ...` (every cluster keeps its
        index), `changed ...: c->s, ...` or `fresh: <why>` when there is nothing to match against.
    """
    inputs, centres, scale = centroids(model)
    identity = {c: c for c in range(len(centres))}
    if previous is None:
        return identity, "fresh: no previous model"
    prev_inputs, prev_centres, _ = centroids(previous)
    if prev_inputs != inputs:
        return identity, f"fresh: previous model v{previous_version} has other inputs ({','.join(prev_inputs)})"
    prev_ids = {int(c): int(s) for c, s in previous_ids.items()} or {c: c for c in range(len(prev_centres))}
    mapping = match_segments(centres, prev_centres, prev_ids, scale=scale)
    if mapping == identity:
        return mapping, f"identity (matched to v{previous_version})"
    return mapping, f"changed (matched to v{previous_version}): " + ", ".join(f"{c}->{s}" for c, s in mapping.items())


def segment_movement(current: DataFrame, previous: DataFrame, *, date, previous_date) -> DataFrame:
    """How many persons changed segment between two dates of `gold.segments_daily` (one row).

    Args:
        current, previous: (`person_id`, `segment_id`, `segment_name`) of each date, one row per person.
        date, previous_date: the two dates (written to the row).

    Returns:
        `date`, `previous_date`, `persons_compared` (persons on both dates), `persons_moved`
        (of them, with another segment_id), `share_moved` (null when nobody is compared) and
        `moves`: map 'from_name->to_name' -> persons. No person ids leave this function.
    """
    both = current.select("person_id", F.col("segment_id").alias("to_id"), F.col("segment_name").alias("to_name")).join(
        previous.select("person_id", F.col("segment_id").alias("from_id"), F.col("segment_name").alias("from_name")),
        on="person_id",
        how="inner",
    )
    moved = ~F.col("from_id").eqNullSafe(F.col("to_id"))
    pair = F.concat(F.coalesce("from_name", F.lit("?")), F.lit("->"), F.coalesce("to_name", F.lit("?")))
    # One aggregate per move (null: not moved), then one row: totals and the map from the same counts.
    per_move = both.groupBy(F.when(moved, pair).alias("move")).agg(F.count("*").alias("n"))
    summary = per_move.agg(
        F.coalesce(F.sum("n"), F.lit(0)).alias("persons_compared"),
        F.sum(F.when(F.col("move").isNotNull(), F.col("n"))).alias("persons_moved"),
        F.map_from_entries(F.collect_list(F.when(F.col("move").isNotNull(), F.struct("move", "n")))).alias("moves"),
    )
    return summary.select(
        F.lit(date).cast("date").alias("date"),
        F.lit(previous_date).cast("date").alias("previous_date"),
        F.col("persons_compared").cast("long"),
        F.coalesce(F.col("persons_moved"), F.lit(0)).cast("long").alias("persons_moved"),
        (F.col("persons_moved") / F.when(F.col("persons_compared") > 0, F.col("persons_compared"))).alias(
            "share_moved"
        ),
        F.col("moves").cast("map<string,bigint>"),
    )
