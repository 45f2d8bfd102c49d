"""`portrait person <TYPE=VALUE | person_id>`: one person's portrait, tags, scores with reasons and actions.

The person is found through `silver.identity_map`: a clear phone, email or WeChat id is normalised
and hashed as ingest does (`portrait.privacy`, the conf's PII key); account, cookie and social
author ids are looked up as given; a `p_...` value is a person id. Every table is filtered to that
one person before anything reaches the driver: only their rows are collected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait import catalog, privacy
from portrait.inspect.tables import ACTION_OUTCOMES, ACTIONS_SENT, NOT_AVAILABLE, read_optional, reason_columns
from portrait.io import Lakehouse

HASHED_TYPES = tuple(privacy.NORMALISERS)  # phone, email, wechat_id, name: stored as keyed hashes
RECENT = 10  # rows of a person's history shown per table


class PersonNotFound(LookupError):
    """The identifier or person id names nobody in the identity map; the message says what to try."""


@dataclass(frozen=True)
class PersonView:
    """Everything shown about one person; a section is rows (dicts) or a sentence saying why it is empty."""

    person_id: str
    as_of: dt.date | None
    sections: dict[str, list[dict[str, Any]] | str] = field(default_factory=dict)


def identifier_value(spark: SparkSession, id_type: str, clear: str, *, key: bytes) -> str | None:
    """The `id_value` the identity map holds for a clear identifier (hashed for PII types)."""
    if id_type not in HASHED_TYPES:
        return clear.strip() or None
    one = spark.createDataFrame([(clear,)], "clear string")
    return one.select(privacy.pseudonymise(F.col("clear"), id_type, key).alias("v")).first()["v"]


def find_person(lake: Lakehouse, query: str, *, key: bytes) -> str:
    """The person id behind `TYPE=VALUE` (e.g. `phone=138 1234 5678`) or a person id.

    Raises:
        PersonNotFound: the value resolves to nobody, with what to check next.
    """
    identity_map = lake.read(catalog.SILVER_IDENTITY_MAP)
    id_type, sep, clear = query.partition("=")
    if not sep:
        found = identity_map.where(F.col("person_id") == query.strip()).select("person_id").limit(1).collect()
        if not found:
            raise PersonNotFound(
                f"no person {query!r} in {catalog.SILVER_IDENTITY_MAP}: give TYPE=VALUE "
                f"(phone, email, wechat_id, account, cookie, social_author) or a person id p_..."
            )
        return found[0]["person_id"]
    id_type = id_type.strip()
    value = identifier_value(lake.spark, id_type, clear, key=key)
    if value is None:
        raise PersonNotFound(f"{id_type}=... is empty after normalisation")
    match = (F.col("id_type") == id_type) & (F.col("id_value") == value)
    found = identity_map.where(match).select("person_id").limit(1).collect()
    if found:
        return found[0]["person_id"]
    excluded = lake.read(catalog.SILVER_IDENTITY_EXCLUDED) if lake.exists(catalog.SILVER_IDENTITY_EXCLUDED) else None
    if excluded is not None and not excluded.where(match).isEmpty():
        raise PersonNotFound(
            f"the {id_type} given is shared by many persons or a placeholder, so it was left "
            "out of identity linking: look the person up by another identifier"
        )
    known = sorted(r[0] for r in identity_map.select("id_type").distinct().collect())
    raise PersonNotFound(
        f"no person with this {id_type} in {catalog.SILVER_IDENTITY_MAP} (types in the map: "
        f"{', '.join(known)}); check the value, and that the identity job ran after it landed"
    )


def _rows(df: DataFrame, order: str, n: int = RECENT) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in df.orderBy(F.col(order).desc()).limit(n).collect()]


def _latest(lake: Lakehouse, table, person_id: str, date_col: str, upto: dt.date | None, n: int = 1):
    if not lake.exists(table):
        return f"{table} {NOT_AVAILABLE}"
    df = lake.read(table).where(F.col("person_id") == person_id)
    if upto is not None:
        df = df.where(F.col(date_col) <= F.lit(upto))
    return _rows(df, date_col, n) or f"no row in {table}"


def person_view(lake: Lakehouse, person_id: str, *, date: dt.date | None = None) -> PersonView:
    """One person's rows from every table that holds them, latest first, up to `date` (default: all)."""
    s: dict[str, list[dict[str, Any]] | str] = {}
    ids = (
        lake.read(catalog.SILVER_IDENTITY_MAP)
        .where(F.col("person_id") == person_id)
        .groupBy("id_type")
        .agg(F.count(F.lit(1)).alias("identifiers"))
        .orderBy("id_type")
    )
    s["identifiers"] = [r.asDict() for r in ids.collect()]
    portrait = _latest(lake, catalog.GOLD_PORTRAIT, person_id, "as_of_date", date)
    as_of = portrait[0]["as_of_date"] if isinstance(portrait, list) else None
    if isinstance(portrait, list):
        portrait = [{k: v for k, v in portrait[0].items() if v is not None}]
    s["portrait"] = portrait
    if as_of is not None and lake.exists(catalog.GOLD_TAGS):
        tags = (
            lake.read(catalog.GOLD_TAGS)
            .where((F.col("person_id") == person_id) & (F.col("as_of_date") == as_of))
            .select("tag")
            .orderBy("tag")
        )
        s["tags"] = [r.asDict() for r in tags.collect()] or "no tag"
    else:
        s["tags"] = f"{catalog.GOLD_TAGS} {NOT_AVAILABLE}"
    s["segment"] = _latest(lake, catalog.GOLD_SEGMENTS_DAILY, person_id, "date", date, 3)
    s["propensities"] = _latest(lake, catalog.GOLD_PROPENSITY_DAILY, person_id, "date", date, 3)
    s["next actions"] = _latest(lake, catalog.GOLD_NEXT_ACTIONS_DAILY, person_id, "date", date, RECENT)
    sent = read_optional(lake, ACTIONS_SENT)
    s["actions sent"] = (
        f"{ACTIONS_SENT} {NOT_AVAILABLE}"
        if sent is None
        else _rows(sent.where(F.col("person_id") == person_id), _date_col(sent)) or "none sent"
    )
    outcomes = read_optional(lake, ACTION_OUTCOMES)
    if outcomes is None:
        s["outcomes"] = f"{ACTION_OUTCOMES} {NOT_AVAILABLE}"
    elif "person_id" in outcomes.columns:
        s["outcomes"] = _rows(outcomes.where(F.col("person_id") == person_id), _date_col(outcomes)) or "none yet"
    else:
        s["outcomes"] = f"{ACTION_OUTCOMES} is per action and date, not per person: see the daily report"
    if lake.exists(catalog.GOLD_AUDIENCES):
        aud = lake.read(catalog.GOLD_AUDIENCES).where(F.col("person_id") == person_id).select("name", "date")
        s["audiences"] = _rows(aud, "date") or "in no audience"
    return PersonView(person_id, as_of, s)


def _date_col(df: DataFrame) -> str:
    return next((c for c in ("date", "sent_date", "as_of_date", "day") if c in df.columns), df.columns[0])


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "; ".join(_value(x) for x in v) or "-"
    return str(v)


def format_person(view: PersonView) -> str:
    """The view as readable text: one heading per section, reasons spelled out."""
    lines = [f"Person {view.person_id}" + (f" (portrait as of {view.as_of})" if view.as_of else "")]
    for name, rows in view.sections.items():
        lines.append(f"\n{name}:")
        if isinstance(rows, str):
            lines.append(f"  {rows}")
        elif name == "portrait":
            lines += [f"  {k:<34} {_value(v)}" for k, v in rows[0].items()]
        elif name == "tags":
            lines.append("  " + ", ".join(r["tag"] for r in rows))
        elif name == "identifiers":
            lines.append("  " + ", ".join(f"{r['id_type']} x{r['identifiers']}" for r in rows))
        else:
            for r in rows:
                why = {k: r.pop(k) for k in reason_columns(list(r))}
                lines.append("  " + ", ".join(f"{k}={_value(v)}" for k, v in r.items() if k != "person_id"))
                lines += [f"    {k}: {_value(v)}" for k, v in why.items()]
    return "\n".join(lines)
