"""Tags: named yes/no facts about a person at an as-of date, from the catalog in conf/tags.yaml.

A tag is either a `when` expression (Spark SQL, over `gold.portrait` columns; null counts as
false) or a percentile tag: the persons whose `feature` is among the highest `top` share of that
as-of date's population (the persons passing the optional `when` filter with a non-null feature).
The threshold of each date is `percentile_approx(-feature, top)` in one groupBy(as_of_date),
broadcast back to the rows: the value of the ceil(top * n)-th highest person (approximate for
large n, within 1/10000 of the rank). Ties at the threshold are in, so a tag may hold slightly
more than `top` of the population.

    python -m portrait.tags --out docs/tag_catalog.md [--conf conf/local.yaml]

renders the catalog as Markdown.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import typing
from pathlib import Path
from typing import Annotated, Iterable, Literal, Optional, Sequence

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from portrait.config import Config, ConfigError, load_config
from portrait.features.catalog import write_or_print
from portrait.features.registry import features
from portrait.io import Lakehouse
from portrait import catalog
from portrait.validated import Frozen, load_yaml_model

log = logging.getLogger(__name__)

Group = Literal["basic", "behaviour", "interest"]
GROUPS: tuple[str, ...] = typing.get_args(Group)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SPARK_TYPES = {"double": T.DoubleType(), "float": T.FloatType(), "int": T.IntegerType(), "long": T.LongType(),
                "bigint": T.LongType(), "boolean": T.BooleanType(), "string": T.StringType(), "date": T.DateType(),
                "timestamp": T.TimestampType()}


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
    when: Optional[str] = None
    percentile: Optional[Percentile] = None

    @field_validator("name")
    @classmethod
    def _not_a_column(cls, name: str, info: ValidationInfo) -> str:
        if info.context and name in info.context["columns"]:
            raise ValueError("is a gold.portrait column; audiences use tags as columns, pick another")
        return name

    @field_validator("when")
    @classmethod
    def _not_blank(cls, when: Optional[str]) -> Optional[str]:
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
                raise ConfigError(f"{where}: 'percentile.feature' {tag.percentile.feature!r} is "
                                  f"{dtype.simpleString()}, not a number")


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


def configured_tags(spark: SparkSession, cfg: Config) -> tuple[Tag, ...]:
    """The catalog named by `tags.file` (relative to the conf folder), checked against the registry."""
    return load_tags(cfg.conf_dir / cfg.tags.file, portrait_schema(cfg.features.categories), spark=spark)


# --- evaluation ------------------------------------------------------------------------------

def _holds(expression: Optional[str]) -> Column:
    return F.coalesce(F.expr(expression), F.lit(False)) if expression else F.lit(True)


def _eligible(tag: Tag) -> Column:
    """A row in the percentile's population: a non-null feature and the `when` filter holds."""
    return F.col(tag.percentile.feature).isNotNull() & _holds(tag.when)


def _threshold(i: int) -> str:
    return f"__tag_threshold_{i}"


def evaluate(portrait: DataFrame, tags: Sequence[Tag]) -> DataFrame:
    """The tags of every portrait row.

    Args:
        portrait: `gold.portrait` rows (any as-of dates; at least the columns the tags use).
        tags: the catalog (`load_tags`).

    Returns:
        person_id string, as_of_date date, tag string: one row per tag that holds; a row whose
        expression is null is not tagged.
    """
    if not tags:
        raise ValueError("evaluate needs at least one tag")
    percentiles = [(i, t) for i, t in enumerate(tags) if t.percentile is not None]
    rows = portrait
    if percentiles:
        # One small row per as-of date: each percentile tag's threshold over its own population.
        thresholds = portrait.groupBy("as_of_date").agg(*[
            (-F.percentile_approx(F.when(_eligible(t), -F.col(t.percentile.feature).cast("double")),
                                  F.lit(t.percentile.top))).alias(_threshold(i))
            for i, t in percentiles
        ])
        rows = portrait.join(F.broadcast(thresholds), on="as_of_date", how="left")

    def holds(i: int, tag: Tag) -> Column:
        if tag.percentile is None:
            return _holds(tag.when)
        value = F.col(tag.percentile.feature).cast("double")
        return _eligible(tag) & F.coalesce(value >= F.col(_threshold(i)), F.lit(False))

    names = F.array(*[F.when(holds(i, t), F.lit(t.name)) for i, t in enumerate(tags)])
    return rows.select("person_id", "as_of_date", F.explode(F.array_compact(names)).alias("tag")).select(
        F.col("person_id").cast("string").alias("person_id"),
        F.col("as_of_date").cast("date").alias("as_of_date"),
        F.col("tag").cast("string").alias("tag"),
    )


# --- the job ---------------------------------------------------------------------------------

def run(spark: SparkSession, cfg: Config, date: dt.date) -> dict[str, int]:
    """Evaluate the catalog on `gold.portrait` of `date` and replace that date in `gold.tags`.

    Returns:
        persons per tag, in catalog order (0 for a tag nobody has).
    """
    tags = configured_tags(spark, cfg)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    on_date = F.col("as_of_date") == F.lit(date)
    portrait = lake.read(catalog.GOLD_PORTRAIT)
    try:  # the catalog fits the registry; a table written by an older registry may lack columns
        check_expressions(spark, tags, portrait.schema, source=catalog.GOLD_PORTRAIT)
    except ConfigError as exc:
        raise ValueError(f"{exc}\ngold.portrait does not have the columns of the feature registry: rebuild it "
                         f"with `portrait features --date {date}` (and earlier dates) first") from None
    lake.replace_range(evaluate(portrait.where(on_date), tags), catalog.GOLD_TAGS, start=date)
    # One row per tag (a few dozen), not per person.
    counts = {r["tag"]: r["count"] for r in lake.read(catalog.GOLD_TAGS).where(on_date).groupBy("tag").count().collect()}
    log.info("tags as of %s: %s", date, counts)
    return {t.name: int(counts.get(t.name, 0)) for t in tags}


# --- the catalog as Markdown -----------------------------------------------------------------

def to_markdown(tags: Sequence[Tag], *, source: str = "conf/tags.yaml") -> str:
    """The catalog as a Markdown document, one table per group."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "# Tag catalog: `gold.tags`",
        "",
        f"Generated from `{source}` by `python -m portrait.tags --out docs/tag_catalog.md`; do not edit",
        "by hand. A `when` tag holds where its expression over `gold.portrait` columns is true (null is",
        "false). A percentile tag holds for the highest `top` share of the as-of date's population",
        "(the persons passing `when` with a non-null feature), ties at the threshold included.",
        "Tags combine with features in `portrait audience --where ...`.",
    ]
    for group in GROUPS:
        lines += ["", f"## {group}", "", "| tag | description | definition |", "|---|---|---|"]
        for t in (t for t in tags if t.group == group):
            if t.percentile is None:
                definition = f"`{t.when}`"
            else:
                definition = f"top {t.percentile.top:.0%} by `{t.percentile.feature}`"
                definition += f" among `{t.when}`" if t.when else ""
            lines.append(f"| `{t.name}` | {cell(t.description)} | {cell(definition)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the tag catalog as Markdown (structure checked, no Spark).")
    parser.add_argument("--conf", type=Path, default=Path("conf/local.yaml"),
                        help="config naming the catalog (tags.file) and the categories (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    path = cfg.conf_dir / cfg.tags.file
    tags = parse_tags(path, portrait_schema(cfg.features.categories).fieldNames())
    write_or_print(to_markdown(tags, source=f"{args.conf.parent / cfg.tags.file}"), args.out)


if __name__ == "__main__":
    main()
