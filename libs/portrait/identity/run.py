"""The identity stage: day D's identifiers merged into the identity graph, and silver rows with `person_id`.

Daily (the default): the links first seen on D are added to `silver.identity_links`, hubs are
judged again over all links, and only the persons that a new link or a change of hub status
touches are re-resolved (`incremental`); the identity map changes in their rows only (one MERGE),
day D's source rows are written with their `person_id`, and older silver rows change only where
their person changed (a MERGE restricted to the persons that moved). `rebuild=True` resolves the
whole graph from bronze and rewrites every silver row: what the daily path equals, run after a
change of the hub rule or the placeholders.

Person ids stay stable across runs (`history.carry_over_ids`): every run compares with the map
of the run before it (`silver.identity_runs` records that map's Delta version before the run's
first write, so a rerun of D, after a finished or a killed run, compares with the same map and
writes the same rows).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait import catalog, privacy
from portrait.config_models import Config, IdentityConfig
from portrait.identity import cleaning, graph, history, incremental
from portrait.identity.resolution import EVENT_KEYS, ORDER_KEYS, SOCIAL_KEYS, latest_customers, resolve, with_person_id
from portrait.io import Commit, Lakehouse
from portrait.keys import BEGINNING
from portrait.spark import truncate

log = logging.getLogger(__name__)

INPUTS = (catalog.BRONZE_CLICKSTREAM, catalog.BRONZE_ORDERS, catalog.BRONZE_SOCIAL, catalog.BRONZE_CRM)
OUTPUTS = (
    catalog.SILVER_IDENTITY_MAP,
    catalog.SILVER_IDENTITY_EXCLUDED,
    catalog.SILVER_IDENTITY_HISTORY,
    catalog.SILVER_IDENTITY_LINKS,
    catalog.SILVER_IDENTITY_RUNS,
    catalog.SILVER_EVENTS,
    catalog.SILVER_ORDERS,
    catalog.SILVER_SOCIAL,
    catalog.SILVER_CUSTOMERS,
)
MAP_COLUMNS = "id_type string, id_value string, person_id string"
FLAGS = ("quantity_anomaly", "amount_anomaly", "anomaly_reason")
# Silver tables with the identifier columns that give their rows a person, and the row key.
SILVER = (
    (catalog.SILVER_EVENTS, catalog.BRONZE_CLICKSTREAM, EVENT_KEYS, ("date", "event_id")),
    (catalog.SILVER_ORDERS, catalog.BRONZE_ORDERS, ORDER_KEYS, ("date", "order_id", "line_no")),
    (catalog.SILVER_SOCIAL, catalog.BRONZE_SOCIAL, SOCIAL_KEYS, ("date", "post_id")),
)


@dataclass(frozen=True)
class RunConf:
    """What identity takes from the configuration (`RunConf.of(cfg)`)."""

    identity: IdentityConfig  # the `identity` section (hub threshold, placeholders, iteration cap)
    pii_key: bytes = field(repr=False)  # placeholders are hashed with it, as ingest hashes real values

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.identity, cfg.pii_key())


def run(lake: Lakehouse, conf: RunConf, date: dt.date, *, rebuild: bool = False) -> dict:
    """Resolve identities as of `date`: day D merged into the graph (default), or everything (`rebuild`).

    The session's reliable checkpoint directory (the connected components and the frames read
    several times are checkpointed) is set by `pipeline.run_stage`, as for every stage.

    Args:
        lake: the lakehouse.
        conf: the `identity` section and the PII key.
        date: the run date D; bronze up to D is resolved.
        rebuild: resolve the whole graph and rewrite every silver row instead of day D only.

    Returns:
        mode, and per table written the rows the commit wrote (`<table>_rows`) and the rows it
        changed or added (`<table>_rows_new`), from the Delta commit metrics.
    """
    settings, pii_key = conf.identity, conf.pii_key
    before = _previous_versions(lake, date)
    daily_ready = before["map"] >= 0 and lake.exists(catalog.SILVER_IDENTITY_LINKS)
    # A rerun of a date that started as a rebuild is one again (its links may be written by now).
    mode = "daily" if daily_ready and not rebuild and before["mode"] != "rebuild" else "rebuild"
    # The versions this run starts from are recorded before its first write: a run killed after it
    # changed the map starts again from the same versions, and writes the same rows (history included).
    runs = lake.spark.createDataFrame(
        [(date, mode, before["map"], before["excluded"])],
        "as_of_date date, mode string, map_version long, excluded_version long",
    )
    lake.replace_range(runs, catalog.SILVER_IDENTITY_RUNS, start=date)
    if mode == "rebuild":
        commits = _rebuild(lake, settings, date, pii_key=pii_key, before=before)
    else:
        commits = _daily(lake, settings, date, pii_key=pii_key, before=before)
    summary: dict = {"mode": mode}
    for key, commit in commits.items():
        summary[f"{key}_rows"] = commit.rows_written
        summary[f"{key}_rows_new"] = commit.rows_new
    log.info("identity %s as of %s: %s", mode, date, summary)
    return summary


def _previous_versions(lake: Lakehouse, date: dt.date) -> dict:
    """Delta versions of the map and the excluded identifiers as the run before `date` left them (-1: none).

    A rerun of a date reads the versions (and the `mode`) its first run recorded before its first
    write, finished or killed; a date before the last run is refused.
    """
    runs = catalog.SILVER_IDENTITY_RUNS
    if lake.exists(runs):
        # Run metadata, one row a date.
        rows = (
            lake.read(runs)
            .where(F.col("as_of_date") >= F.lit(date))
            .orderBy(F.col("as_of_date").desc())
            .limit(1)
            .collect()
        )  # the latest run on or after D: a later one refuses D, D's own is a rerun
        if rows and rows[0]["as_of_date"] > date:
            raise ValueError(
                f"identity already ran for {rows[0]['as_of_date']}, after {date}: run the later dates again, "
                "or rebuild from the date you need"
            )
        if rows:
            same = rows[0]
            return {"map": int(same["map_version"]), "excluded": int(same["excluded_version"]), "mode": same["mode"]}

    def current(table: catalog.Table) -> int:
        return lake.version(table) if lake.exists(table) else -1

    return {
        "map": current(catalog.SILVER_IDENTITY_MAP),
        "excluded": current(catalog.SILVER_IDENTITY_EXCLUDED),
        "mode": None,
    }


def _placeholders(lake: Lakehouse, conf: IdentityConfig, key: bytes) -> DataFrame:
    """The configured placeholder values, hashed like real identifiers (`id_type`, `id_value`)."""
    spark = lake.spark
    rows = [(kind, value) for kind, values in conf.placeholders.items() for value in values]
    clear = spark.createDataFrame(rows, "id_type string, clear string")
    hashed = [
        clear.where(F.col("id_type") == kind).select(
            "id_type", privacy.pseudonymise(F.col("clear"), kind, key).alias("id_value")
        )
        for kind in conf.placeholders
    ]
    if not hashed:
        return spark.createDataFrame([], "id_type string, id_value string")
    return reduce(DataFrame.unionByName, hashed)


def _sources(lake: Lakehouse, where: Column) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    return tuple(lake.read(t).where(where) for t in INPUTS)  # type: ignore[return-value]


def _rebuild(
    lake: Lakehouse, conf: IdentityConfig, date: dt.date, *, pii_key: bytes, before: dict[str, int]
) -> dict[str, Commit]:
    """Resolve the whole graph from bronze up to `date` and rewrite the identity tables and every silver row."""
    spark = lake.spark
    clicks, orders, social, crm = _sources(lake, F.col("date") <= F.lit(date))
    dated = graph.dated_links(clicks, orders, social, crm).checkpoint(eager=True)
    pairs = dated.drop("first_seen")
    excluded = graph.hubs(
        pairs, max_links=conf.max_persons_per_identifier, placeholders=_placeholders(lake, conf, pii_key)
    ).checkpoint(eager=True)
    ids = graph.identifiers(clicks, orders, social, crm)
    previous = lake.read_at(catalog.SILVER_IDENTITY_MAP, before["map"]) if before["map"] >= 0 else None
    identity_map = resolve(
        ids,
        pairs,
        excluded,
        max_iterations=conf.max_iterations,
        driver_max_edges=conf.driver_components_max_edges,
        previous=previous,
    )
    identity_map = identity_map.withColumn("as_of_date", F.lit(date)).checkpoint(eager=True)

    commits = {"identity_map": lake.overwrite(identity_map, catalog.SILVER_IDENTITY_MAP)}
    old = previous if previous is not None else spark.createDataFrame([], MAP_COLUMNS)
    commits["identity_history"] = lake.replace_range(
        history.changes(old, identity_map, as_of=date), catalog.SILVER_IDENTITY_HISTORY, start=date
    )
    commits["identity_excluded"] = lake.overwrite(
        excluded.withColumn("as_of_date", F.lit(date)), catalog.SILVER_IDENTITY_EXCLUDED
    )
    commits["identity_links"] = lake.overwrite(dated, catalog.SILVER_IDENTITY_LINKS)
    frames = {catalog.SILVER_EVENTS: clicks, catalog.SILVER_ORDERS: orders, catalog.SILVER_SOCIAL: social}
    for table, _, keys, _ in SILVER:
        rows = with_person_id(frames[table], identity_map, list(keys))
        if table == catalog.SILVER_ORDERS:
            rows = rows.transform(cleaning.with_anomaly_flags)
        commits[table.name] = lake.replace_range(rows, table, start=BEGINNING, end=date)
    commits["customers"] = lake.overwrite(latest_customers(crm, identity_map, as_of=date), catalog.SILVER_CUSTOMERS)
    return commits


def _daily(
    lake: Lakehouse, conf: IdentityConfig, date: dt.date, *, pii_key: bytes, before: dict[str, int]
) -> dict[str, Commit]:
    """Merge day D into the graph: re-resolve the touched persons, write D's rows, move the rows of persons that changed.

    The frames read several times are checkpointed (`truncate`), not persisted: a query that reads a
    persisted frame n times starts n Spark jobs to materialise it (one per cache stage under AQE), and
    Spark pushes joins into the sources of a persisted union, where a checkpoint stops them.
    """
    # Day D of each bronze table is read once (each is used a dozen times below): one scan of each,
    # one snapshot of each for the whole run, written to the checkpoint directory.
    clicks, orders, social, crm = (truncate(frame) for frame in _sources(lake, F.col("date") == F.lit(date)))
    day_links = _day_links(lake, date, clicks, orders, social, crm)
    known = lake.read(catalog.SILVER_IDENTITY_LINKS).where(F.col("first_seen") < F.lit(date))
    added = incremental.new_links(day_links, known).withColumn("first_seen", F.lit(date)).checkpoint(eager=True)
    commits = {"identity_links": lake.replace_range(added, catalog.SILVER_IDENTITY_LINKS, start=date)}
    # Judged for hubs, walked twice, cut to the subgraph: checkpointed (a persisted frame is one more
    # Spark job each time a query reads it, a dozen in the hub rule).
    links = truncate(known.unionByName(added).drop("first_seen"))

    excluded = graph.hubs(
        links, max_links=conf.max_persons_per_identifier, placeholders=_placeholders(lake, conf, pii_key)
    ).checkpoint(eager=True)
    excluded_before = lake.read_at(catalog.SILVER_IDENTITY_EXCLUDED, before["excluded"])
    changed = incremental.status_changed(excluded_before, excluded).checkpoint(eager=True)
    touched = truncate(incremental.touched_identifiers(added, changed, links))
    previous = lake.read_at(catalog.SILVER_IDENTITY_MAP, before["map"]).select("id_type", "id_value", "person_id")
    persons = incremental.touched_persons(previous, touched).checkpoint(eager=True)
    day_ids = truncate(graph.identifiers(clicks, orders, social, crm))
    ids = incremental.subgraph(previous, persons, touched, day_ids).checkpoint(eager=True)
    old = truncate(previous.join(persons, on="person_id", how="left_semi"))  # the touched persons' rows
    reserved = previous.select("person_id").distinct().join(persons, on="person_id", how="left_anti")
    resolved = resolve(
        ids,
        incremental.links_within(links, ids),
        excluded,
        max_iterations=conf.max_iterations,
        driver_max_edges=conf.driver_components_max_edges,
        previous=old,
        reserved=reserved,
    ).checkpoint(eager=True)
    delta = incremental.map_delta(old, resolved).checkpoint(eager=True)

    commits["identity_map"] = _merge_map(lake, delta, date)
    commits["identity_history"] = lake.replace_range(
        history.changes(old, resolved, as_of=date), catalog.SILVER_IDENTITY_HISTORY, start=date
    )
    commits["identity_excluded"] = lake.overwrite(
        excluded.withColumn("as_of_date", F.lit(date)), catalog.SILVER_IDENTITY_EXCLUDED
    )
    moved = truncate(incremental.moved_persons(delta, old))
    unexcluded = changed.join(excluded.select("id_type", "id_value"), on=["id_type", "id_value"], how="left_anti")
    retry_unresolved = not unexcluded.isEmpty()  # an identifier freed from hub status may resolve old rows
    # Most days move no earlier person: then no older silver row changes, and no table is scanned for one.
    moves = retry_unresolved or not moved.isEmpty()
    # The map's rows of D's identifiers and of those that changed: all D's rows and the customers
    # that moved look up (the whole map would be joined four times, a shuffle each at scale).
    wanted = day_ids.unionByName(delta.select("id_type", "id_value"))
    identity_map = truncate(
        lake.read(catalog.SILVER_IDENTITY_MAP)
        .select("id_type", "id_value", "person_id")
        .join(wanted, on=["id_type", "id_value"], how="left_semi")
    )
    frames = {catalog.SILVER_EVENTS: clicks, catalog.SILVER_ORDERS: orders, catalog.SILVER_SOCIAL: social}
    for table, _, keys, row_key in SILVER:
        commits[f"{table.name}_moved"] = (
            _move_rows(lake, table, resolved, moved, list(keys), row_key, date=date, retry_unresolved=retry_unresolved)
            if moves
            else _nothing_committed(lake, table, "MERGE (no person moved)")
        )
        rows = with_person_id(frames[table], identity_map, list(keys))
        if table == catalog.SILVER_ORDERS:
            commits["orders_reflagged"], rows = _flag_orders(lake, rows, delta, moved, date)
        commits[table.name] = lake.replace_range(rows, table, start=date)
    commits["customers"] = _merge_customers(lake, crm, identity_map, delta, date)
    return commits


def _day_links(
    lake: Lakehouse, date: dt.date, clicks: DataFrame, orders: DataFrame, social: DataFrame, crm: DataFrame
) -> DataFrame:
    """The links D's records state (`dated_links`), computed once (a checkpoint): Spark would otherwise
    push the anti-join with the known links into each of their dozen sources, a broadcast and a Delta
    scan of the links each."""
    all_clicks, all_orders = (lake.read(t).where(F.col("date") <= F.lit(date)) for t in INPUTS[:2])
    # A checkout and the guest order it names may land on different days: join D's with the history.
    ordered = graph.checkout_orders(clicks, all_orders).unionByName(graph.checkout_orders(all_clicks, orders))
    return truncate(graph.dated_links(clicks, orders, social, crm, ordered=ordered))


def _merge_changes(
    lake: Lakehouse,
    table: catalog.Table,
    source: DataFrame,
    on: tuple[str, ...],
    clauses: Callable[[DeltaMergeBuilder], DeltaMergeBuilder],
    *,
    computed: bool = False,
) -> Commit:
    """MERGE a change set (alias `s`) into `table` (alias `t`) matched on the columns `on`.

    The change set is computed once (a checkpoint: the MERGE reads it twice, to find the files it
    touches and to rewrite them; `computed` when `source` is one already) and a day without changes
    commits nothing and starts no MERGE (its snapshot scans and joins were a dozen Spark jobs on empty
    input). Returns the commit, or an empty one when nothing changed.
    """
    changes = source if computed else truncate(source)
    if changes.isEmpty():
        return _nothing_committed(lake, table, "MERGE (no changes)")
    condition = reduce(lambda a, b: a & b, [F.col(f"t.{k}") == F.col(f"s.{k}") for k in on])
    merge = DeltaTable.forPath(lake.spark, lake.path(table)).alias("t").merge(changes.alias("s"), condition)
    return lake.execute(table, clauses(merge))


def _nothing_committed(lake: Lakehouse, table: catalog.Table, why: str) -> Commit:
    """The empty commit of a change that was skipped: the table's version stays, no rows."""
    return Commit(table.full_name, lake.version(table), why, {})


