"""The next-best-action policy file (conf/actions.yaml), validated: actions, their value and cost,
channels, holdout experiments and the contact caps.

Loaded with `load_policy`; every error names the file and the key (`portrait.validated`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from portrait.features.registry import CONSENT_CHANNELS
from portrait.validated import Frozen, load_yaml_model

Channel = Annotated[str, Field(pattern="^(" + "|".join(CONSENT_CHANNELS) + ")$")]
NAME = "^[a-z][a-z0-9_]*$"


class Trigger(Frozen):
    """What makes an action a live one (`portrait live`): an event pattern over the clickstream, in
    event time. A triggered action is decided by the live job only, for the persons whose events
    fired it; the daily `score` never chooses it.

    Attributes:
        kind: `cart_abandoned`: an `add_to_cart` followed by no `checkout` of the same person within
            `minutes` of event time; `category_views`: `views` product views of one category by one
            person within `minutes` (windows sliding by one minute).
        minutes: the time span of the pattern, in event-time minutes.
        views: `category_views` only: how many views fire it.
    """

    kind: Literal["cart_abandoned", "category_views"]
    minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    views: Annotated[int, Field(ge=2)] | None = None

    @model_validator(mode="after")
    def _views_for_category(self) -> Trigger:
        if (self.kind == "category_views") != (self.views is not None):
            raise ValueError("views is required for kind category_views, and only for it")
        return self


class Action(Frozen):
    """One action the policy may choose.

    Attributes:
        name: snake_case action name (`none` is reserved for "no action").
        when: eligibility, a Spark SQL boolean over the scoring row (portrait columns, `tags`
            (array of tag names), `segment_name`, `purchase_propensity`, `churn_propensity`).
        probability: Spark SQL for P(outcome | action) over the same row, in [0, 1].
        value: what the outcome is worth (currency); cost: what sending costs (currency).
        channels: preference order; the first channel the person consented to is used.
        offer: the message or offer sent.
        reason: why, in words, when this action is chosen.
        experiment: the holdout experiment id (the control group is a hash of person and id).
        holdout_share: share of eligible persons held out; None = `score.holdout_fraction` of the conf.
        cooldown_days: no repeat of this action to a person within this many days.
        outcome_window_days: days after the action in which a purchase counts as its outcome.
        trigger: a live action's event pattern (`Trigger`); None: a daily action.
    """

    name: Annotated[str, Field(pattern=NAME)]
    when: Annotated[str, Field(min_length=1)]
    probability: Annotated[str, Field(min_length=1)] = "purchase_propensity"
    value: Annotated[float, Field(ge=0)]
    cost: Annotated[float, Field(ge=0)]
    channels: Annotated[list[Channel], Field(min_length=1)]
    offer: Annotated[str, Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1)]
    experiment: Annotated[str, Field(pattern=NAME)]
    holdout_share: Annotated[float, Field(ge=0, lt=1)] | None = None
    cooldown_days: Annotated[int, Field(ge=0)] = 7
    outcome_window_days: Annotated[int, Field(ge=1)] = 7
    trigger: Trigger | None = None

    @field_validator("name")
    @classmethod
    def _not_none(cls, name: str) -> str:
        if name == "none":
            raise ValueError("'none' is reserved for no action")
        return name


class Caps(Frozen):
    """Contact caps over gold.actions_sent (holdout rows count as sent, so that the control group is
    capped like the treated one).

    Attributes:
        max_per_7d: at most this many actions per person in any 7 consecutive days.
        quiet_days: after an action, no other action for this many days (0: none).
    """

    max_per_7d: Annotated[int, Field(ge=1)] = 2
    quiet_days: Annotated[int, Field(ge=0)] = 2


class Policy(Frozen):
    """The whole policy file: version, actions (order breaks ties), caps and the smallest expected
    value worth acting on (the default holdout share is `score.holdout_fraction` of the conf)."""

    version: Annotated[str, Field(min_length=1)]
    actions: Annotated[list[Action], Field(min_length=1)]
    caps: Caps = Field(default_factory=Caps)
    min_expected_value: float = 0.0

    @field_validator("actions")
    @classmethod
    def _distinct(cls, actions: list[Action]) -> list[Action]:
        for field in ("name", "experiment"):
            seen = [getattr(a, field) for a in actions]
            twice = sorted({s for s in seen if seen.count(s) > 1})
            if twice:
                raise ValueError(f"action {field}s {twice} given more than once")
        if all(a.trigger is not None for a in actions):
            raise ValueError("every action has a trigger: the daily score needs at least one action without one")
        return actions

    def daily(self) -> Policy:
        """The policy the daily `score` applies: the actions without a trigger (same caps and version)."""
        return self.model_copy(update={"actions": [a for a in self.actions if a.trigger is None]})

    def live(self) -> Policy | None:
        """The policy of `portrait live`: the actions with a trigger, or None when there are none."""
        triggered = [a for a in self.actions if a.trigger is not None]
        return self.model_copy(update={"actions": triggered}) if triggered else None

    def share(self, action: Action, default: float) -> float:
        """The holdout share of `action`'s experiment (`default` unless the action sets one)."""
        return default if action.holdout_share is None else action.holdout_share


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; errors name the file and the bad key."""
    return load_yaml_model(path, Policy, what="action policy")
