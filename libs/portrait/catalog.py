"""The table catalog: every table Portrait reads or writes, declared once as a typed `Table` handle.

Code passes these handles (`catalog.SILVER_EVENTS`), never `"layer.table"` strings. A handle says
where the table lives (`<lakehouse>/<layer>/<name>`), how it is partitioned, which job writes it,
its comment, and for a published table its column contract (name, Spark SQL type, meaning): the
meanings become Delta column comments when the table is created, and published tables get CHECK
constraints (`person_id` and `date` not null, probabilities within [0, 1]). Published tables
(`gold.*_daily`) carry the change data feed so that downstream systems can consume daily changes.

A published schema only grows: `Table.conform` selects and casts a DataFrame to the contract, so a
transform cannot change a published table by accident, and the columns a contract gained after
lakes were written with it are listed in `migrations` (added by `Lakehouse.add_columns`, an
explicit `ALTER TABLE`, before the first write that carries them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LAYERS = ("bronze", "silver", "gold")
_CDF = MappingProxyType({"delta.enableChangeDataFeed": "true"})
# Tables the daily chain changes in place (MERGE, DELETE): with deletion vectors a commit writes the
# rows it changes and marks the old ones deleted, instead of copying every other row of each file it
# touches. Measured by bench.daily at 360 days of history: the daily identity's MERGE into the map
# copied 11,036 unchanged rows to change 11, features copied 32,912 daily_activity rows to change 578.
_DV = MappingProxyType({"delta.enableDeletionVectors": "true"})


@dataclass(frozen=True)
class Col:
    """One column of a table's contract."""

    name: str
    type: str
    meaning: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A Delta table of the lakehouse: a typed handle declared once, here.

    Attributes:
        layer: bronze, silver or gold.
        name: the table's name inside its layer.
        written_by: the job that writes it (named in the error when it is missing).
        comment: what one row is; becomes the Delta table comment.
        date_column: the column a date range selects on (`Lakehouse.replace_range`), or None.
        partition_by: partition columns.
        columns: the column contract (published tables); empty = the schema of the first write.
        constraints: CHECK constraints, name -> SQL boolean expression.
        published: read by downstream systems (contract only grows, change data feed on).
        migrations: columns added after the first release, name -> SQL type (`Lakehouse.add_columns`).
    """

    layer: str
    name: str
    written_by: str
    comment: str
    date_column: str | None = "date"
    partition_by: tuple[str, ...] = ("date",)
    columns: tuple[Col, ...] = ()
    constraints: Mapping[str, str] = field(default_factory=dict)
    published: bool = False
    migrations: Mapping[str, str] = field(default_factory=dict)
    changed_in_place: bool = False  # rows merged or deleted daily: deletion vectors (_DV)

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"table {self.name}: layer must be one of {LAYERS}, got {self.layer!r}")

    @property
    def full_name(self) -> str:
        """`layer.name`, as people and logs say it."""
        return f"{self.layer}.{self.name}"

    @property
    def properties(self) -> Mapping[str, str]:
        """Delta table properties: the change data feed for published tables, deletion vectors for
        tables changed in place."""
        return MappingProxyType({**(_CDF if self.published else {}), **(_DV if self.changed_in_place else {})})

    def conform(self, df: DataFrame) -> DataFrame:
        """Select and cast `df` to this table's column contract (a missing column fails)."""
        if not self.columns:
            raise ValueError(f"{self.full_name} declares no column contract to conform to")
        return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in self.columns])

    @property
    def ddl(self) -> str:
        """The column contract as a DDL schema string (`name type, ...`): an empty frame of the table."""
        return ", ".join(f"{c.name} {c.type}" for c in self.columns)

    def __str__(self) -> str:
        return self.full_name

    def __hash__(self) -> int:  # handles key dicts and sets; the mappings inside are not hashable
        return hash((self.layer, self.name))


