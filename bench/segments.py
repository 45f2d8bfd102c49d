"""How well the segments recover the generator's archetypes (adjusted Rand index), on a demo lake.

    python -m bench.segments                      # lake and truth of conf/local.yaml (read-only), a fresh fit
    python -m bench.segments --champion           # score with the segment champion of that conf's MLflow store

The portrait is recomputed in memory from the lake's silver tables with the current feature code
(the stored gold.portrait may predate features the model reads); nothing is written to the lake
or the MLflow store. Each resolved person gets the archetype of the true persons behind its
account and cookie identifiers (majority vote; ties to the first archetype by name); persons
without such an identifier are left out. Writes bench/results/segments.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from bench.run import RESULTS, machine
from portrait import catalog, features, registry
from portrait.config import load_config
from portrait.identity.quality import truth_identifiers
from portrait.io import Lakehouse
from portrait.models import segmentation
from portrait.spark import get_session


def shared_identifiers(persons: DataFrame, identity_map: DataFrame, *, key: bytes) -> DataFrame:
    """(`person_key`, `person_id`, `n`): how many account and cookie identifiers of each true
    person each resolved person holds."""
    truth = truth_identifiers(persons, key=key).where(F.col("id_type").isin("account", "cookie"))
    return (
        truth.join(identity_map.select("id_type", "id_value", "person_id"), on=["id_type", "id_value"])
        .groupBy("person_key", "person_id")
        .agg(F.count("*").alias("n"))
    )


def archetype_of_persons(persons: DataFrame, identity_map: DataFrame, *, key: bytes) -> DataFrame:
    """(`person_id`, `archetype`): the majority archetype of the true persons behind each resolved one."""
    votes = (
        shared_identifiers(persons, identity_map, key=key)
        .join(persons.select("person_key", "archetype"), on="person_key", how="inner")
        .groupBy("person_id", "archetype")
        .agg(F.count("*").alias("votes"))
    )
    first = Window.partitionBy("person_id").orderBy(F.desc("votes"), F.asc("archetype"))
    return (
        votes.withColumn("rank", F.row_number().over(first)).where(F.col("rank") == 1).select("person_id", "archetype")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", default="conf/local.yaml")
    ap.add_argument("--champion", action="store_true", help="use the segment champion instead of a fresh fit")
    args = ap.parse_args()
    cfg = load_config(args.conf)
    spark = get_session(cfg.spark)
    meta = json.loads((Path(cfg.paths.truth) / "meta.json").read_text())
    date = dt.date.fromisoformat(meta["end_date"])
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    t0 = time.perf_counter()

    portrait = features.portraits(lake, cfg.features, [date]).persist(StorageLevel.MEMORY_AND_DISK)
    result: dict = {
        "date": date.isoformat(),
        "scale": meta.get("scale"),
        "persons": portrait.count(),
        "inputs": list(segmentation.SEGMENT_INPUTS),
    }
    if args.champion:
        registry.configure(cfg.mlflow)
        model, version, tags = registry.load_champion(cfg.train.segment_model)
        mapping = {int(c): int(s) for c, s in json.loads(tags.get("cluster_to_segment", "{}")).items()} or {
            int(k): int(k) for k in json.loads(tags["segment_names"])
        }
        result.update({"model": f"champion v{version}", "k": len(mapping)})
    else:
        model, metrics, curve = segmentation.fit_segments(portrait, ks=cfg.train.kmeans_ks, seed=cfg.train.seed)
        mapping = {c: c for c in range(int(metrics["k"]))}
        result.update(
            {
                "model": "fresh fit",
                "k": int(metrics["k"]),
                "silhouette": metrics["silhouette"],
                "silhouette_by_k": {str(k): v for k, v in curve.items()},
            }
        )
    profiles = [r.asDict() for r in segmentation.profile_segments(model, portrait, mapping).collect()]
    names = segmentation.name_segments(profiles)
    name_of = F.create_map(*[F.lit(x) for k, v in sorted(names.items()) for x in (k, v)])

    truth = archetype_of_persons(
        spark.read.parquet(f"{cfg.paths.truth}/persons"), lake.read(catalog.SILVER_IDENTITY_MAP), key=cfg.pii_key()
    )
    labelled = (
        segmentation.with_segment_id(model.transform(portrait), mapping)
        .select("person_id", "segment_id", name_of[F.col("segment_id")].alias("segment_name"))
        .join(truth, on="person_id", how="left")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    result["ari"] = segmentation.adjusted_rand_index(labelled, "archetype", "segment_id")
    result["persons_with_archetype"] = labelled.where(F.col("archetype").isNotNull()).count()
    crosstab = (
        labelled.where(F.col("archetype").isNotNull())
        .groupBy("archetype")
        .pivot("segment_name")
        .count()
        .na.fill(0)
        .orderBy("archetype")
        .collect()
    )
    result["crosstab"] = [r.asDict() for r in crosstab]
    result["profiles"] = [{**p, "name": names[int(p["segment_id"])]} for p in profiles]
    result["seconds"] = time.perf_counter() - t0
    result["machine"] = machine(spark)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "segments.json").write_text(json.dumps(result, indent=2, default=str))
    seg_cols = sorted(names.values())
    lines = [
        f"# Segments vs the generator's archetypes ({result['model']}, SF{result['scale']}, {date})",
        "",
        f"- persons: {result['persons']}, with an archetype: {result['persons_with_archetype']}",
        f"- k = {result['k']}"
        + (
            f", silhouette {result['silhouette']:.3f}; by k: "
            + ", ".join(f"{k}: {v:.3f}" for k, v in result["silhouette_by_k"].items())
            if "silhouette" in result
            else ""
        ),
        f"- inputs: {', '.join(result['inputs'])}",
        f"- **adjusted Rand index vs archetypes: {result['ari']:.3f}**",
        "",
        "| archetype | " + " | ".join(seg_cols) + " |",
        "|---|" + "---|" * len(seg_cols),
    ]
    lines += [
        f"| {r['archetype']} | " + " | ".join(str(r.get(c, 0)) for c in seg_cols) + " |" for r in result["crosstab"]
    ]
    lines += ["", "## Segment profiles", "", segmentation.profiles_markdown(profiles, names)]
    (RESULTS / "segments.md").write_text("\n".join(lines))
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    main()
