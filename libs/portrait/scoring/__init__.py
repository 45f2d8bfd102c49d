"""Score: champion models -> segments, propensities with reasons, next actions; gated publication."""

from portrait.models.deciles import with_decile
from portrait.scoring.gate import GateFailed, gate_checks
from portrait.scoring.propensities import churn_population, with_probability, with_tags
from portrait.scoring.reasons import reasons, with_reasons
from portrait.scoring.run import INPUTS, OUTPUTS, RunConf, check_gate, publish, record_segment_movement, run
from portrait.scoring.summary import summary

_record_segment_movement = record_segment_movement  # the name tests/test_segments.py imports

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "GateFailed",
    "RunConf",
    "check_gate",
    "churn_population",
    "gate_checks",
    "publish",
    "reasons",
    "record_segment_movement",
    "run",
    "summary",
    "with_decile",
    "with_probability",
    "with_reasons",
    "with_tags",
]
