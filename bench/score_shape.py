"""The shape of a published day's scores, as a marketer meets them: ties, extremes, deciles, reasons.

    python -m bench.score_shape --conf conf/local.yaml --date 2026-11-01   # after `make demo`

Reads `gold.propensity_daily` of the date and writes bench/results/score_shape.json and .md: the
persons scored, distinct purchase and churn propensities, how many sit at exactly 0 or 1, the share
of persons in each `propensity_decile`, and the share with at least one purchase reason (everyone)
and one churn reason (everyone with a churn propensity). Beside the published propensities, the
champions' raw (uncalibrated) scores of the same persons (the date's portrait through each champion,
the churn one on its population), so that the calibrated values' distinct count is compared with the
raw score's (`distinct_ratio_*`: published distinct / raw distinct; the issue asks for >= 0.9). It
measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt

from pyspark.sql import functions as F

from bench.run import machine, write_results
from portrait import catalog, registry
from portrait.config import Config, load_config
from portrait.io import Lakehouse
from portrait.models.evaluation import model_probability, raw_probability
from portrait.scoring.propensities import churn_population
from portrait.spark import get_session


def raw_and_calibrated_distinct(lake: Lakehouse, cfg: Config, day: dt.date) -> dict[str, int]:
    """Distinct raw and calibrated scores of each champion over the date's portrait (churn: its population)."""
    registry.configure(cfg.mlflow)
    portrait = lake.read(catalog.GOLD_PORTRAIT).where(F.col("as_of_date") == F.lit(day))
    out = {}
    models = (
        ("purchase", cfg.train.propensity_model, None),
        ("churn", cfg.train.churn_model, churn_population(cfg.train.churn_lookback_days)),
    )
    for name, model_name, population in models:
        model, _, _ = registry.load_champion(model_name)
        scored = model.transform(portrait)
        scored = scored if population is None else scored.where(population)
        row = scored.agg(
            F.countDistinct(raw_probability(scored)).alias("raw"),
            F.countDistinct(model_probability(scored)).alias("calibrated"),
        ).first()
        out[f"raw_distinct_{name}"] = row["raw"]
        out[f"calibrated_distinct_{name}"] = row["calibrated"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conf", default="conf/local.yaml")
    p.add_argument("--date", default="2026-11-01")
    args = p.parse_args(argv)
    cfg = load_config(args.conf)
    spark = get_session(cfg.spark)
    day = dt.date.fromisoformat(args.date)
    scores = Lakehouse(spark, cfg.paths.lakehouse).read(catalog.GOLD_PROPENSITY_DAILY).where(F.col("date") == day)
    extreme = lambda c: F.count(F.when(F.col(c).isin(0.0, 1.0), 1))  # noqa: E731
    row = scores.agg(
        F.count(F.lit(1)).alias("persons"),
        F.countDistinct("purchase_propensity").alias("distinct_purchase_propensity"),
        F.countDistinct("churn_propensity").alias("distinct_churn_propensity"),
        extreme("purchase_propensity").alias("purchase_at_exactly_0_or_1"),
        extreme("churn_propensity").alias("churn_at_exactly_0_or_1"),
        F.count("churn_propensity").alias("persons_with_churn_propensity"),
        F.count(F.when(F.size("purchase_reasons") > 0, 1)).alias("with_purchase_reason"),
        F.count(F.when(F.col("churn_propensity").isNotNull() & (F.size("churn_reasons") > 0), 1)).alias(
            "with_churn_reason"
        ),
    ).first()
    result = row.asDict()
    persons = result["persons"]
    deciles = scores.groupBy("propensity_decile").count().collect()  # ten rows
    result["decile_shares"] = {
        str(r["propensity_decile"]): round(r["count"] / persons, 4)
        for r in sorted(deciles, key=lambda r: (r["propensity_decile"] is None, r["propensity_decile"] or 0))
    }
    result["share_with_purchase_reason"] = round(result["with_purchase_reason"] / persons, 4)
    result["share_with_churn_reason"] = round(
        result["with_churn_reason"] / max(result["persons_with_churn_propensity"], 1), 4
    )
    result.update(raw_and_calibrated_distinct(Lakehouse(spark, cfg.paths.lakehouse), cfg, day))
    for name in ("purchase", "churn"):
        published = result[f"distinct_{name}_propensity"]
        result[f"distinct_ratio_{name}"] = round(published / max(result[f"raw_distinct_{name}"], 1), 4)
    result.update(date=args.date, conf=args.conf, machine=machine(spark))
    lines = [f"# Score shape, {args.date} ({args.conf})", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result.items() if k != "machine"]
    write_results("score_shape", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
