"""The next-action policy: rule order, consent at the point of action, holdout."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from helpers import ROOT
from portrait.actions import Policy, Rule, load_policy, with_next_action
from portrait.config import ConfigError

POLICY = Policy(
    version="t1",
    rules=(
        Rule("cart_reminder", "cart_adds_30d >= 1", ("push", "sms"), "abandoned cart"),
        Rule("winback", "purchase_propensity < 0.2", ("email",), "drifting"),
    ),
    default_action="none", default_reason="no rule matched",
)


def test_first_deliverable_rule_wins_and_consent_is_respected(spark):
    rows = spark.createDataFrame([
        # person, cart_adds, propensity, sms, email, push, wechat, holdout
        ("a", 2.0, 0.5, False, False, True, False, False),   # cart reminder by push
        ("b", 2.0, 0.5, True, False, False, False, False),   # cart reminder by sms (no push consent)
        ("c", 2.0, 0.1, False, True, False, False, False),   # no channel for rule 1, winback by email
        ("d", 2.0, 0.5, False, False, False, True, False),   # matched, but no consented channel
        ("e", 0.0, 0.5, True, True, True, True, False),      # no rule matches
        ("f", 2.0, 0.5, False, False, True, False, True),    # holdout: intended but not sent
    ], "person_id string, cart_adds_30d double, purchase_propensity double, consent_sms boolean, "
       "consent_email boolean, consent_push boolean, consent_wechat boolean, is_holdout boolean")
    got = with_next_action(rows, POLICY, holdout=F.col("is_holdout")).select(
        "person_id", "intended_action", "action", "channel", "reason", "holdout", "policy_version")
    want = spark.createDataFrame([
        ("a", "cart_reminder", "cart_reminder", "push", "abandoned cart", False, "t1"),
        ("b", "cart_reminder", "cart_reminder", "sms", "abandoned cart", False, "t1"),
        ("c", "winback", "winback", "email", "drifting", False, "t1"),
        ("d", "cart_reminder", "none", None, "no_consent", False, "t1"),
        ("e", "none", "none", None, "no rule matched", False, "t1"),
        ("f", "cart_reminder", "none", None, "holdout", True, "t1"),
    ], "person_id string, intended_action string, action string, channel string, reason string, "
       "holdout boolean, policy_version string")
    assertDataFrameEqual(got, want)


def test_shipped_policy_loads():
    policy = load_policy(ROOT / "conf" / "actions.yaml")
    assert policy.rules and policy.version


def test_policy_with_unknown_channel_is_rejected(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: x\nrules:\n  - {action: a, when: 'true', channels: [fax], reason: r}\n")
    with pytest.raises(ConfigError, match=r"rules\[0\]\.channels' has unknown channel 'fax'"):
        load_policy(path)
