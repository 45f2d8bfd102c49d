"""The action loop on a small generated lake: actions chosen day after day within the caps, the
synthetic customers answer them with a planted effect, and `evaluate` recovers each effect.

The policy's probability is a constant here: the measurement, not the models, is under test (the
models and `score` run end to end in test_end_to_end.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import make_config
from pyspark.sql import functions as F

from portrait import catalog, evaluate
from portrait.actions import Policy, sent_rows, with_next_action
from portrait.config_models import EvaluateConfig
from portrait.generator.responses import expected_uplift, respond
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

pytestmark = pytest.mark.slow

END = dt.date(2026, 11, 30)
DAYS = 30
ACTION_DAYS = 15  # actions on END-22 .. END-8: every 7-day window closes by END
EFFECTS = {"reminder": 0.30, "coupon": 0.12}
POLICY = Policy.model_validate(
    {
        "version": "loop-test",
        "caps": {"max_per_7d": 2, "quiet_days": 2},
        "actions": [
            {
                "name": name,
                "when": f"pmod(xxhash64(person_id), 2) = {i}",
                "probability": "0.5",
                "value": 10.0,
                "cost": 1.0,
                "channels": ["sms", "email", "push", "wechat"],
                "offer": name,
                "reason": name,
                "experiment": f"{name}_exp",
                "cooldown_days": 7,
                "outcome_window_days": 7,
            }
            for i, name in enumerate(EFFECTS)
        ],
    }
)


def test_evaluate_recovers_each_planted_treatment_effect(spark, tmp_path, record_property):
    """The action loop over many days recovers the generator's planted effects within their intervals: uplift needs outcome windows that close, so days."""
    from portrait import generator

    cfg = make_config(tmp_path)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=0.01,
        seed=5,
        end_date=END,
        days=DAYS,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=0.0,
    )
    run_stage("ingest", spark, cfg, END, start=END - dt.timedelta(days=DAYS - 1))
    run_stage("identity", spark, cfg, END)
    customers = lake.read(catalog.SILVER_CUSTOMERS)
    consent = [
        F.max(F.coalesce(F.col(f"consent_{c}"), F.lit(False))).alias(f"consent_{c}")
        for c in ("sms", "email", "push", "wechat")
    ]
    persons = customers.groupBy("person_id").agg(*consent).localCheckpoint()

    first = END - dt.timedelta(days=22)
    for n in range(ACTION_DAYS):
        day = first + dt.timedelta(days=n)
        history = (
            lake.read(catalog.GOLD_ACTIONS_SENT)
            if lake.exists(catalog.GOLD_ACTIONS_SENT)
            else spark.createDataFrame([], ", ".join(f"{c.name} {c.type}" for c in catalog.GOLD_ACTIONS_SENT.columns))
        )
        decided = with_next_action(persons, POLICY, history=history, date=day, holdout_share=0.5)
        lake.replace_range(
            catalog.GOLD_ACTIONS_SENT.conform(sent_rows(decided, date=day)), catalog.GOLD_ACTIONS_SENT, start=day
        )
    sent = lake.read(catalog.GOLD_ACTIONS_SENT)
    # Caps held across the days: nobody twice within the quiet period or the cooldown.
    gaps = sent.alias("a").join(
        sent.alias("b"), (F.col("a.person_id") == F.col("b.person_id")) & (F.col("b.date") > F.col("a.date")), "inner"
    )
    assert gaps.where(F.datediff("b.date", "a.date") < 7).isEmpty()

    respond(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        sent=sent,
        accounts=customers.select("person_id", "account_id"),
        effects=EFFECTS,
        windows={a.name: a.outcome_window_days for a in POLICY.actions},
        seed=5,
        last_day=END,
    )
    run_stage("ingest", spark, cfg, END)  # the responses arrived as late files of earlier days
    run_stage("identity", spark, cfg, END)
    result = evaluate.run(lake, evaluate.RunConf(EvaluateConfig(lookback_days=30), POLICY, cfg.mlflow), END)

    planted = {
        r["action"]: r["extra_order_prob"] for r in spark.read.parquet(f"{cfg.paths.truth}/treatment_effects").collect()
    }
    assert planted == EFFECTS
    outcomes = lake.read(catalog.GOLD_ACTION_OUTCOMES)
    # Everyone eligible is chosen on the first day, then waits out the 7-day cooldown: three rounds.
    rounds = {first + dt.timedelta(days=n) for n in (0, 7, 14)}
    assert {r["date"] for r in outcomes.select("date").distinct().collect()} == rounds
    report = []
    for action, effect in EFFECTS.items():
        m = result["pooled"][action]
        want = spark.range(1).select(expected_uplift(F.lit(effect), F.lit(m["control_conversion"]))).first()[0]
        record_property(
            f"uplift_{action}",
            {"planted_extra_order_prob": effect, "expected_uplift": round(want, 4), **{k: m[k] for k in sorted(m)}},
        )
        report.append(
            f"{action}: planted extra-order prob {effect}, expected uplift {want:.4f}, measured "
            f"{m['uplift']:.4f} [{m['uplift_ci_low']:.4f}, {m['uplift_ci_high']:.4f}] "
            f"({m['treated']} treated, {m['control']} control, control conversion {m['control_conversion']:.4f})"
        )
        assert m["treated"] > 200 and m["control"] > 200
        assert m["uplift_ci_low"] <= want <= m["uplift_ci_high"], report[-1]
        assert m["uplift_ci_low"] > 0  # the effect is detected, not only compatible
    print("\n" + "\n".join(report))
