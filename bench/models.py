"""Model quality against the generator's truth: purchase propensity against the oracle, its
calibration, and the segments against the archetypes; with the time of each model stage.

    python -m bench.identity --scale 1 --workdir /work/bench-sf1    # first: landing, truth, silver
    python -m bench.models --workdir /work/bench-sf1                # text, features, train, score; then measure
    python -m bench.models --workdir /work/bench-sf1 --skip-train   # measure the champions already registered

The lake and truth are the workdir's (made by `bench.identity`); the MLflow store is
`<workdir>/mlflow.db`. The as-of date D is the truth's end date: the last day of data. At D the
generator knows each person's true probability of a completed purchase in the next
`horizon_days` (`purchase_prob`) and draws the outcome (`purchased_in_horizon`); neither is in the
landing zone. So the comparison is out of time (after all data) and out of sample:

- Each true person the pipeline saw is matched to the resolved person holding most of their
  account and cookie identifiers (ties: the smallest person_id). Only the training split's test
  persons (`keys.in_share("test", train.test_fraction)`) are scored: none of their rows was
  used to fit or calibrate.
- Model: the purchase champion's calibrated probability of that person's portrait at D. Oracle:
  the truth's `purchase_prob`. Both are judged against the same drawn outcomes: AUC (and the ratio
  model / oracle, the figure issue 5 asks for), ECE over 10 equal-width bins, Brier. The oracle's
  own ECE shows how much ECE sampling noise alone gives on these rows.
- Where the gap comes from: the AUCs again for the test persons resolved into exactly one person
  and for the others, whose browsing and buying the lake holds under different persons; and the
  ceiling of the portrait at D, the AUC of a GBT regressor told the true probabilities of the
  other persons at D (`feature_ceiling`).
- Segments: the segment champion on gold.portrait at D, adjusted Rand index against the majority
  archetype of the true persons behind each resolved person (`bench.segments`).

Writes bench/results/models_sf<scale>.json and .md and prints them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from pyspark.ml import Pipeline
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import StringIndexer
from pyspark.ml.regression import GBTRegressor
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from bench.run import ROOT, machine, workdir_overrides, write_results
from bench.segments import archetype_of_persons
from portrait import catalog, features, keys, registry, text, train
from portrait.config import load_config
from portrait.features.portrait import numeric_feature_columns
from portrait.identity.quality import truth_identifiers
from portrait.io import Lakehouse
from portrait.models import evaluation, segmentation
from portrait.models.inputs import input_stages
from portrait.pipeline import run_stage
from portrait.spark import get_session


def matched_persons(truth: DataFrame, identity_map: DataFrame, *, key: bytes) -> DataFrame:
    """(`person_key`, `person_id`, `whole`): each true person's resolved person holding most of
    their account and cookie identifiers (ties: the smallest person_id). `whole` is true when that
    resolved person holds all of their account, cookie, phone and e-mail identifiers the lake saw,
    and none of another true person's: where they browse and where they buy is one person."""
    held = (
        truth_identifiers(truth, key=key)
        .where(F.col("id_type").isin("account", "cookie", "phone", "email"))
        .join(identity_map.select("id_type", "id_value", "person_id"), on=["id_type", "id_value"])
        .groupBy("person_key", "person_id")
        .agg(F.count(F.when(F.col("id_type").isin("account", "cookie"), 1)).alias("n"))
    )  # shared_identifiers' n
    best = Window.partitionBy("person_key").orderBy(F.desc("n"), F.asc("person_id"))
    matched = held.where("n > 0").withColumn("rank", F.row_number().over(best)).where("rank = 1")
    fragments = held.groupBy("person_key").agg(F.count("*").alias("fragments"))
    owners = held.groupBy("person_id").agg(F.count("*").alias("owners"))
    return (
        matched.join(fragments, on="person_key")
        .join(owners, on="person_id")
        .select("person_key", "person_id", ((F.col("owners") == 1) & (F.col("fragments") == 1)).alias("whole"))
    )


