"""Features: the point-in-time portrait of every person as of a date (`features.run`).

`run` (the stage), `sources` (its silver inputs, shared with training), `recompute` (which persons
an incremental run redoes), `daily` / `portrait` / `incremental` (pure builders) and `registry`
(the feature definitions).
"""

from portrait.features.run import DAILY, STATE, run
from portrait.features.sources import SOURCES, daily_from_silver, portraits, signals_version

__all__ = ["DAILY", "SOURCES", "STATE", "daily_from_silver", "portraits", "run", "signals_version"]
