"""Every table Portrait writes: where it is partitioned, its properties and who writes it.

Published tables (`gold.*_daily`) carry the change data feed so that downstream systems can
consume daily changes; their column contracts live in `portrait.schemas`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

_CDF = {"delta.enableChangeDataFeed": "true"}


@dataclass(frozen=True)
class TableSpec:
    name: str
    written_by: str
    comment: str
    date_column: str = "date"
    partition_by: tuple[str, ...] = ("date",)
    properties: dict[str, str] = field(default_factory=dict)


_SPECS = [
    TableSpec("bronze.clickstream", "ingest", "Clickstream events as tracked, schema enforced, by landing date"),
    TableSpec("bronze.orders", "ingest", "Order lines, PII hashed, by landing date"),
    TableSpec("bronze.social", "ingest", "Social posts, comments and reviews, by landing date"),
    TableSpec("bronze.crm", "ingest", "CRM change extracts, PII hashed, by extract date"),
    TableSpec("bronze.orders_online_retail", "ingest",
              "Online Retail export lines (GBP) in bronze.orders columns plus line_class, original_order_id, "
              "description, country, currency; by ingest date (the export's last day)"),
    TableSpec("bronze.quarantine", "ingest", "Rows that failed validation, with the raw record and a reason code"),
    TableSpec(
        "bronze.ingest_audit", "ingest",
        "Per run and source: rows read = rows kept + rows quarantined + duplicates dropped",
        date_column="date", partition_by=(),
    ),
    TableSpec(
        "bronze.ingest_files", "ingest",
        "Per run, source and landing file: lines read, kept, quarantined, duplicates; status ok/empty/truncated",
        date_column="date", partition_by=(),
    ),
    TableSpec("silver.identity_map", "identity", "Every identifier (hashed where PII) and the person it resolves to",
              date_column="as_of_date", partition_by=()),
    TableSpec("silver.identity_excluded", "identity", "Identifiers left out of linking (placeholders, shared devices)",
              date_column="as_of_date", partition_by=()),
    TableSpec("silver.identity_history", "identity",
              "Per identity run, what happened to persons since the previous run: new, grow, shrink, merge, "
              "split or gone, with the related person ids and the identifiers added and removed",
              date_column="as_of_date", partition_by=("as_of_date",)),
    TableSpec("silver.identity_map_previous", "identity",
              "The identity map of the last identity run before the current map's date: what a run, "
              "or a rerun of the same date, compares with to keep person ids and record changes",
              date_column="as_of_date", partition_by=()),
    TableSpec("silver.events", "identity", "Clickstream events with person_id"),
    TableSpec("silver.orders", "identity", "Order lines with person_id"),
    TableSpec("silver.social", "identity", "Social records with person_id"),
    TableSpec("silver.social_signals", "text",
              "Sentiment and interest topic of every social record (post_id, person_id), by the text model "
              "version in model_version", date_column="as_of_date", partition_by=()),
    TableSpec("silver.customers", "identity", "Latest CRM record per account with person_id and consent",
              date_column="as_of_date", partition_by=()),
    TableSpec("silver.daily_activity", "features",
              "One row per (person_id, day) with every daily metric of features.daily: the aggregate every "
              "portrait window is summed from; a day's rows are replaced by the run of that day, and all rows "
              "of persons whose past rows moved (identity change, late data)",
              date_column="day", partition_by=("day",)),
    TableSpec("gold.portrait", "features", "Point-in-time portrait per person and as-of date",
              date_column="as_of_date", partition_by=("as_of_date",)),
    TableSpec("gold.portrait_state", "features",
              "Window state per person active in the history window and as-of date: every Sum (exact long units, features.portrait.UNITS) and "
              "Last input of the feature registry, latest_input_day and the text model version; the next "
              "day's portrait is computed from it",
              date_column="as_of_date", partition_by=("as_of_date",)),
    TableSpec("gold.tags", "tags",
              "Tags of the catalog conf/tags.yaml per person and as-of date: one row per (person_id, as_of_date, tag)",
              date_column="as_of_date", partition_by=("as_of_date",)),
    TableSpec("gold.audiences", "audience",
              "Named audiences: one row per (name, date, person_id) matching the expression over tags and "
              "features in definition, with created_at; a rerun of a name on a date replaces it"),
    TableSpec("gold.segments_daily", "score", "Segment of every person per date", properties=_CDF),
    TableSpec("gold.segment_movement", "score",
              "Per scoring date: persons in gold.segments_daily on both that date and previous_date, how many "
              "changed segment_id, their share and the counts per 'from->to' segment name pair; no person data",
              partition_by=()),
    TableSpec("gold.propensity_daily", "score",
              "Purchase (and, for active persons, churn) propensity of every person per date", properties=_CDF),
    TableSpec("gold.next_actions_daily", "score",
              "Next best action per person per date, with reason, channel, consent and holdout", properties=_CDF),
    TableSpec("gold.erasure_log", "erase",
              "One row per erasure: keyed hash of the person ids, rows deleted per table, tables vacuumed; no PII",
              partition_by=()),
]

SPECS: dict[str, TableSpec] = {s.name: s for s in _SPECS}
PUBLISHED = ("gold.segments_daily", "gold.propensity_daily", "gold.next_actions_daily")


def spec(name: str) -> TableSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(SPECS))}") from None
