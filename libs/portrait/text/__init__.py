"""Text signals: sentiment and interest topic of every social post and review (see `text.model`).

`run` trains when due and scores what is new into `silver.social_signals`; the builders fit and
apply the Spark ML pipeline.
"""

from portrait.text.model import SENTIMENTS, TOKEN_PATTERN, build_pipeline, evaluate, score_posts, split, training_rows
from portrait.text.run import INPUTS, OUTPUTS, RunConf, moved, run, unscored

__all__ = [
    "RunConf",
    "INPUTS",
    "OUTPUTS",
    "SENTIMENTS",
    "TOKEN_PATTERN",
    "build_pipeline",
    "evaluate",
    "moved",
    "run",
    "score_posts",
    "split",
    "training_rows",
    "unscored",
]
