"""Audiences: the persons of one date matching an expression over their tags and features.

`build` (pure builders), `run` (the stage: `gold.portrait` + `gold.tags` -> `gold.audiences`).
"""

from portrait.audience.build import audience_rows, build, check_name, with_tag_flags
from portrait.audience.run import TABLE, run

__all__ = ["TABLE", "audience_rows", "build", "check_name", "run", "with_tag_flags"]
