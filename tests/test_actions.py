"""The next-action policy: expected value, consent, ties, caps and quiet periods over days, holdout."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import ROOT
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.actions import Policy, holdout_bucket, in_holdout, load_policy, sent_rows, with_next_action
from portrait.config import ConfigError

D = dt.date(2026, 11, 1)
ROW = (
    "person_id string, cart_adds_30d double, purchase_propensity double, consent_sms boolean, "
    "consent_email boolean, consent_push boolean, consent_wechat boolean"
)
HISTORY = (
    "date date, person_id string, action string, channel string, offer string, experiment_id string, "
    "holdout boolean, contacted boolean, expected_value double, policy_version string"
)


def _policy(**over) -> Policy:
    base = {
        "version": "t1",
        "caps": {"max_per_7d": 2, "quiet_days": 2},
        "actions": [
            {
                "name": "cart",
                "when": "cart_adds_30d >= 1",
                "value": 10.0,
                "cost": 1.0,
                "channels": ["push", "sms"],
                "offer": "o1",
                "reason": "abandoned cart",
                "experiment": "e_cart",
                "cooldown_days": 3,
            },
            {
                "name": "winback",
                "when": "purchase_propensity < 0.5",
                "value": 20.0,
                "cost": 1.0,
                "channels": ["email"],
                "offer": "o2",
                "reason": "drifting",
                "experiment": "e_win",
                "cooldown_days": 0,
            },
        ],
    }
    base.update(over)
    return Policy.model_validate(base)


def _decide(spark, rows, policy, history=None, date=D, share=0.0):
    history = history if history is not None else spark.createDataFrame([], HISTORY)
    return with_next_action(rows, policy, history=history, date=date, holdout_share=share)


def test_highest_expected_value_wins_on_a_consented_channel(spark):
    rows = spark.createDataFrame(
        [
            ("a", 2.0, 0.4, False, True, True, False),  # cart EV 3, winback EV 7: winback by email
            ("b", 2.0, 0.4, True, False, False, False),  # no email consent: cart by sms
            ("c", 2.0, 0.9, False, False, True, False),  # winback not eligible: cart by push (EV 8)
            ("d", 2.0, 0.4, False, False, False, True),  # eligible, no consented channel
            ("e", 0.0, 0.9, True, True, True, True),  # nothing eligible
            ("f", 2.0, 0.05, True, False, True, False),  # cart EV -0.5: not worth its cost
            ("g", 2.0, 0.1, True, True, True, True),  # cart EV 0, winback EV 1
        ],
        ROW,
    )
    got = _decide(spark, rows, _policy()).select("person_id", "intended_action", "action", "channel", "holdout")
    want = spark.createDataFrame(
        [
            ("a", "winback", "winback", "email", False),
            ("b", "cart", "cart", "sms", False),
            ("c", "cart", "cart", "push", False),
            ("d", "none", "none", None, False),
            ("e", "none", "none", None, False),
            ("f", "cart", "none", None, False),
            ("g", "winback", "winback", "email", False),
        ],
        "person_id string, intended_action string, action string, channel string, holdout boolean",
    )
    assertDataFrameEqual(got, want)
    reasons = {r["person_id"]: r["reason"] for r in _decide(spark, rows, _policy()).collect()}
    assert reasons["a"] == "drifting; expected value 7.00 = P 0.40 x 20.00 - 1.00"
    assert reasons["d"] == "no consent on the channels of cart, winback"
    assert reasons["e"] == "no eligible action"
    assert reasons["f"].startswith("nothing worth its cost: best cart has expected value -0.50")


def test_no_action_is_ever_sent_on_a_channel_without_consent(spark):
    rows = spark.createDataFrame(
        [(f"p{i}", 2.0, i / 20, i % 2 == 0, i % 3 == 0, i % 5 == 0, False) for i in range(20)], ROW
    )
    sent = _decide(spark, rows, _policy()).where(F.col("action") != "none")
    assert not sent.isEmpty()
    consented = F.expr(
        "CASE channel WHEN 'sms' THEN consent_sms WHEN 'email' THEN consent_email "
        "WHEN 'push' THEN consent_push WHEN 'wechat' THEN consent_wechat END"
    )
    assert sent.where(F.col("channel").isNull() | ~consented).isEmpty()


def test_a_tie_goes_to_the_first_action_and_says_so(spark):
    rows = spark.createDataFrame([("a", 2.0, 0.0, True, True, True, True)], ROW)
    tied = _policy(
        actions=[
            {
                "name": "x",
                "when": "true",
                "probability": "0.5",
                "value": 4.0,
                "cost": 1.0,
                "channels": ["sms"],
                "offer": "o",
                "reason": "rx",
                "experiment": "ex",
            },
            {
                "name": "y",
                "when": "true",
                "probability": "0.25",
                "value": 8.0,
                "cost": 1.0,
                "channels": ["email"],
                "offer": "o",
                "reason": "ry",
                "experiment": "ey",
            },
        ]
    )
    row = _decide(spark, rows, tied).first()
    assert (row["action"], row["channel"]) == ("x", "sms")
    assert row["reason"].startswith("tie between x and y, first in the policy wins; rx")


def test_caps_quiet_period_and_cooldown_across_consecutive_days(spark):
    """One person eligible for `cart` every day: sent on day 0; day 1 is in the quiet period (2 days);
    days 2-3 are in the action's cooldown (4 days); sent again on day 4, and so on."""
    policy = _policy(
        caps={"max_per_7d": 2, "quiet_days": 2},
        actions=[
            {
                "name": "cart",
                "when": "true",
                "value": 10.0,
                "cost": 1.0,
                "channels": ["push"],
                "offer": "o",
                "reason": "r",
                "experiment": "e",
                "cooldown_days": 4,
            }
        ],
    )
    rows = spark.createDataFrame([("a", 2.0, 0.5, False, False, True, False)], ROW)
    history = spark.createDataFrame([], HISTORY)
    got = []
    for day in range(9):
        date = D + dt.timedelta(days=day)
        decided = _decide(spark, rows, policy, history, date).localCheckpoint()
        history = history.unionByName(sent_rows(decided, date=date)).localCheckpoint()
        r = decided.first()
        got.append((day, r["action"], r["reason"].split(":")[0].split(" (")[0]))
    assert [(d, a) for d, a, _ in got] == [
        (0, "cart"),
        (1, "none"),
        (2, "none"),
        (3, "none"),
        (4, "cart"),
        (5, "none"),
        (6, "none"),
        (7, "none"),
        (8, "cart"),
    ]
    assert [why for _, _, why in got[1:4]] == ["quiet period of 2 days", "cooldown", "cooldown"]