def _quality(scored: DataFrame, score: str) -> dict:
    table = evaluation.calibration_table(scored, score=score, label="label")
    brier = scored.agg(F.avg((F.col(score) - F.col("label")) ** 2)).first()[0]
    return {
        "auc": evaluation.auc(scored, score=score, label="label"),
        "ece": evaluation.expected_calibration_error(table),
        "brier": brier,
        "calibration": table,
    }


def _resolution_quality(rows: DataFrame) -> dict:
    model = _quality(rows, "p_model")
    oracle = evaluation.auc(rows, score="p_oracle", label="label")
    return {
        "persons": rows.count(),
        "auc": model["auc"],
        "oracle_auc": oracle,
        "auc_ratio": model["auc"] / oracle,
        "ece": model["ece"],
    }


def feature_ceiling(portrait: DataFrame, truth_rows: DataFrame, cfg) -> float:
    """AUC on the test persons of a GBT regressor *told* the true purchase probability of every
    other person at D, from the same model inputs: how much of the oracle the portrait at D can
    carry at all, with no label noise and no shift between training dates and D. A model trained on
    drawn outcomes at earlier dates is not expected to beat it."""
    rows = portrait.join(truth_rows.select("person_id", "p_oracle", "label"), on="person_id")
    test = keys.in_share("test", cfg.train.test_fraction)
    cols = numeric_feature_columns(portrait)
    regressor = GBTRegressor(labelCol="p_oracle", maxDepth=5, maxIter=60, stepSize=0.1, seed=cfg.train.seed)
    model = Pipeline(stages=[*input_stages(cols), regressor]).fit(rows.where(~test))
    return evaluation.auc(model.transform(rows.where(test)), score="prediction", label="label")


def propensity_vs_oracle(spark, cfg, lake: Lakehouse, date: dt.date) -> dict:
    registry.configure(cfg.mlflow)
    model, version, _ = registry.load_champion(cfg.train.propensity_model)
    truth = spark.read.parquet(f"{cfg.paths.truth}/persons")
    matched = matched_persons(truth, lake.read(catalog.SILVER_IDENTITY_MAP), key=cfg.pii_key())
    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    truth_rows = matched.join(
        truth.select(
            "person_key",
            "archetype",
            F.col("purchase_prob").alias("p_oracle"),
            F.col("purchased_in_horizon").cast("double").alias("label"),
        ),
        on="person_key",
    ).persist(StorageLevel.MEMORY_AND_DISK)
    test = portrait.where(keys.in_share("test", cfg.train.test_fraction))
    predicted = model.transform(test)
    predicted = predicted.select("person_id", evaluation.model_probability(predicted).alias("p_model"))
    rows = predicted.join(truth_rows, on="person_id").persist(StorageLevel.MEMORY_AND_DISK)
    n = rows.count()
    result = {
        "model_version": version,
        "test_persons": n,
        "positive_rate": rows.agg(F.avg("label")).first()[0],
        "model": _quality(rows, "p_model"),
        "oracle": _quality(rows, "p_oracle"),
    }
    result["auc_ratio"] = result["model"]["auc"] / result["oracle"]["auc"]
    result["by_resolution"] = {
        "whole": _resolution_quality(rows.where("whole")),
        "split": _resolution_quality(rows.where("NOT whole")),
    }
    result["ceiling_auc"] = feature_ceiling(portrait, truth_rows, cfg)
    result["ceiling_ratio"] = result["ceiling_auc"] / result["oracle"]["auc"]
    by_archetype = (
        rows.groupBy("archetype")
        .agg(  # 6 rows: where the model's probabilities miss the truth
            F.count("*").alias("persons"),
            F.avg("p_model").alias("mean_p_model"),
            F.avg("p_oracle").alias("mean_p_oracle"),
            F.avg("label").alias("positive_rate"),
        )
        .orderBy("archetype")
    )
    result["by_archetype"] = [r.asDict() for r in by_archetype.collect()]
    rows.unpersist()
    truth_rows.unpersist()
    return result


