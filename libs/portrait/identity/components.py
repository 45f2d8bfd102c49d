"""Connected components of an edge list, in Spark: alternating large-star / small-star.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014): O(log n) rounds
instead of label propagation's O(diameter). Each round is checkpointed so the query plan does
not grow (a reliable checkpoint to the SparkContext's checkpoint directory, shared storage on a
cluster, which `pipeline.run_stage` sets from `spark.checkpoint_dir`: a local checkpoint keeps its blocks
on the executors and loses them when one dies), and the loop stops when the graph is a set of stars (every node points straight at
its component's minimum), not after a fixed number of rounds.

A small graph (the daily run's touched subgraph: tens to thousands of edges) is resolved on the
driver instead, with a union-find over its collected edges: each Spark round costs a checkpoint and
two emptiness checks, a dozen Spark jobs whatever the graph's size, while the edges of a day fit in
a few kilobytes. `driver_max_edges` is the threshold (`identity.driver_components_max_edges`);
both paths give the same labels (tests check both against networkx).
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.spark import truncate

log = logging.getLogger(__name__)


def _checkpoint(df: DataFrame) -> DataFrame:
    """Checkpoint to the reliable checkpoint directory; a local checkpoint only when none is set."""
    if not df.sparkSession.sparkContext.getCheckpointDir():
        log.warning("no checkpoint directory set: connected components fall back to localCheckpoint")
    return truncate(df)


def _large_star(edges: DataFrame) -> DataFrame:
    """Connect every larger neighbour of u to the minimum of u's closed neighbourhood."""
    sym = edges.unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    mins = sym.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    return (
        sym.join(mins, on="u", how="inner")
        .where(F.col("v") > F.col("u"))
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Connect u and every smaller neighbour of u to the minimum of u's smaller neighbours."""
    oriented = (
        edges.select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
    )
    mins = oriented.groupBy("u").agg(F.min("v").alias("m"))
    with_min = oriented.join(mins, on="u", how="inner")
    to_min = with_min.where(F.col("v") != F.col("m")).select(F.col("v").alias("u"), F.col("m").alias("v"))
    self_to_min = mins.select("u", F.col("m").alias("v"))
    return to_min.unionByName(self_to_min).distinct()


def _is_star_forest(edges: DataFrame) -> bool:
    """Every node has one outgoing edge, and it points at a root (a node with none)."""
    children = edges.select(F.col("u").alias("v")).distinct()
    points_at_child = not edges.join(children, on="v", how="left_semi").isEmpty()
    if points_at_child:
        return False
    return edges.groupBy("u").count().where(F.col("count") > 1).isEmpty()


def _union_find(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(`node`, smallest node of its component) for every node of `pairs`, on the driver."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    for u, v in pairs:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = root(u), root(v)
        if ru != rv:  # the smaller id becomes the root, so every root is its component's minimum
            parent[max(ru, rv)] = min(ru, rv)
    return [(node, root(node)) for node in parent]


def connected_components(edges: DataFrame, *, max_iterations: int = 30, driver_max_edges: int = 0) -> DataFrame:
    """Label every node of an undirected graph with the smallest node id of its component.

    Args:
        edges: columns `u`, `v` (long node ids); self-loops and duplicates are allowed.
        max_iterations: a safety net; convergence normally takes a handful of rounds.
        driver_max_edges: resolve on the driver when the graph has at most this many edges
            (after dropping self-loops); 0 always uses the Spark rounds.

    Returns:
        (`node`, `component`) for every node that appears in an edge.

    Raises:
        RuntimeError: if the graph has not converged after `max_iterations` rounds.
    """
    current = edges.select(F.col("u").cast("long"), F.col("v").cast("long")).where(F.col("u") != F.col("v"))
    current = _checkpoint(current)
    if driver_max_edges > 0:
        small = current.limit(driver_max_edges + 1).collect()  # bounded: at most the threshold + 1 rows
        if len(small) <= driver_max_edges:
            labels = _union_find([(int(r["u"]), int(r["v"])) for r in small])
            return edges.sparkSession.createDataFrame(labels, "node long, component long")
    for _ in range(max_iterations):
        current = _checkpoint(_small_star(_large_star(current)))
        if _is_star_forest(current):
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")
    roots = current.select(F.col("v").alias("node"), F.col("v").alias("component")).distinct()
    return current.select(F.col("u").alias("node"), F.col("v").alias("component")).unionByName(roots).distinct()
