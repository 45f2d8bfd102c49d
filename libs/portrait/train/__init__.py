"""Train: purchase and churn propensity models and the segment model, logged, registered, gated (`train.run`).

`run` (the stage), `propensity` and `segments` (one model each, with its MLflow run), `promotion`
(registry aliases and the decision tag), `lineage` (table and code versions, config hash).
"""

from portrait.train.lineage import code_version, config_sha256, table_versions
from portrait.train.promotion import gate
from portrait.train.run import RunConf, run

__all__ = ["RunConf", "code_version", "config_sha256", "gate", "run", "table_versions"]
