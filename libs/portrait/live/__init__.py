"""`portrait live`: Structured Streaming over the clickstream landing folders -> a live portrait
and triggered actions on the daily policy, exactly once. See `portrait.live.run` and docs/live.md."""

from portrait.live.run import INPUTS, OUTPUTS, RunConf, run

__all__ = ["INPUTS", "OUTPUTS", "RunConf", "run"]