def test_max_per_7_days_caps_across_actions(spark):
    """Two actions without cooldown or quiet period: the third day in a row hits the cap of 2."""
    policy = _policy(
        caps={"max_per_7d": 2, "quiet_days": 0},
        actions=[
            {
                "name": "x",
                "when": "true",
                "value": 10.0,
                "cost": 1.0,
                "channels": ["push"],
                "offer": "o",
                "reason": "r",
                "experiment": "ex",
                "cooldown_days": 0,
            }
        ],
    )
    rows = spark.createDataFrame([("a", 2.0, 0.5, False, False, True, False)], ROW)
    history = spark.createDataFrame([], HISTORY)
    actions, reasons = [], []
    for day in range(8):
        date = D + dt.timedelta(days=day)
        decided = _decide(spark, rows, policy, history, date).localCheckpoint()
        history = history.unionByName(sent_rows(decided, date=date)).localCheckpoint()
        r = decided.first()
        actions.append(r["action"])
        reasons.append(r["reason"])
    assert actions == ["x", "x", "none", "none", "none", "none", "none", "x"]
    assert reasons[2] == "cap: 2 actions in 7 days reached (2 in the last 6 days)"
    # A rerun of a date ignores that date's own rows: the history of day 0 does not cap day 0.
    assert _decide(spark, rows, policy, history, D).first()["action"] == "x"


def test_holdout_is_deterministic_per_person_and_experiment(spark):
    persons = spark.range(4000).select(F.concat(F.lit("p_"), F.col("id").cast("string")).alias("person_id"))
    a = persons.select("person_id", in_holdout("exp1", 0.1).alias("h")).localCheckpoint()
    b = persons.orderBy(F.rand(3)).repartition(3).select("person_id", in_holdout("exp1", 0.1).alias("h"))
    assertDataFrameEqual(a, b)  # same persons, same experiment: same group, whatever the partitioning
    share = a.agg(F.avg(F.col("h").cast("double"))).first()[0]
    assert 0.08 < share < 0.12
    other = persons.select("person_id", in_holdout("exp2", 0.1).alias("h2"))
    both = a.join(other, "person_id").where(F.col("h") & F.col("h2")).count()
    assert both < 0.03 * 4000  # independent experiments: ~1 % in both, not 10 %
    assert persons.select(holdout_bucket("exp1").alias("b")).where(~F.col("b").between(0, 9999)).isEmpty()


def test_holdout_persons_are_recorded_never_contacted(spark):
    rows = spark.createDataFrame([(f"p{i}", 2.0, 0.9, False, False, True, False) for i in range(200)], ROW)
    decided = _decide(spark, rows, _policy(), share=0.3).localCheckpoint()
    held = decided.where("holdout")
    assert held.where(F.col("action") != "none").isEmpty()
    assert held.where(F.col("channel").isNotNull()).isEmpty()
    assert 30 < held.count() < 90
    sent = sent_rows(decided, date=D)
    assert sent.where("holdout AND contacted").isEmpty()
    assert sent.where("holdout").count() == held.count()
    assert sent.where("contacted").count() == decided.where(F.col("action") == "cart").count()


def test_shipped_policy_loads():
    policy = load_policy(ROOT / "conf" / "actions.yaml")
    assert policy.actions and policy.version


def test_policy_errors_name_the_key(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: x\nactions:\n  - {name: a, when: 'true', value: 1.0, cost: 0.0, channels: [fax], "
        "offer: o, reason: r, experiment: e}\n"
    )
    with pytest.raises(ConfigError, match=r"p\.yaml: actions\[0\]\.channels\[0\]"):
        load_policy(path)