def _merge_map(lake: Lakehouse, delta: DataFrame, date: dt.date) -> Commit:
    """Apply the map's changed rows (`delta`, a checkpoint): upserts with `as_of_date` D, deletes of
    identifiers that left it."""
    source = delta.withColumn("as_of_date", F.lit(date))  # a projection of the checkpoint: no second one
    return _merge_changes(
        lake,
        catalog.SILVER_IDENTITY_MAP,
        source,
        ("id_type", "id_value"),
        lambda merge: (
            merge.whenMatchedDelete(condition=F.col("s._delete"))
            .whenMatchedUpdate(
                condition=~F.col("t.person_id").eqNullSafe(F.col("s.person_id")),
                set={"person_id": "s.person_id", "as_of_date": "s.as_of_date"},
            )
            .whenNotMatchedInsert(
                condition=~F.col("s._delete"),
                values={c: f"s.{c}" for c in ("id_type", "id_value", "person_id", "as_of_date")},
            )
        ),
        computed=True,
    )


def _move_rows(
    lake: Lakehouse,
    table: catalog.Table,
    resolved: DataFrame,
    moved: DataFrame,
    keys: list[tuple[str, str]],
    row_key: tuple[str, ...],
    *,
    date: dt.date,
    retry_unresolved: bool,
) -> Commit:
    """Give the older rows of the persons that moved their new `person_id` (one MERGE, changed rows only)."""
    older = lake.read(table).where(F.col("date") < F.lit(date))
    theirs = older.join(moved, on="person_id", how="left_semi")
    if retry_unresolved:
        theirs = theirs.unionByName(older.where(F.col("person_id").isNull()))
    again = with_person_id(theirs.withColumnRenamed("person_id", "_old"), resolved, keys)
    source = again.where(~F.col("person_id").eqNullSafe(F.col("_old"))).select(*row_key, "person_id")
    source = source.dropDuplicates(list(row_key))
    return _merge_changes(
        lake, table, source, row_key, lambda merge: merge.whenMatchedUpdate(set={"person_id": "s.person_id"})
    )


