"""Tags: named yes/no facts about a person at an as-of date, from the catalog in conf/tags.yaml.

A tag is either a `when` expression (Spark SQL, over `gold.portrait` columns; null counts as
false) or a percentile tag: the persons whose `feature` is among the highest `top` share of that
as-of date's population (the persons passing the optional `when` filter with a non-null feature).
The threshold of each date is `percentile_approx(-feature, top)` in one groupBy(as_of_date),
broadcast back to the rows: the value of the ceil(top * n)-th highest person (approximate for
large n, within 1/10000 of the rank). Ties at the threshold are in, so a tag may hold slightly
more than `top` of the population.

This module holds the catalog model and its validation; `tags.evaluate` computes the tags,
`tags.run` is the stage and `tags.markdown` renders the catalog (`python -m portrait.tags`).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from portrait.config import Config, ConfigError, FeaturesConfig, TagsConfig
from portrait.features.registry import features
from portrait.validated import Frozen, load_yaml_model

Group = Literal["basic", "behaviour", "interest"]
GROUPS: tuple[str, ...] = typing.get_args(Group)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SPARK_TYPES = {
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "bigint": T.LongType(),
    "boolean": T.BooleanType(),
    "string": T.StringType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}


class Percentile(Frozen):
    """The highest `top` share (0 < top < 1) of the population by `feature`, per as-of date."""

    feature: str
    top: Annotated[float, Field(gt=0, lt=1)]

    @field_validator("feature")
    @classmethod
    def _a_column(cls, feature: str, info: ValidationInfo) -> str:
        if info.context and feature not in info.context["columns"]:
            raise ValueError(f"{feature!r} is not a gold.portrait column")
        return feature


class Tag(Frozen):
    """One catalog entry: a `when` expression, a `percentile`, or a percentile filtered by `when`.

    Validated with `context={"columns": <gold.portrait columns>}` (as `parse_tags` does), the name
    may not be a column and a percentile's feature must be one; the expressions are checked
    against the schema with Spark by `check_expressions`.
    """

    name: Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
    group: Group
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    when: str | None = None
    percentile: Percentile | None = None

    @field_validator("name")
    @classmethod
    def _not_a_column(cls, name: str, info: ValidationInfo) -> str:
        if info.context and name in info.context["columns"]:
            raise ValueError("is a gold.portrait column; audiences use tags as columns, pick another")
        return name

    @field_validator("when")
    @classmethod
    def _not_blank(cls, when: str | None) -> str | None:
        if when is not None and not when.strip():
            raise ValueError(f"must be a Spark SQL boolean expression, got {when!r}")
        return when

    @model_validator(mode="after")
    def _defined(self) -> Tag:
        if self.when is None and self.percentile is None:
            raise ValueError("needs 'when' (an expression) or 'percentile' ({feature, top})")
        return self


class TagCatalog(Frozen):
    """A tag catalog file: `tags`, a non-empty list of tags with distinct names."""

    tags: Annotated[list[Tag], Field(min_length=1)]

    @field_validator("tags")
    @classmethod
    def _distinct(cls, tags: list[Tag]) -> list[Tag]:
        first: dict[str, int] = {}
        for i, tag in enumerate(tags):
            if tag.name in first:
                raise ValueError(f"'{tag.name}' names both tags[{first[tag.name]}] and tags[{i}]")
            first[tag.name] = i
        return tags


def portrait_schema(categories: Sequence[str]) -> T.StructType:
    """The `gold.portrait` schema as the feature registry declares it (no data, no session)."""
    feats = features(list(categories))
    unknown = sorted({f"{f.name}: {f.dtype}" for f in feats if f.dtype not in _SPARK_TYPES})
    if unknown:
        raise ValueError(f"portrait.tags.portrait_schema does not know the dtype of {unknown}: add it to _SPARK_TYPES")
    return T.StructType([T.StructField(f.name, _SPARK_TYPES[f.dtype], True) for f in feats])


# --- loading and validation ------------------------------------------------------------------


def parse_tags(path: str | Path, columns: Iterable[str]) -> tuple[Tag, ...]:
    """Read a tag catalog and check its structure (no Spark): keys, groups, names, `top`.

    Args:
        path: the YAML file (a mapping with one key, `tags`: a list of tags).
        columns: the `gold.portrait` columns; a tag may not be named like one, and a percentile's
            feature must be one.

    Raises:
        ConfigError: one line per problem, naming the file, the key path and the tag.
    """
    catalog = load_yaml_model(path, TagCatalog, what="tag catalog", context={"columns": set(columns)})
    return tuple(catalog.tags)


def check_expressions(spark: SparkSession, tags: Sequence[Tag], schema: T.StructType, *, source: str = "") -> None:
    """Analyse every tag's expressions against an empty DataFrame of `schema` (no data is read).

    A `when` must parse, name known columns only and be boolean, without aggregates or windows;
    a percentile's feature must be numeric.

    Raises:
        ConfigError: naming the tag, the key and Spark's message.
    """
    empty = spark.createDataFrame([], schema)
    for tag in tags:
        where = f"{source + ': ' if source else ''}tag '{tag.name}'"
        if tag.when is not None:
            check_boolean_expression(empty, tag.when, what=f"{where}: 'when'", error=ConfigError)
        if tag.percentile is not None:
            if tag.percentile.feature not in schema.fieldNames():
                raise ConfigError(f"{where}: 'percentile.feature' {tag.percentile.feature!r} is not a column")
            dtype = schema[tag.percentile.feature].dataType
            if not isinstance(dtype, T.NumericType):
                raise ConfigError(
                    f"{where}: 'percentile.feature' {tag.percentile.feature!r} is {dtype.simpleString()}, not a number"
                )


def check_boolean_expression(df: DataFrame, expression: str, *, what: str, error: type[Exception]) -> None:
    """Raise `error` (naming `what` and Spark's message) unless `expression` is a boolean row filter of `df`.

    Only analyses the plan: no Spark job runs.
    """

    def analysed(plan):  # analysis only; ParseException is an AnalysisException
        try:
            return plan().schema
        except AnalysisException as exc:
            raise error(f"{what} {expression!r} is not a valid expression: {_first_line(exc)}") from None

    dtype = analysed(lambda: df.select(F.expr(expression).alias("_value")))["_value"].dataType
    if not isinstance(dtype, T.BooleanType):
        raise error(f"{what} {expression!r} must be true/false, but it is {dtype.simpleString()}")
    analysed(lambda: df.where(F.expr(expression)))  # a filter refuses aggregates and window functions


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_tags(path: str | Path, schema: T.StructType, *, spark: SparkSession) -> tuple[Tag, ...]:
    """Read and fully validate a tag catalog against the portrait `schema`.

    Example:
        tags = load_tags("conf/tags.yaml", portrait_schema(cfg.features.categories), spark=spark)
    """
    tags = parse_tags(path, schema.fieldNames())
    check_expressions(spark, tags, schema, source=str(path))
    return tags


@dataclass(frozen=True)
class CatalogConf:
    """What the tags and audience stages take from the configuration (`CatalogConf.of(cfg)`): the tag
    catalog and what it is checked against."""

    tags: TagsConfig  # the `tags` section: the catalog's file
    features: FeaturesConfig  # the feature registry's settings the catalog is checked against
    conf_dir: Path  # the conf folder, which `tags.file` is relative to

    @classmethod
    def of(cls, cfg: Config) -> CatalogConf:
        return cls(cfg.tags, cfg.features, cfg.conf_dir)

    def tags_of(self, spark: SparkSession) -> tuple[Tag, ...]:
        """The configured catalog (`configured_tags`)."""
        return configured_tags(spark, self.tags, features_conf=self.features, conf_dir=self.conf_dir)


def configured_tags(
    spark: SparkSession, conf: TagsConfig, *, features_conf: FeaturesConfig, conf_dir: Path
) -> tuple[Tag, ...]:
    """The catalog named by `tags.file` (relative to `conf_dir`, the conf folder), checked against the registry."""
    return load_tags(conf_dir / conf.file, portrait_schema(features_conf.categories), spark=spark)
