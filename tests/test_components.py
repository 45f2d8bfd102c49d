"""Connected components in Spark against networkx on hundreds of random graphs (fixed seeds).

The graphs are laid side by side in one edge list, each in its own range of node ids, so that one
Spark run checks all of them: the components of a disjoint union are the components of its parts.
Shapes: sparse and dense random graphs, long chains with shuffled ids (large diameter, the worst
case for label propagation), stars (one hub), random trees, cycles, duplicate edges and self-loops.
"""

from __future__ import annotations

import random

import networkx as nx
import pytest

from portrait.identity.components import connected_components

SEEDS = range(3)
GRAPHS_PER_SEED = 120
STRIDE = 1_000_000  # node ids of graph i live in [i * STRIDE, (i + 1) * STRIDE)


def _random_graph(rng: random.Random) -> list[tuple[int, int]]:
    """One graph of a randomly chosen shape, as an edge list over small node ids."""
    shape = rng.choice(["sparse", "dense", "chain", "star", "tree", "cycle", "forest"])
    n = rng.randint(2, 400)
    ids = rng.sample(range(10 * n), n)  # shuffled ids: the chain's order is not the ids' order
    if shape == "sparse":
        edges = [(rng.choice(ids), rng.choice(ids)) for _ in range(n // 2)]
    elif shape == "dense":
        m = min(n, 40)
        edges = [(a, b) for i, a in enumerate(ids[:m]) for b in ids[i + 1 : m] if rng.random() < 0.3]
    elif shape == "chain":
        edges = list(zip(ids, ids[1:], strict=False))
    elif shape == "star":
        edges = [(ids[0], leaf) for leaf in ids[1:]]
    elif shape == "tree":
        edges = [(ids[i], ids[rng.randrange(i)]) for i in range(1, n)]
    elif shape == "cycle":
        edges = list(zip(ids, ids[1:] + ids[:1], strict=False))
    else:  # several chains and stars, some sharing nothing
        edges = [(ids[i], ids[i + 1]) for i in range(0, n - 1, 3)] + [(ids[0], x) for x in ids[5:n:7]]
    edges += rng.sample(edges, min(len(edges), 3))  # duplicates, in either direction
    edges += [(b, a) for a, b in rng.sample(edges, min(len(edges), 3))]
    edges.append((ids[-1], ids[-1]))  # a self-loop
    return edges


def _expected(edges: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """(node, smallest node of its component) by networkx, for nodes on an edge that is not a
    self-loop (the function ignores self-loops, so a node seen only on one has no component)."""
    graph = nx.Graph()
    graph.add_edges_from((u, v) for u, v in edges if u != v)
    return {(node, min(component)) for component in nx.connected_components(graph) for node in component}


# Spark's rounds (threshold 0), the driver's union-find (a threshold above the edge count), and a
# threshold below it, where the collected sample is too large and Spark's rounds take over.
PATHS = {"spark": 0, "driver": 10**9, "over_threshold": 50}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", SEEDS)
def test_components_match_networkx_on_random_graphs(spark, seed, path):
    rng = random.Random(seed)
    edges: list[tuple[int, int]] = []
    for i in range(GRAPHS_PER_SEED):
        edges += [(u + i * STRIDE, v + i * STRIDE) for u, v in _random_graph(rng)]
    got = connected_components(
        spark.createDataFrame(edges, "u long, v long"), max_iterations=30, driver_max_edges=PATHS[path]
    )
    assert {(r["node"], r["component"]) for r in got.collect()} == _expected(edges)


@pytest.mark.parametrize("path", ["spark", "driver"])
def test_a_long_chain_converges_within_the_iteration_budget(spark, path):
    rng = random.Random(11)
    ids = rng.sample(range(100_000), 5_000)
    edges = list(zip(ids, ids[1:], strict=False))
    got = connected_components(
        spark.createDataFrame(edges, "u long, v long"), max_iterations=30, driver_max_edges=PATHS[path]
    )
    assert {(r["node"], r["component"]) for r in got.collect()} == _expected(edges)


def test_the_driver_path_starts_no_spark_round(spark):
    """Under the threshold the components cost the edges' checkpoint and one bounded collect, not
    the rounds (each a checkpoint and two emptiness checks)."""
    from portrait import costs

    edges = spark.createDataFrame([(1, 2), (2, 3), (7, 8)], "u long, v long")
    with costs.meter(spark) as driver:
        connected_components(edges, driver_max_edges=100).collect()
    with costs.meter(spark) as rounds:
        connected_components(edges, driver_max_edges=0).collect()
    assert driver.jobs is not None and rounds.jobs is not None
    assert driver.jobs < rounds.jobs


def test_no_convergence_within_the_budget_is_an_error(spark):
    ids = random.Random(5).sample(range(10_000), 2_000)
    with pytest.raises(RuntimeError, match="did not converge in 1 rounds"):
        connected_components(
            spark.createDataFrame(list(zip(ids, ids[1:], strict=False)), "u long, v long"), max_iterations=1
        )
