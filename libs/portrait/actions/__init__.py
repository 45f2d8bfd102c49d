"""The next-best-action policy: validated policy file, contact caps, holdout experiments and the
expected-value arbitration (Column expressions)."""

from portrait.actions.arbitrate import (
    EV_LABEL,
    NONE,
    first_consented,
    sent_rows,
    with_live_contacts,
    with_next_action,
)
from portrait.actions.contacts import contact_state
from portrait.actions.holdout import holdout_bucket, in_holdout
from portrait.actions.policy import Action, Caps, Policy, Trigger, load_policy

__all__ = [
    "EV_LABEL",
    "NONE",
    "Action",
    "Caps",
    "Policy",
    "Trigger",
    "contact_state",
    "first_consented",
    "holdout_bucket",
    "in_holdout",
    "load_policy",
    "sent_rows",
    "with_live_contacts",
    "with_next_action",
]