def _published(
    name: str,
    comment: str,
    columns: tuple[Col, ...],
    *,
    probabilities: tuple[str, ...] = (),
    migrations: Mapping[str, str] | None = None,
) -> Table:
    """A published daily table: partitioned by date, CDF on, person_id and date never null."""
    checks = {"person_id_not_null": "person_id IS NOT NULL", "date_not_null": "date IS NOT NULL"}
    checks.update({f"{c}_is_probability": f"{c} IS NULL OR ({c} >= 0 AND {c} <= 1)" for c in probabilities})
    return Table(
        "gold", name, "score", comment, columns=columns, constraints=checks, published=True, migrations=migrations or {}
    )


# --- bronze ---------------------------------------------------------------------------------------
BRONZE_CLICKSTREAM = Table(
    "bronze", "clickstream", "ingest", "Clickstream events as tracked, schema enforced, by landing date"
)
BRONZE_ORDERS = Table("bronze", "orders", "ingest", "Order lines, PII hashed, by landing date")
BRONZE_SOCIAL = Table("bronze", "social", "ingest", "Social posts, comments and reviews, by landing date")
BRONZE_CRM = Table("bronze", "crm", "ingest", "CRM change extracts, PII hashed, by extract date")
BRONZE_ORDERS_ONLINE_RETAIL = Table(
    "bronze",
    "orders_online_retail",
    "ingest",
    "Online Retail export lines (GBP) in bronze.orders columns plus line_class, original_order_id, "
    "description, country, currency, line_total; by ingest date (the export's last day)",
    migrations={"line_total": "DECIMAL(14,3)"},
)
BRONZE_QUARANTINE = Table(
    "bronze",
    "quarantine",
    "ingest",
    "Rows that failed validation, with the raw record and a reason code",
    migrations={"line_number": "BIGINT"},
)
BRONZE_INGEST_AUDIT = Table(
    "bronze",
    "ingest_audit",
    "ingest",
    "Per run and source: rows read = rows kept + rows quarantined + duplicates dropped",
    partition_by=(),
)
BRONZE_INGEST_FILES = Table(
    "bronze",
    "ingest_files",
    "ingest",
    "Per run, source and landing file: lines read, kept, quarantined, duplicates; status ok/empty/truncated/"
    "rejected (a file not read, with its reason: landing.REJECTIONS)",
    partition_by=(),
)
# The generated landing zone's sources, by the name ingest and the conf use.
BRONZE_SOURCES: Mapping[str, Table] = MappingProxyType(
    {
        "clickstream": BRONZE_CLICKSTREAM,
        "orders": BRONZE_ORDERS,
        "social": BRONZE_SOCIAL,
        "crm": BRONZE_CRM,
    }
)
# Every source table gained the map of unknown fields after its first release.
SOURCE_MIGRATIONS: Mapping[str, str] = MappingProxyType({"extra": "MAP<STRING, STRING>"})

