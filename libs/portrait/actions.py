"""The next-best-action policy (conf/actions.yaml) as Spark column expressions.

Rules are tried in order; a rule applies when its `when` expression holds and the person
consented to one of its channels (the first such channel is used). A person whose matching rules
all lack consent gets no action with reason `no_consent` (its `intended_action` still names the blocked action). Holdout persons get no action either,
with reason `holdout`, but keep the action the policy intended, to measure uplift later.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.config import ConfigError, load_yaml_mapping
from portrait.features.portrait import CONSENT_CHANNELS


@dataclass(frozen=True)
class Rule:
    action: str
    when: str
    channels: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    default_action: str
    default_reason: str


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; errors name the file and the bad key."""
    data = load_yaml_mapping(path, what="action policy", allowed=("version", "rules", "default"))
    if not isinstance(data.get("rules"), list) or not data["rules"]:
        raise ConfigError(f"{path}: 'rules' must be a non-empty list")
    rules = []
    for i, r in enumerate(data["rules"]):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"{path}: '{where}' must be a mapping")
        extra = set(r) - {"action", "when", "channels", "reason"}
        if extra:
            raise ConfigError(f"{path}: unknown key '{where}.{sorted(extra)[0]}'")
        for key in ("action", "when", "channels", "reason"):
            if key not in r:
                raise ConfigError(f"{path}: missing key '{where}.{key}'")
        bad = [c for c in r["channels"] if c not in CONSENT_CHANNELS]
        if bad:
            raise ConfigError(f"{path}: '{where}.channels' has unknown channel {bad[0]!r}; known: {CONSENT_CHANNELS}")
        rules.append(Rule(str(r["action"]), str(r["when"]), tuple(r["channels"]), str(r["reason"])))
    default = data.get("default") or {}
    if "version" not in data:
        raise ConfigError(f"{path}: missing key 'version'")
    return Policy(str(data["version"]), tuple(rules), str(default.get("action", "none")),
                  str(default.get("reason", "no rule matched")))


def _first_consented(channels: tuple[str, ...]) -> Column:
    return F.coalesce(*[F.when(F.col(f"consent_{c}"), F.lit(c)) for c in channels], F.lit(None).cast("string"))


def with_next_action(df: DataFrame, policy: Policy, *, holdout: Column) -> DataFrame:
    """Add `intended_action`, `action`, `channel`, `reason` and `holdout` to scoring rows.

    Args:
        df: rows with the policy's referenced columns and `consent_<channel>` booleans.
        policy: the loaded policy.
        holdout: a boolean column marking the control group.
    """
    matched = [(r, F.coalesce(F.expr(r.when), F.lit(False))) for r in policy.rules]
    deliverable = [
        F.when(cond & _first_consented(r.channels).isNotNull(),
               F.struct(F.lit(r.action).alias("action"), _first_consented(r.channels).alias("channel"),
                        F.lit(r.reason).alias("reason")))
        for r, cond in matched
    ]
    any_match = F.greatest(*[c for _, c in matched]) if len(matched) > 1 else matched[0][1]
    none = F.struct(F.lit(policy.default_action).alias("action"), F.lit(None).cast("string").alias("channel"),
                    F.lit(policy.default_reason).alias("reason"))
    no_consent = F.struct(F.lit("none").alias("action"), F.lit(None).cast("string").alias("channel"),
                          F.lit("no_consent").alias("reason"))
    chosen = F.coalesce(*deliverable, F.when(any_match, no_consent), none)
    # What the policy wanted, before consent and holdout: the first deliverable rule, else the
    # first matching one (blocked by consent), else the default.
    intended = F.coalesce(
        *[F.when(c & _first_consented(r.channels).isNotNull(), F.lit(r.action)) for r, c in matched],
        *[F.when(c, F.lit(r.action)) for r, c in matched],
        F.lit(policy.default_action),
    )
    return (
        df.withColumn("_choice", chosen)
        .withColumn("holdout", holdout)
        .withColumn("intended_action", intended)
        .withColumn("action", F.when(F.col("holdout"), F.lit("none")).otherwise(F.col("_choice.action")))
        .withColumn("channel", F.when(F.col("holdout"), F.lit(None).cast("string")).otherwise(F.col("_choice.channel")))
        .withColumn("reason", F.when(F.col("holdout"), F.lit("holdout")).otherwise(F.col("_choice.reason")))
        .withColumn("policy_version", F.lit(policy.version))
        .drop("_choice")
    )