def segments_vs_archetypes(spark, cfg, lake: Lakehouse, date: dt.date) -> dict:
    model, version, tags = registry.load_champion(cfg.train.segment_model)
    mapping = {int(c): int(s) for c, s in json.loads(tags.get("cluster_to_segment", "{}")).items()}
    names = {int(k): v for k, v in json.loads(tags["segment_names"]).items()}
    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(date))
    truth = archetype_of_persons(
        spark.read.parquet(f"{cfg.paths.truth}/persons"), lake.read(catalog.SILVER_IDENTITY_MAP), key=cfg.pii_key()
    )
    labelled = (
        segmentation.with_segment_id(model.transform(portrait), mapping)
        .select("person_id", "segment_id")
        .join(truth, on="person_id", how="left")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    name_of = F.create_map(*[F.lit(x) for k, v in sorted(names.items()) for x in (k, v)])
    crosstab = (
        labelled.where(F.col("archetype").isNotNull())
        .withColumn("segment", name_of[F.col("segment_id")])
        .groupBy("archetype")
        .pivot("segment")
        .count()
        .na.fill(0)
        .orderBy("archetype")
        .collect()
    )  # 6 rows
    result = {
        "model_version": version,
        "k": len(names),
        "names": names,
        "ari": segmentation.adjusted_rand_index(labelled, "archetype", "segment_id"),
        "persons_with_archetype": labelled.where(F.col("archetype").isNotNull()).count(),
        "crosstab": [r.asDict() for r in crosstab],
        "supervised_reference_ari": supervised_reference_ari(portrait.join(truth, on="person_id"), cfg),
    }
    labelled.unpersist()
    return result


def supervised_reference_ari(rows: DataFrame, cfg) -> float:
    """ARI on the test persons of a random forest told the archetypes of the other persons, over
    every numeric portrait feature: how far the portrait separates the archetypes at all. An
    unsupervised segmentation is not expected to beat it."""
    cols = numeric_feature_columns(rows)
    test = keys.in_share("test", cfg.train.test_fraction)
    pipeline = Pipeline(
        stages=[
            *input_stages(cols),
            StringIndexer(inputCol="archetype", outputCol="label"),
            RandomForestClassifier(numTrees=100, maxDepth=12, seed=cfg.train.seed),
        ]
    )
    model = pipeline.fit(rows.where(~test))
    return segmentation.adjusted_rand_index(model.transform(rows.where(test)), "archetype", "prediction")


def _markdown(result: dict) -> list[str]:
    p, s = result["propensity"], result["segments"]
    lines = [
        f"# Models against the generator's truth, SF {result['scale']:g}, as of {result['date']}",
        "",
        f"Machine: {result['machine']}",
        "",
    ]
    if result.get("stage_seconds"):
        lines += ["| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in result["stage_seconds"].items()]
        lines += ["", f"Scoring throughput: {result['score_persons_per_s_per_core']:,.0f} persons/s/core", ""]
    lines += [
        f"## Purchase propensity (champion v{p['model_version']}) on {p['test_persons']:,} test persons",
        f"(positive rate {p['positive_rate']:.3f}; outcome drawn by the generator after the last day of data)",
        "",
        "| | AUC | ECE | Brier |",
        "|---|---|---|---|",
        f"| model | {p['model']['auc']:.4f} | {p['model']['ece']:.4f} | {p['model']['brier']:.4f} |",
        f"| oracle (true probabilities) | {p['oracle']['auc']:.4f} | {p['oracle']['ece']:.4f} | "
        f"{p['oracle']['brier']:.4f} |",
        "",
        f"**AUC ratio model / oracle: {p['auc_ratio']:.4f}** (goal >= 0.97); **model ECE {p['model']['ece']:.4f}** "
        "(goal <= 0.02)",
        "",
        "Where the gap comes from:",
        "",
        "| test persons | persons | model AUC | oracle AUC | ratio | model ECE |",
        "|---|---|---|---|---|---|",
    ]
    for name, what in (
        ("whole", "resolved into exactly one person"),
        ("split", "split over several persons, or sharing one with others"),
    ):
        r = p["by_resolution"][name]
        lines += [
            f"| {what} | {r['persons']:,} | {r['auc']:.4f} | {r['oracle_auc']:.4f} | {r['auc_ratio']:.4f} | "
            f"{r['ece']:.4f} |"
        ]
    lines += [
        "",
        f"**Ceiling of the portrait at D: AUC {p['ceiling_auc']:.4f}, ratio {p['ceiling_ratio']:.4f}.** "
        "A GBT regressor *told* the true probabilities of the other persons at D, from the same model inputs, "
        "scored on the same test persons: no label noise, no drift between training dates and D.",
        "",
        "By archetype (mean probability of the model and of the oracle, and the drawn outcome's rate):",
        "",
        "| archetype | persons | model | oracle | outcome rate |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['archetype']} | {r['persons']:,} | {r['mean_p_model']:.3f} | {r['mean_p_oracle']:.3f} | "
        f"{r['positive_rate']:.3f} |"
        for r in p["by_archetype"]
    ]
    lines += ["", "Model calibration by bin:", "", "| bin | rows | mean p | observed rate |", "|---|---|---|---|"]
    lines += [
        f"| {r['bin']} | {r['rows']} | {r['mean_p']:.3f} | {r['positive_rate']:.3f} |"
        for r in p["model"]["calibration"]
    ]
    cols = sorted(s["names"].values())
    lines += [
        "",
        f"## Segments (champion v{s['model_version']}, k = {s['k']})",
        "",
        f"**Adjusted Rand index against the archetypes: {s['ari']:.3f}** (goal >= 0.8) over "
        f"{s['persons_with_archetype']:,} persons. For reference, a random forest *told* the archetypes of "
        f"the other persons reaches {s['supervised_reference_ari']:.3f} on the test persons from every "
        "numeric portrait feature.",
        "",
        "| archetype | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    lines += [f"| {r['archetype']} | " + " | ".join(str(r.get(c, 0)) for c in cols) + " |" for r in s["crosstab"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="the folder bench.identity --workdir filled")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--skip-train", action="store_true", help="measure the registered champions as they are")
    p.add_argument("--max-evals", type=int, help="hyperopt trials per model (default: the conf's)")
    args = p.parse_args(argv)
    work = Path(args.workdir)
    meta = json.loads((work / "truth" / "meta.json").read_text())
    date = dt.date.fromisoformat(meta["end_date"])
    overrides = workdir_overrides(work)
    if args.max_evals:
        overrides["train.max_evals"] = args.max_evals
    cfg = load_config(args.conf, overrides=overrides)
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    result: dict = {
        "benchmark": "models",
        "scale": meta["scale"],
        "date": date.isoformat(),
        "cores": cores,
        "machine": machine(spark),
        "max_evals": cfg.train.max_evals,
    }
    if not args.skip_train:
        seconds: dict[str, float] = {}
        for name, fn in (
            (
                "text",
                lambda: text.run(Lakehouse(spark, cfg.paths.lakehouse), text.RunConf.of(cfg), date),
            ),
            ("features", lambda: features.run(lake, cfg.features, date, full=True)),
            (
                "train",
                lambda: train.run(lake, train.RunConf.of(cfg), date),
            ),
            ("score", lambda: run_stage("score", spark, cfg, date)),
        ):
            t0 = time.perf_counter()
            out = fn()
            seconds[name] = time.perf_counter() - t0
            result[f"{name}_output"] = out
        result["stage_seconds"] = seconds
        result["score_persons_per_s_per_core"] = result["score_output"]["propensity_daily"] / (seconds["score"] * cores)
    result["propensity"] = propensity_vs_oracle(spark, cfg, lake, date)
    result["segments"] = segments_vs_archetypes(spark, cfg, lake, date)
    write_results(f"models_sf{result['scale']:g}", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