# --- silver ---------------------------------------------------------------------------------------
SILVER_IDENTITY_MAP = Table(
    "silver",
    "identity_map",
    "identity",
    "Every identifier (hashed where PII) and the person it resolves to",
    date_column="as_of_date",
    partition_by=(),
    changed_in_place=True,
)
SILVER_IDENTITY_EXCLUDED = Table(
    "silver",
    "identity_excluded",
    "identity",
    "Identifiers left out of linking (placeholders, shared devices)",
    date_column="as_of_date",
    partition_by=(),
)
SILVER_IDENTITY_HISTORY = Table(
    "silver",
    "identity_history",
    "identity",
    "Per identity run, what happened to persons since the previous run: new, grow, shrink, merge, "
    "split or gone, with the related person ids and the identifiers added and removed",
    date_column="as_of_date",
    partition_by=("as_of_date",),
)
SILVER_IDENTITY_LINKS = Table(
    "silver",
    "identity_links",
    "identity",
    "Every identifier link ever stated by a record (type_a, value_a, type_b, value_b, hashed where "
    "PII), with first_seen, the date of the first record stating it: the graph the daily identity "
    "run adds a day's links to",
    date_column="first_seen",
    partition_by=(),
)
SILVER_IDENTITY_RUNS = Table(
    "silver",
    "identity_runs",
    "identity",
    "One row per identity run date: daily or rebuild, and the Delta versions of the identity map and "
    "the excluded identifiers the run started from (a rerun of the date starts from them again)",
    date_column="as_of_date",
    partition_by=(),
)
SILVER_EVENTS = Table("silver", "events", "identity", "Clickstream events with person_id", changed_in_place=True)
SILVER_ORDERS = Table("silver", "orders", "identity", "Order lines with person_id", changed_in_place=True)
SILVER_SOCIAL = Table("silver", "social", "identity", "Social records with person_id", changed_in_place=True)
SILVER_SOCIAL_SIGNALS = Table(
    "silver",
    "social_signals",
    "text",
    "Sentiment and interest topic of every social record (post_id, person_id), by the text model "
    "version in model_version",
    date_column="as_of_date",
    partition_by=(),
    changed_in_place=True,
)
SILVER_CUSTOMERS = Table(
    "silver",
    "customers",
    "identity",
    "Latest CRM record per account with person_id and consent",
    date_column="as_of_date",
    partition_by=(),
    changed_in_place=True,
)
SILVER_DAILY_ACTIVITY = Table(
    "silver",
    "daily_activity",
    "features",
    "One row per (person_id, day) with every daily metric of features.daily: the aggregate every "
    "portrait window is summed from; a day's rows are replaced by the run of that day, and all rows "
    "of persons whose past rows moved (identity change, late data)",
    date_column="day",
    partition_by=("day",),
    changed_in_place=True,
)

# --- gold -----------------------------------------------------------------------------------------
GOLD_PORTRAIT = Table(
    "gold",
    "portrait",
    "features",
    "Point-in-time portrait per person and as-of date",
    date_column="as_of_date",
    partition_by=("as_of_date",),
)
GOLD_PORTRAIT_STATE = Table(
    "gold",
    "portrait_state",
    "features",
    "Window state per person active in the history window and as-of date: every Sum (exact long units, "
    "features.portrait.UNITS) and Last input of the feature registry, latest_input_day and the text model "
    "version; the next day's portrait is computed from it",
    date_column="as_of_date",
    partition_by=("as_of_date",),
)
GOLD_TAGS = Table(
    "gold",
    "tags",
    "tags",
    "Tags of the catalog conf/tags.yaml per person and as-of date: one row per (person_id, as_of_date, tag)",
    date_column="as_of_date",
    partition_by=("as_of_date",),
)
GOLD_AUDIENCES = Table(
    "gold",
    "audiences",
    "audience",
    "Named audiences: one row per (name, date, person_id) matching the expression over tags and "
    "features in definition, with created_at; a rerun of a name on a date replaces it",
)
GOLD_SEGMENT_MOVEMENT = Table(
    "gold",
    "segment_movement",
    "score",
    "Per scoring date: persons in gold.segments_daily on both that date and previous_date, how many "
    "changed segment_id, their share and the counts per 'from->to' segment name pair; no person data",
    partition_by=(),
)
GOLD_ERASURE_LOG = Table(
    "gold",
    "erasure_log",
    "erase",
    "One row per erasure: keyed hash of the person ids, rows deleted per table, tables vacuumed; no PII",
    partition_by=(),
)

