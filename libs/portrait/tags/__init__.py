"""Tags: named yes/no facts about a person at an as-of date, from the catalog in conf/tags.yaml.

`definitions` (the catalog model and its validation), `evaluate` (the pure builder), `run` (the
stage: `gold.portrait` -> `gold.tags`), `markdown` (the catalog as a document).
"""

from portrait.tags.definitions import (
    GROUPS,
    NAME_PATTERN,
    CatalogConf,
    Percentile,
    Tag,
    TagCatalog,
    check_boolean_expression,
    check_expressions,
    configured_tags,
    load_tags,
    parse_tags,
    portrait_schema,
)
from portrait.tags.evaluate import evaluate
from portrait.tags.markdown import main, to_markdown
from portrait.tags.run import run

__all__ = [
    "GROUPS",
    "NAME_PATTERN",
    "CatalogConf",
    "Percentile",
    "Tag",
    "TagCatalog",
    "check_boolean_expression",
    "check_expressions",
    "configured_tags",
    "evaluate",
    "load_tags",
    "main",
    "parse_tags",
    "portrait_schema",
    "run",
    "to_markdown",
]
