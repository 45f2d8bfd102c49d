"""``generate``: writes the raw landing zone and the truth for one seed and scale."""

from __future__ import annotations

import contextlib
import datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from . import activity, clickstream, crm, orders, sink, social
from . import truth as truth_tables
from .spec import Spec


@contextlib.contextmanager
def _whole_stage_codegen_off(spark: SparkSession):
    """Run a write with whole-stage code generation off, then restore the session's setting.

    The clickstream projection (13 fields, each built from several hashes) fused into one
    whole-stage method is far beyond the JVM's 8 kB limit for JIT compilation, so it ran
    interpreted: measured at SF 0.1, 11.3 s of CPU with whole-stage codegen and 5.5 s
    without (per-expression codegen splits the same work into small compiled methods).
    """
    key = "spark.sql.codegen.wholeStage"
    before = spark.conf.get(key, "true")
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, before)  # type: ignore[arg-type]


def _check(scale: float, days: int, horizon_days: int, churn_days: int, dirty_fraction: float) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    for name, value in (("days", days), ("horizon_days", horizon_days), ("churn_days", churn_days)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0.0 <= dirty_fraction < 0.5:
        raise ValueError(f"dirty_fraction must be in [0, 0.5), got {dirty_fraction}")


def generate(
    spark: SparkSession,
    *,
    landing: str,
    truth: str,
    scale: float,
    seed: int,
    end_date: datetime.date,
    days: int = 90,
    horizon_days: int = 30,
    churn_days: int = 60,
    dirty_fraction: float = 0.001,
) -> dict[str, int]:
    """Generate the synthetic landing zone and its truth.

    Args:
        spark: the session to run on.
        landing: root of the raw landing zone; ``clickstream/``, ``orders/``, ``social/`` and
            ``crm/`` are written (overwritten) below it, partitioned in ``date=YYYY-MM-DD``.
        truth: root of the truth: ``persons/``, ``shared_identifiers/``, ``social_labels/``
            (Parquet) and ``meta.json``.
        scale: scale factor; SF1 is 100k persons (~10M events, ~300k order lines over 90 days).
        seed: same seed, same content.
        end_date: last day of the history (inclusive; a date or ``YYYY-MM-DD``); history is the
            ``days`` days ending on it.
        days: length of the history.
        horizon_days: purchase horizon of the truth's ``purchase_prob``.
        churn_days: inactivity window of the truth's ``churned``.
        dirty_fraction: share of raw records per source written invalid (duplicated lines
            come on top, at half that share).

    Returns:
        Row counts: ``clickstream``, ``orders``, ``social``, ``crm`` (lines, without CSV headers,
        dirty and duplicated lines included), ``<source>_dirty``, ``<source>_duplicates``,
        ``persons``, ``shared_identifiers``, ``social_labels``.

    Example:
        >>> generate(spark, landing="/tmp/lake/landing", truth="/tmp/lake/truth", scale=0.01,
        ...          seed=7, end_date=datetime.date(2026, 10, 31))
    """
    _check(scale, days, horizon_days, churn_days, dirty_fraction)
    if isinstance(end_date, str):
        end_date = datetime.date.fromisoformat(end_date)
    elif isinstance(end_date, datetime.datetime):
        end_date = end_date.date()
    spec = Spec(
        seed=seed,
        n_persons=Spec.n_persons_for(scale),
        days=days,
        end_date=end_date,
        horizon_days=horizon_days,
        churn_days=churn_days,
        dirty_fraction=dirty_fraction,
    )
    persons = spec.persons(spark)
    counts = _write_visit_day_outputs(spark, spec, persons, landing=landing, truth=truth)
    counts.update(_write_person_outputs(spark, spec, persons, landing=landing, truth=truth))
    sink.write_json_file(spark, f"{truth}/meta.json", _meta(spec, scale=scale, counts=counts))
    return counts


def _write_visit_day_outputs(
    spark: SparkSession, spec: Spec, persons: DataFrame, *, landing: str, truth: str
) -> dict[str, int]:
    """Write what is cut from the visit days (orders, clickstream, the truth's persons) with the
    visit days cached once for the three; returns their counts."""
    counts: dict[str, int] = {}
    # Visit days feed the clickstream, the orders and the truth's activity flag: computed once.
    visit_days = activity.visits(spark, spec).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # Orders first: their write fills the visit-day cache with whole-stage codegen on.
        order_sessions = activity.sessions(visit_days, spec, orders_only=True)
        counts.update(sink.write_csv(orders.lines(order_sessions, spec), f"{landing}/orders", "orders", orders.COLUMNS))
        with _whole_stage_codegen_off(spark):
            counts.update(
                sink.write_json_lines(
                    spark,
                    clickstream.lines(activity.sessions(visit_days, spec), spec),
                    f"{landing}/clickstream",
                    "clickstream",
                )
            )
        counts.update(
            sink.write_parquet(truth_tables.persons(persons, visit_days, spec), f"{truth}/persons", "persons")
        )
    finally:
        visit_days.unpersist()
    return counts


def _write_person_outputs(
    spark: SparkSession, spec: Spec, persons: DataFrame, *, landing: str, truth: str
) -> dict[str, int]:
    """Write what is cut from the persons alone (social, CRM, the truth's shared identifiers and
    social labels); returns their counts."""
    counts: dict[str, int] = {}
    posts = social.posts(persons, spec)
    counts.update(
        sink.write_json_lines(spark, social.landing_lines(posts).repartition("date"), f"{landing}/social", "social")
    )
    counts.update(sink.write_csv(crm.rows(persons, spec).repartition("date"), f"{landing}/crm", "crm", crm.COLUMNS))
    counts.update(
        sink.write_parquet(
            truth_tables.shared_identifiers(spark, persons).coalesce(1),
            f"{truth}/shared_identifiers",
            "shared_identifiers",
        )
    )
    counts.update(sink.write_parquet(social.labels(posts), f"{truth}/social_labels", "social_labels"))
    return counts


def _meta(spec: Spec, *, scale: float, counts: dict[str, int]) -> dict:
    """The truth's ``meta.json``: the run's parameters and its counts."""
    return {
        "scale": scale,
        "seed": spec.seed,
        "end_date": spec.end_date.isoformat(),
        "start_date": spec.start_date.isoformat(),
        "days": spec.days,
        "horizon_days": spec.horizon_days,
        "churn_days": spec.churn_days,
        "dirty_fraction": spec.dirty_fraction,
        "n_persons": spec.n_persons,
        "counts": counts,
    }