# --- published ------------------------------------------------------------------------------------
GOLD_SEGMENTS_DAILY = _published(
    "segments_daily",
    "Segment of every person per date",
    (
        Col("date", "date", "scoring date (portrait as of the end of this day)", nullable=False),
        Col("person_id", "string", "pseudonymous person id from identity resolution", nullable=False),
        Col("segment_id", "int", "cluster number of the segment model"),
        Col("segment_name", "string", "segment name from its profile (champions, loyal, at_risk, ...)"),
        Col("segment_model_version", "string", "registered version of the segment model"),
    ),
)
GOLD_PROPENSITY_DAILY = _published(
    "propensity_daily",
    "Purchase (and, for active persons, churn) propensity of every person per date",
    (
        Col("date", "date", "scoring date", nullable=False),
        Col("person_id", "string", "pseudonymous person id", nullable=False),
        Col("purchase_propensity", "double", "probability of a completed purchase in the next horizon_days"),
        Col(
            "propensity_decile",
            "int",
            "1 = the top 10 % of purchase_propensity on this date, 10 = the lowest; "
            "equal-sized (10 % of the persons each), tied propensities split by person_id",
        ),
        Col("horizon_days", "int", "label horizon of the model"),
        Col("propensity_model_version", "string", "registered version of the propensity model"),
        Col(
            "churn_propensity",
            "double",
            "probability of no visit and no order in the next churn_days; null for "
            "persons with neither in the churn lookback (train.churn_lookback_days: "
            "no churn to predict) or without a churn champion",
        ),
        Col("churn_days", "int", "churn window of the churn model"),
        Col("churn_model_version", "string", "registered version of the churn model; null without a champion"),
        Col(
            "purchase_reasons",
            "array<string>",
            "top 3 inputs moving the purchase model's uncalibrated score most against typical "
            "values of the input (5 population quantiles), as phrases with the change in points",
        ),
        Col(
            "churn_reasons",
            "array<string>",
            "top 3 inputs moving the churn model's uncalibrated score most; null when churn_propensity is null",
        ),
        Col(
            "p_alive",
            "double",
            "BG/NBD probability that the person is still an active buyer (models.btyd); null without a completed order",
        ),
        Col(
            "expected_purchases",
            "double",
            "BG/NBD expected purchase days in the next horizon_days; null without a completed order",
        ),
        Col(
            "expected_spend",
            "double",
            "customer value over the next horizon_days: expected purchases times the "
            "Gamma-Gamma expected spend per purchase day; null without a completed order",
        ),
    ),
    probabilities=("purchase_propensity", "churn_propensity", "p_alive"),
    migrations={
        "churn_propensity": "DOUBLE",
        "churn_days": "INT",
        "churn_model_version": "STRING",
        "purchase_reasons": "ARRAY<STRING>",
        "churn_reasons": "ARRAY<STRING>",
        "p_alive": "DOUBLE",
        "expected_purchases": "DOUBLE",
        "expected_spend": "DOUBLE",
    },
)
GOLD_NEXT_ACTIONS_DAILY = _published(
    "next_actions_daily",
    "Next best action per person per date, with reason, channel, consent and holdout",
    (
        Col("date", "date", "scoring date", nullable=False),
        Col("person_id", "string", "pseudonymous person id", nullable=False),
        Col("action", "string", "action to send; 'none' for holdout, no consent or no rule"),
        Col("intended_action", "string", "action the policy chose before consent and holdout"),
        Col("channel", "string", "consented channel to send on (sms, email, push, wechat); null when none"),
        Col("reason", "string", "why: the rule's reason, 'no_consent', 'holdout' or the default"),
        Col("holdout", "boolean", "true if the person is in the control group (never sent an action)"),
        Col("purchase_propensity", "double", "propensity used by the policy"),
        Col("segment_name", "string", "segment used by the policy"),
        Col("policy_version", "string", "version of conf/actions.yaml that made the row"),
        Col("propensity_model_version", "string", "registered version of the propensity model"),
        Col("segment_model_version", "string", "registered version of the segment model"),
        Col("offer", "string", "the offer of the chosen action (also for holdout persons); null otherwise"),
        Col("experiment_id", "string", "holdout experiment of the chosen action; null when none was chosen"),
        Col("expected_value", "double", "P(outcome) x value - cost of the best candidate action; null if none"),
        Col("purchase_reasons", "array<string>", "top 3 reasons behind purchase_propensity (see propensity_daily)"),
        Col("churn_reasons", "array<string>", "top 3 reasons behind churn_propensity; null when it is null"),
        Col(
            "recommendations",
            "array<string>",
            "top product ids recommended to the person (ALS ranking, else popularity), none bought in the "
            "last train.recommender.exclude_days days; null without a recommender",
        ),
    ),
    probabilities=("purchase_propensity",),
    migrations={
        "offer": "STRING",
        "experiment_id": "STRING",
        "expected_value": "DOUBLE",
        "purchase_reasons": "ARRAY<STRING>",
        "churn_reasons": "ARRAY<STRING>",
        "recommendations": "ARRAY<STRING>",
    },
)