def _flag_orders(
    lake: Lakehouse, day_rows: DataFrame, delta: DataFrame, moved: DataFrame, date: dt.date
) -> tuple[Commit, DataFrame]:
    """Anomaly flags: day D's lines, and the older lines of persons whose baseline moved (new lines on
    D, or a merge or split) where their flags changed. Returns the re-flag commit and D's flagged lines.

    The usual ranges (every line ever, two percentile passes per product and per person) are computed
    once and kept, small (a row per product and per person); D's lines with their person are looked up
    in the map once. Only the lines the MERGE can change are judged: D's, and the older lines of the
    persons whose baseline moved.
    """
    day_rows = truncate(day_rows)
    older = lake.read(catalog.SILVER_ORDERS).where(F.col("date") < F.lit(date))
    ranges = {
        key: truncate(stats) for key, stats in cleaning.usual_ranges(older.drop(*FLAGS).unionByName(day_rows)).items()
    }
    persons = truncate(
        day_rows.select("person_id").unionByName(delta.select("person_id")).unionByName(moved).distinct()
    )
    theirs = older.join(persons, on="person_id", how="left_semi")
    key = ("date", "order_id", "line_no")
    current = theirs.select(*key, *[F.col(f).alias(f"_old_{f}") for f in FLAGS])
    needed = truncate(cleaning.flag(theirs.drop(*FLAGS).unionByName(day_rows), ranges))
    day = F.col("date") == F.lit(date)
    source = (
        needed.where(~day)
        .join(current, on=list(key), how="inner")
        .where(reduce(lambda a, b: a | b, [~F.col(f).eqNullSafe(F.col(f"_old_{f}")) for f in FLAGS]))
        .select(*key, *FLAGS)
        .dropDuplicates(list(key))
    )
    commit = _merge_changes(
        lake,
        catalog.SILVER_ORDERS,
        source,
        key,
        lambda merge: merge.whenMatchedUpdate(set={f: f"s.{f}" for f in FLAGS}),
    )
    return commit, needed.where(day)


def _merge_customers(
    lake: Lakehouse, day_crm: DataFrame, identity_map: DataFrame, delta: DataFrame, date: dt.date
) -> Commit:
    """Upsert the accounts of D's CRM extract, and move the accounts whose person changed."""
    fresh = latest_customers(day_crm, identity_map, as_of=date)
    table = catalog.SILVER_CUSTOMERS
    if not lake.exists(table):
        return lake.overwrite(fresh, table)
    accounts = delta.where(F.col("id_type") == "account").select(F.col("id_value").alias("account_id"))
    moved = (
        lake.read(table)
        .join(accounts, on="account_id", how="left_semi")
        .join(fresh.select("account_id"), on="account_id", how="left_anti")
        .drop("person_id")
        .transform(lambda df: with_person_id(df, identity_map, [("account", "account_id")]))
        .withColumn("as_of_date", F.lit(date))
    )
    source = fresh.unionByName(moved.select(*fresh.columns))
    return _merge_changes(
        lake,
        table,
        source,
        ("account_id",),
        lambda merge: merge.whenMatchedUpdate(set={c: f"s.{c}" for c in fresh.columns}).whenNotMatchedInsert(
            values={c: f"s.{c}" for c in fresh.columns}
        ),
    )