GOLD_RECOMMENDATIONS = Table(
    "gold",
    "recommendations",
    "train",
    "The products each person prefers most by the champion recommender (ALS on implicit feedback), "
    "replaced whole when a new version becomes champion; score leaves out what the person just bought",
    columns=(
        Col("date", "date", "training date of the model version that ranked these", nullable=False),
        Col("person_id", "string", "pseudonymous person id", nullable=False),
        Col("products", "array<string>", "train.recommender.keep product ids, most preferred first"),
        Col("scores", "array<double>", "the model's preference for each of products (implicit ALS)"),
        Col("model_version", "string", "registered version of the recommender"),
    ),
    partition_by=(),
    constraints={"person_id_not_null": "person_id IS NOT NULL"},
)

# --- the action loop --------------------------------------------------------------------------------
GOLD_ACTIONS_SENT = Table(
    "gold",
    "actions_sent",
    "score",
    "Contact history: one row per person and date an action was chosen, contacted or held out (the "
    "caps count both); a rerun of score replaces its date",
    columns=(
        Col("date", "date", "scoring date the action was chosen on", nullable=False),
        Col("person_id", "string", "pseudonymous person id", nullable=False),
        Col("action", "string", "the chosen action"),
        Col("channel", "string", "channel it was sent on; null for holdout"),
        Col("offer", "string", "the offer"),
        Col("experiment_id", "string", "holdout experiment of the action"),
        Col("holdout", "boolean", "true: in the control group, recorded and never contacted"),
        Col("contacted", "boolean", "true: sent to the person"),
        Col("expected_value", "double", "P(outcome) x value - cost when chosen"),
        Col("policy_version", "string", "version of conf/actions.yaml"),
    ),
    constraints={"person_id_not_null": "person_id IS NOT NULL", "date_not_null": "date IS NOT NULL"},
)
GOLD_ACTION_OUTCOMES = Table(
    "gold",
    "action_outcomes",
    "evaluate",
    "Per action and action date whose outcome window has passed: conversion and revenue of the treated "
    "and the holdout persons in the window after the date, and the uplift with a 95 % confidence interval",
    columns=(
        Col("date", "date", "date the action was chosen", nullable=False),
        Col("action", "string", "the action", nullable=False),
        Col("experiment_id", "string", "holdout experiment"),
        Col("outcome_window_days", "int", "days after date in which an order counts"),
        Col("treated", "long", "persons contacted"),
        Col("control", "long", "persons held out"),
        Col("treated_conversion", "double", "share of treated persons with a completed order in the window"),
        Col("control_conversion", "double", "share of holdout persons with a completed order in the window"),
        Col("treated_revenue", "double", "mean revenue per treated person in the window"),
        Col("control_revenue", "double", "mean revenue per holdout person in the window"),
        Col("uplift", "double", "treated_conversion - control_conversion"),
        Col("uplift_ci_low", "double", "lower bound of the 95 % CI of uplift (normal approximation)"),
        Col("uplift_ci_high", "double", "upper bound of the 95 % CI of uplift"),
        Col("revenue_uplift", "double", "treated_revenue - control_revenue"),
        Col("evaluated_on", "date", "run date of evaluate"),
    ),
)

# --- analysts' marts (issue 30): written per date by `marts`, no person data ---------------------
GOLD_FUNNEL_DAILY = Table(
    "gold",
    "funnel_daily",
    "marts",
    "Per date, channel, device and category (and '(all)' categories): the sessions that viewed a "
    "product, added to cart and ordered, the events, the completed orders placed in them and their "
    "revenue, and the step rates; a session's channel and device are its first event's",
    columns=(
        Col("date", "date", "the day", nullable=False),
        Col("channel", "string", "channel of the session's first event ('(unknown)' if none)", nullable=False),
        Col("device_type", "string", "device of the session's first event ('(unknown)' if none)", nullable=False),
        Col("category", "string", "product category; '(none)': events without one; '(all)': every category"),
        Col("sessions", "long", "sessions with an event of the category or an ordered line of it"),
        Col("persons", "long", "distinct persons of those sessions"),
        Col("viewing_sessions", "long", "sessions with a product view"),
        Col("carting_sessions", "long", "sessions with a cart add"),
        Col("ordering_sessions", "long", "sessions whose checkout placed a completed order (of the category)"),
        Col("product_views", "long", "product view events"),
        Col("cart_adds", "long", "cart add events"),
        Col("orders", "long", "completed orders placed in the sessions"),
        Col("revenue", "double", "net amount of their completed lines (of the category)"),
        Col("view_rate", "double", "viewing_sessions / sessions"),
        Col("view_to_cart_rate", "double", "carting_sessions / viewing_sessions"),
        Col("cart_to_order_rate", "double", "ordering_sessions / carting_sessions"),
        Col("session_to_order_rate", "double", "ordering_sessions / sessions"),
    ),
)
GOLD_PATHS_TO_PURCHASE = Table(
    "gold",
    "paths_to_purchase",
    "marts",
    "Per date, the most frequent paths (event types in time order, repeats in a row collapsed) of the "
    "sessions that ordered, before their checkout, and of those that did not",
    columns=(
        Col("date", "date", "the day", nullable=False),
        Col("outcome", "string", "'ordered' (the session has a checkout) or 'not_ordered'", nullable=False),
        Col("rank", "int", "1 = the outcome's most frequent path; ties in order of the path", nullable=False),
        Col("path", "string", "steps joined by ' > ', cut with '…'; '(direct)': straight to checkout"),
        Col("sessions", "long", "sessions with this path and outcome"),
        Col("persons", "long", "distinct persons of those sessions"),
        Col("share", "double", "sessions / all sessions of the outcome that day"),
    ),
)
GOLD_RFM_GRID = Table(
    "gold",
    "rfm_grid",
    "marts",
    "Per date, persons with a completed order in the last 365 days and their revenue per recency x "
    "frequency x monetary quintile of that day's portrait, with the day before's persons in each cell",
    columns=(
        Col("date", "date", "the portrait's as-of date", nullable=False),
        Col("r_score", "int", "5 = the most recent fifth (days_since_last_order)", nullable=False),
        Col("f_score", "int", "5 = the most frequent fifth (orders_365d)", nullable=False),
        Col("m_score", "int", "5 = the highest-spending fifth (revenue_365d)", nullable=False),
        Col("persons", "long", "persons in the cell"),
        Col("revenue", "double", "their revenue_365d"),
        Col("persons_previous", "long", "persons in the cell the day before (by that day's fifths)"),
        Col("persons_change", "long", "persons - persons_previous"),
    ),
)
GOLD_TAG_COVERAGE = Table(
    "gold",
    "tag_coverage",
    "marts",
    "Per date, persons per tag and segment ('(all)' segments; '(none)': no segment that day), with "
    "the day before's and the change",
    columns=(
        Col("date", "date", "the tags' as-of date", nullable=False),
        Col("tag", "string", "tag of conf/tags.yaml", nullable=False),
        Col("segment_name", "string", "segment that day", nullable=False),
        Col("persons", "long", "persons with the tag in the segment"),
        Col("persons_previous", "long", "the same the day before"),
        Col("persons_change", "long", "persons - persons_previous"),
    ),
)
GOLD_RETENTION_COHORTS = Table(
    "gold",
    "retention_cohorts",
    "marts",
    "Per date, weekly cohorts of the persons who first visited (first ordered) in a week, none in the "
    "lookback weeks before, and per week since the share of them active and buying",
    columns=(
        Col("date", "date", "the day", nullable=False),
        Col("cohort", "string", "'first_visit' or 'first_order': the act that starts the cohort", nullable=False),
        Col("cohort_week", "date", "Monday of the cohort's week", nullable=False),
        Col("week_offset", "int", "weeks since the cohort's week (0: the week itself)", nullable=False),
        Col("persons", "long", "persons in the cohort"),
        Col("active_persons", "long", "of them, persons with a session in the week"),
        Col("buying_persons", "long", "of them, persons with a completed order in the week"),
        Col("active_share", "double", "active_persons / persons"),
        Col("buying_share", "double", "buying_persons / persons"),
    ),
)
MARTS: tuple[Table, ...] = (
    GOLD_FUNNEL_DAILY,
    GOLD_PATHS_TO_PURCHASE,
    GOLD_RFM_GRID,
    GOLD_TAG_COVERAGE,
    GOLD_RETENTION_COHORTS,
)

PUBLISHED: tuple[Table, ...] = (GOLD_SEGMENTS_DAILY, GOLD_PROPENSITY_DAILY, GOLD_NEXT_ACTIONS_DAILY)

# --- the live job (portrait live, issue 29) ---------------------------------------------------------
BRONZE_LIVE_QUARANTINE = Table(
    "bronze",
    "live_quarantine",
    "live",
    "Clickstream lines the live job quarantined (bronze.quarantine's columns, source clickstream): the "
    "batch ingest of the same files quarantines them again in bronze.quarantine, independently",
)
SILVER_LIVE_EVENTS = Table(
    "silver",
    "live_events",
    "live",
    "Clickstream events kept by the live job, each event_id once per landing date, with the person_id "
    "resolved on arrival (provisional when the identity map did not know the identifier): the stream "
    "the live portrait and the triggers read; by landing date",
)
GOLD_PORTRAIT_LIVE = Table(
    "gold",
    "portrait_live",
    "live",
    "The live portrait: one row per (date, person_id) seen on a landing date, recomputed from "
    "silver.live_events at each micro-batch that brought the person's events",
    columns=(
        Col("date", "date", "landing date of the events summed", nullable=False),
        Col("person_id", "string", "person id from silver.identity_map, else provisional", nullable=False),
        Col("provisional", "boolean", "true: the identity map did not know the identifier (p_ id derived from it)"),
        Col("id_type", "string", "provisional rows: the type of the identifier the id was derived from (erase)"),
        Col("id_value", "string", "provisional rows: that identifier (account or cookie id); null when resolved"),
        Col("events", "long", "events kept on the date"),
        Col("product_views", "long", "product_view events"),
        Col("cart_adds", "long", "add_to_cart events"),
        Col("open_cart_value", "double", "price of the cart adds since the last checkout, less removals; >= 0"),
        Col("last_category", "string", "category of the latest event that has one"),
        Col("last_seen", "timestamp", "event time of the latest event"),
        Col("updated_at", "timestamp", "when the live job last wrote the row (UTC)"),
    ),
    constraints={"person_id_not_null": "person_id IS NOT NULL", "date_not_null": "date IS NOT NULL"},
    changed_in_place=True,
    migrations={"id_type": "STRING", "id_value": "STRING"},
)
GOLD_LIVE_ACTIONS = Table(
    "gold",
    "live_actions",
    "live",
    "One row per fired trigger decision of the live job: the actions the events fired and what the "
    "policy's arbitration made of them (sent, held out, or none with the reason); its rows with "
    "an action or a holdout are live contacts, which the caps count with gold.actions_sent",
    columns=(
        Col("date", "date", "landing date of the events that fired the trigger", nullable=False),
        Col("person_id", "string", "person id (provisional ids get no consent, hence no action)", nullable=False),
        Col("id_type", "string", "provisional ids: the type of the identifier the id was derived from (erase)"),
        Col("id_value", "string", "provisional ids: that identifier (account or cookie id); null when resolved"),
        Col("fired_actions", "array<string>", "the triggered actions the events fired"),
        Col("fired_at", "timestamp", "event time the first of them fired"),
        Col("intended_action", "string", "the best candidate before caps and holdout, else 'none'"),
        Col("action", "string", "action sent; 'none' when held out, capped, not consented or not eligible"),
        Col("channel", "string", "consented channel it is sent on; null when none"),
        Col("offer", "string", "the offer of the chosen action"),
        Col("experiment_id", "string", "holdout experiment of the chosen action"),
        Col("expected_value", "double", "P(outcome) x value - cost of the best candidate"),
        Col("reason", "string", "why: the action's reason, the cap, the consent or the holdout"),
        Col("holdout", "boolean", "true: in the control group, recorded and never contacted"),
        Col("contacted", "boolean", "true: sent to the person"),
        Col("policy_version", "string", "version of conf/actions.yaml"),
        Col("query_id", "string", "the streaming query that decided it (its checkpoint's id)"),
        Col("batch_id", "long", "its micro-batch; (query_id, batch_id) is written once"),
        Col("decided_at", "timestamp", "when the micro-batch decided it (UTC)"),
    ),
    constraints={"person_id_not_null": "person_id IS NOT NULL", "date_not_null": "date IS NOT NULL"},
    migrations={"id_type": "STRING", "id_value": "STRING"},
)
LIVE_TABLES: tuple[Table, ...] = (BRONZE_LIVE_QUARANTINE, SILVER_LIVE_EVENTS, GOLD_PORTRAIT_LIVE, GOLD_LIVE_ACTIONS)

# --- publication and lake guards (issue 15) -------------------------------------------------------
# Written last by score, in one commit, after the three published tables: the date of a row is
# complete, and these versions of the three tables hold it (readers time-travel to them).
GOLD_PUBLISHED_DATES = Table(
    "gold",
    "published_dates",
    "score",
    "Publication marker: one row per published date naming the Delta versions of segments_daily, "
    "propensity_daily and next_actions_daily that hold it whole; readers take the latest date here "
    "and read exactly those versions (portrait.publication)",
    partition_by=(),
    columns=(
        Col("date", "date", "the scoring date that is published whole", nullable=False),
        Col(
            "segments_daily_version", "bigint", "Delta version of gold.segments_daily holding the date", nullable=False
        ),
        Col(
            "propensity_daily_version",
            "bigint",
            "Delta version of gold.propensity_daily holding the date",
            nullable=False,
        ),
        Col(
            "next_actions_daily_version",
            "bigint",
            "Delta version of gold.next_actions_daily holding the date",
            nullable=False,
        ),
        Col("published_at", "timestamp", "when the marker row was written (UTC)", nullable=False),
    ),
    constraints={"date_not_null": "date IS NOT NULL"},
)
# The fingerprint of the PII key the lake was built with: HMAC(key, fixed string), never the key.
BRONZE_PII_KEY_FINGERPRINT = Table(
    "bronze",
    "pii_key_fingerprint",
    "ingest",
    "Fingerprint of the PII hashing key the lake's hashes were made with (HMAC-SHA256 of a fixed "
    "string under the key, never the key): a job run with another key refuses (portrait.keyguard)",
    date_column=None,
    partition_by=(),
)

ALL: tuple[Table, ...] = tuple(t for t in globals().values() if isinstance(t, Table))


def by_name(full_name: str) -> Table:
    """The table called `layer.name` (for the CLI and people; code uses the handles)."""
    for table in ALL:
        if table.full_name == full_name:
            return table
    raise KeyError(f"unknown table {full_name!r}; known: {', '.join(sorted(t.full_name for t in ALL))}")


# Columns the mapped orders tables gained after their first release (added before a write).
MAPPED_ORDERS_MIGRATIONS: Mapping[str, str] = MappingProxyType({"line_total": "DECIMAL(14,3)"})


def mapped_orders(target: str, mapping: str, *, table: str | None = None) -> Table:
    """The bronze table of an orders export mapped in `ingest.mappings`: one table per mapping,
    `table` or `<target>_<mapping>` (so the generated pipeline, which reads `bronze.orders`, never
    reads it, and re-ingesting one export replaces only its own rows). `orders_online_retail` is
    the declared one."""
    name = table or f"{target}_{mapping}"
    for known in ALL:
        if known.layer == "bronze" and known.name == name:
            return known
    return Table(
        "bronze",
        name,
        "ingest",
        f"Orders export '{mapping}' in bronze.{target} columns, by ingest date",
        migrations=MAPPED_ORDERS_MIGRATIONS,
    )
