"""The one way Portrait reads and writes tables: Delta Lake under one lakehouse root.

Tables are typed handles from `portrait.catalog` (`catalog.SILVER_EVENTS`) and live at
`<lakehouse>/<layer>/<name>`. Every write is one Delta commit, so a reader sees the table before or
after a job, never half of it; a failed job leaves the table as it was. Every write returns the
`Commit` it made, with Delta's own row metrics, so a stage never reads back what it wrote to count it.

- `replace_range` overwrites the rows of a date range (`replaceWhere`, given as a `Column`):
  rerunning a date replaces its rows instead of duplicating them; rows outside the range are
  untouched, and a row outside it in the new data fails the write.
- `overwrite` replaces a current-state table (e.g. the identity map) in one commit.
- `append_once` appends under a (app_id, version) transaction id: a retried append is a no-op.
- `merge` upserts (and deletes flagged rows) by key columns: a change to part of a table's rows
  that no date range describes (all days of some persons).
- `add_columns` adds the columns a published schema grew by (null in old rows), explicitly.
- `delete_where` deletes matching rows in one commit; `purge_removed_files` then vacuums with
  retention 0 so that removed rows are gone from storage too (erasure only: see `portrait.erase`).

A stage gets a lakehouse `scoped` to its declaration (`INPUTS`, `OUTPUTS`; `pipeline` does it):
it reads its inputs and outputs and writes its outputs only. Anything else, read, write, MERGE or
time-travel read (each goes through `path`), raises `UndeclaredTable` naming the stage and the
table, before any data is touched. The scope records what the stage touched (`Scope.touched`).

A table is created on its first write with its partitioning, properties, comment, the meanings of
its declared columns as column comments, and its CHECK constraints; a table created before its
constraints were declared gets them (`ALTER TABLE ... ADD CONSTRAINT`) on its next write.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait import costs
from portrait.catalog import Table

log = logging.getLogger(__name__)

# Delta's row metrics, by what they count, over the operations that report them. A MERGE reports
# its inserted and updated rows and also `numOutputRows`, which counts those plus the rows it copied.
_MERGED = ("numTargetRowsInserted", "numTargetRowsUpdated")
_WRITTEN = ("numOutputRows", "numUpdatedRows")  # a WRITE's rows; an UPDATE's changed rows
_COPIED = ("numCopiedRows", "numTargetRowsCopied")
_DELETED = ("numDeletedRows", "numTargetRowsDeleted")


@dataclass(frozen=True)
class Commit:
    """One Delta commit a write made: its version, operation and row metrics (`DESCRIBE HISTORY`)."""

    table: str
    version: int
    operation: str
    metrics: Mapping[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        """Rows the commit wrote (inserted, updated or copied into new files)."""
        return self.rows_new + sum(self.metrics.get(k, 0) for k in _COPIED)

    @property
    def rows_new(self) -> int:
        """Rows the commit wrote that the input DataFrame held (not rows it copied along)."""
        counted = _MERGED if any(k in self.metrics for k in _MERGED) else _WRITTEN
        return sum(self.metrics.get(k, 0) for k in counted)

    @property
    def rows_deleted(self) -> int:
        return sum(self.metrics.get(k, 0) for k in _DELETED)


class UndeclaredTable(PermissionError):
    """A stage read or wrote a table its declaration (`INPUTS`, `OUTPUTS`) does not name."""


@dataclass(frozen=True)
class Scope:
    """What one stage may touch: it reads its inputs and its outputs, and writes its outputs only.
    `touched` records each table it touched (`read`, `write`)."""

    stage: str
    inputs: frozenset[str]
    outputs: frozenset[str]
    touched: dict[str, set[str]] = field(default_factory=dict, compare=False, hash=False)

    def allow(self, table: Table, *, write: bool) -> None:
        """Record the access, or raise `UndeclaredTable` when the declaration does not allow it."""
        name = table.full_name
        self.touched.setdefault(name, set()).add("write" if write else "read")
        if name in self.outputs or (not write and name in self.inputs):
            return
        verb, declared = ("writes", "OUTPUTS") if write else ("reads", "INPUTS")
        raise UndeclaredTable(
            f"stage {self.stage} {verb} {name}, which its {declared} do not declare: add the table to the "
            f"stage's {declared} (its run module) if the stage needs it, or leave it to the `{table.written_by}` job"
        )


@dataclass(frozen=True)
class Lakehouse:
    """A lakehouse root and the session that reads and writes it; `scope`: what a stage may touch
    (None: anything, for tools and tests outside a stage)."""

    spark: SparkSession
    root: str
    scope: Scope | None = None

    def scoped(self, stage: str, inputs: Iterable[Table], outputs: Iterable[Table]) -> Lakehouse:
        """This lakehouse as the stage `stage` may use it: reads of `inputs` and `outputs`, writes of `outputs`."""
        scope = Scope(stage, frozenset(t.full_name for t in inputs), frozenset(t.full_name for t in outputs))
        return replace(self, scope=scope)

    def path(self, table: Table) -> str:
        """Where `table` lives; every read, write, MERGE and time-travel read of a table asks here first."""
        if self.scope is not None:
            self.scope.allow(table, write=False)
        return f"{self.root.rstrip('/')}/{table.layer}/{table.name}"

    def _writing(self, table: Table) -> None:
        if self.scope is not None:
            self.scope.allow(table, write=True)

    def exists(self, table: Table) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def read(self, table: Table) -> DataFrame:
        """Read a table; a missing one is an error that names it and the job that writes it."""
        if not self.exists(table):
            raise FileNotFoundError(
                f"table {table} does not exist at {self.path(table)}: run the `{table.written_by}` job first"
            )
        return self.spark.read.format("delta").load(self.path(table))

    def read_at(self, table: Table, version: int) -> DataFrame:
        """`table` as of a Delta version (time travel).

        Besides reading what an earlier run left, a pinned read keeps a cached frame built on it
        alive across writes to the table: a Delta write re-caches every cached plan that reads
        the table's latest version (`recacheByPlan`), so the frame would be cleared and rebuilt
        at its next use (ingest measured 47 Spark jobs for that, against 6 without).
        """
        return self.spark.read.format("delta").option("versionAsOf", version).load(self.path(table))

    def read_stream(self, table: Table, **options: str) -> DataFrame:
        """`table` as a streaming source of its new commits (Delta source `options`, e.g.
        `skipChangeCommits`). Scoped like every read; a missing table is an error."""
        if not self.exists(table):
            raise FileNotFoundError(
                f"table {table} does not exist at {self.path(table)}: run the `{table.written_by}` job first"
            )
        return self.spark.readStream.format("delta").options(**options).load(self.path(table))

    def version(self, table: Table) -> int:
        """The table's latest version (a listing of its log; no Spark job)."""
        return int(self._snapshot(table, refresh=True).version())

    def last_commit(self, table: Table) -> Commit:
        """The latest commit of `table`, with its row metrics."""
        return self._commit_at(table, self.version(table))

    def _snapshot(self, table: Table, *, refresh: bool):
        """The JVM's Delta snapshot of `table`: refreshed from storage (`refresh`, a listing of the
        log as any read does), or as this process last saw it."""
        if refresh:
            self.spark.read.format("delta").load(self.path(table))  # resolves the latest snapshot, no job
        delta_log = self.spark._jvm.org.apache.spark.sql.delta.DeltaLog  # noqa: SLF001
        return delta_log.forTable(self.spark._jsparkSession, self.path(table)).unsafeVolatileSnapshot()  # noqa: SLF001

    def _commit_at(self, table: Table, version: int) -> Commit:
        """Operation and row metrics of one commit, read from its log entry on the driver.

        `DESCRIBE HISTORY` says the same through a Spark job; one small JSON file is all it needs.
        """
        jvm = self.spark._jvm  # noqa: SLF001
        entry = jvm.org.apache.hadoop.fs.Path(f"{self.path(table)}/_delta_log/{version:020d}.json")
        fs = entry.getFileSystem(self.spark._jsc.hadoopConfiguration())  # noqa: SLF001
        stream = fs.open(entry)
        try:
            text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
        info: dict = {}
        for line in text.splitlines():
            action = json.loads(line) if line.startswith('{"commitInfo"') else None
            if action:
                info = action["commitInfo"]
                break
        metrics = {k: int(v) for k, v in (info.get("operationMetrics") or {}).items() if str(v).isdigit()}
        return Commit(table.full_name, version, info.get("operation", ""), metrics)

    def _committed(self, table: Table) -> Commit:
        """The commit a write of ours just made (the latest, as `DESCRIBE HISTORY` would say), counted
        in the open cost meters (`portrait.costs`)."""
        costs.committed(table.full_name)
        return self.last_commit(table)

    def execute(self, table: Table, merge) -> Commit:
        """Run a MERGE built on `table` (a `DeltaMergeBuilder` from `DeltaTable.forPath(lake.spark,
        lake.path(table))`); its commit, or an empty one when Delta committed nothing."""
        self._writing(table)
        before = self.version(table)
        merge.execute()
        after = self.version(table)
        if after == before:
            return Commit(table.full_name, before, "MERGE (no-op)", {})
        costs.committed(table.full_name)
        return self._commit_at(table, after)

    def replace_where(self, df: DataFrame, table: Table, condition: Column) -> Commit:
        """Replace the rows of `table` matching `condition` with `df` (whose rows must all match it)."""
        self._writing(table)
        self._ensure(df, table)
        df.select(*self._columns(table, df)).writeTo(self._identifier(table)).overwrite(condition)
        return self._committed(table)

    def replace_range(
        self,
        df: DataFrame,
        table: Table,
        *,
        start: dt.date,
        end: dt.date | None = None,
        where: Column | None = None,
    ) -> Commit:
        """Replace the rows of `table` whose date column lies in [start, end] with `df`.

        `where` narrows the replaced rows further (e.g. one source of a shared table).
        """
        if table.date_column is None:
            raise ValueError(f"{table} has no date column to replace a range of")
        day = F.col(table.date_column)
        predicate = (day >= F.lit(start)) & (day <= F.lit(end or start))
        return self.replace_where(df, table, predicate if where is None else predicate & where)

    def overwrite(self, df: DataFrame, table: Table, *, replace_schema: bool = False) -> Commit:
        """Replace the whole content of a current-state table in one commit.

        `replace_schema` replaces the columns and their types too (a derived table whose layout
        changed, e.g. `gold.portrait_state`); published tables never use it.
        """
        self._writing(table)
        self._ensure(df, table)
        if not replace_schema:
            df.select(*self._columns(table, df)).write.format("delta").mode("overwrite").save(self.path(table))
            return self._committed(table)
        if table.published:
            raise ValueError(f"{table} is published: its schema only grows through a migration")
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if table.partition_by:
            writer = writer.partitionBy(*table.partition_by)
        writer.save(self.path(table))
        return self._committed(table)

    def append_once(
        self, df: DataFrame, table: Table, *, app_id: str, version: int, merge_schema: bool = False
    ) -> Commit:
        """Append `df` unless a commit with this (app_id, version) already exists.

        `merge_schema` lets a log table grow: columns of `df` that the table lacks are added
        (existing rows read them as null); a column of the table missing from `df` still fails.
        """
        self._writing(table)
        self._ensure(df, table)
        (
            df.select(*self._columns(table, df, allow_new=merge_schema))
            .write.format("delta")
            .mode("append")
            .option("txnAppId", app_id)
            .option("txnVersion", version)
            .option("mergeSchema", str(merge_schema).lower())
            .save(self.path(table))
        )
        return self._committed(table)

    def merge(self, df: DataFrame, table: Table, *, on: Sequence[str], delete: str | None = None) -> Commit:
        """MERGE `df` into an existing `table` on the key columns `on`, in one commit.

        A row of `df` replaces the table's row with the same key, or is inserted. With `delete` (the
        name of a boolean column of `df`, not written), a row whose flag is true deletes the table's
        row with its key instead, and is never inserted. `df` holds at most one row per key.
        """
        self._writing(table)
        rows = df.drop(delete) if delete else df
        self._ensure(rows, table)
        columns = self._columns(table, rows)
        values = {c: F.col(f"s.`{c}`") for c in columns}
        matches = reduce(Column.__and__, [F.col(f"t.`{k}`") == F.col(f"s.`{k}`") for k in on])
        merge = DeltaTable.forPath(self.spark, self.path(table)).alias("t").merge(df.alias("s"), matches)
        if delete:
            flag = F.col(f"s.`{delete}`")
            merge = merge.whenMatchedDelete(flag).whenMatchedUpdate(set=values).whenNotMatchedInsert(~flag, values)  # type: ignore[arg-type]
        else:
            merge = merge.whenMatchedUpdate(set=values).whenNotMatchedInsert(values=values)  # type: ignore[arg-type]
        merge.execute()
        return self._committed(table)

    def add_columns(self, table: Table, columns: Mapping[str, str] | None = None) -> list[str]:
        """Add `columns` (name -> Spark SQL type; default: the table's `migrations`) that an existing
        table lacks, in one ALTER TABLE; its old rows read them as null. The explicit migration of a
        schema that grew. Returns the names added (none when the table is missing or has them)."""
        self._writing(table)
        columns = table.migrations if columns is None else columns
        if not columns or not self.exists(table):  # nothing to add: no snapshot read
            return []
        have = set(self.read(table).columns)
        missing = {c: t for c, t in columns.items() if c not in have}
        if missing:
            log.warning("adding columns %s to %s", sorted(missing), table)
            ddl = ", ".join(f"`{c}` {t}" for c, t in missing.items())
            self.spark.sql(f"ALTER TABLE {self._identifier(table)} ADD COLUMNS ({ddl})")
        return sorted(missing)

    def delete_where(self, table: Table, condition: Column) -> int:
        """Delete the rows of `table` matching `condition` in one commit; return how many were deleted.

        The count is read from the DELETE commit's metrics; a condition that matches nothing
        returns 0 (Delta may skip the commit).
        """
        self._writing(table)
        delta = DeltaTable.forPath(self.spark, self.path(table))
        before = self.version(table)
        delta.delete(condition)
        return self._rows_committed_since(delta, before, operation="DELETE", metric="numDeletedRows")

    def remove_from_array(self, table: Table, column: str, values: list[str]) -> int:
        """Remove `values` from the array `column` of every row of `table` holding one of them, in one
        commit; return how many rows changed (read from the UPDATE commit's metrics)."""
        self._writing(table)
        delta = DeltaTable.forPath(self.spark, self.path(table))
        gone = F.array(*[F.lit(v) for v in values])
        before = self.version(table)
        delta.update(F.arrays_overlap(F.col(column), gone), {column: F.array_except(F.col(column), gone)})
        return self._rows_committed_since(delta, before, operation="UPDATE", metric="numUpdatedRows")

    @staticmethod
    def _rows_committed_since(delta: DeltaTable, before: int, *, operation: str, metric: str) -> int:
        """Sum of a row-count `metric` over the `operation` commits after version `before` (0 if
        Delta skipped the commit because nothing matched)."""
        ours = delta.history().where((F.col("version") > before) & (F.col("operation") == operation))
        return sum(int(r["n"] or 0) for r in ours.select(F.col("operationMetrics")[metric].alias("n")).collect())

    def purge_removed_files(self, table: Table) -> None:
        """Physically remove every file the current version of `table` no longer references.

        Deletion vectors are purged first (rewriting the files they mark), then a full VACUUM runs
        with retention 0, which Delta refuses unless `retentionDurationCheck` is off: it is turned
        off for this call only. The listing runs with `shuffle.partitions` tasks instead of the
        default 10,000 (half a minute per tiny table locally). Last, the log before a fresh
        checkpoint is deleted (`_forget_log_before_checkpoint`): old commits hold statistics and
        predicates naming the removed rows. This ends time travel to older versions and can break
        readers or writers running at the same moment; only erasure calls it.
        """
        self._writing(table)
        path = self.path(table)
        props = DeltaTable.forPath(self.spark, path).detail().select("properties").first()[0] or {}
        if props.get("delta.enableDeletionVectors", "false").lower() == "true":
            self.spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
        with _session_conf(
            self.spark,
            {
                "spark.databricks.delta.retentionDurationCheck.enabled": "false",
                "spark.sql.sources.parallelPartitionDiscovery.parallelism":  # type: ignore[dict-item]
                self.spark.conf.get("spark.sql.shuffle.partitions"),
            },
        ):
            DeltaTable.forPath(self.spark, path).vacuum(0.0)
        self._forget_log_before_checkpoint(table)

    def _forget_log_before_checkpoint(self, table: Table) -> None:
        """Checkpoint the current version, then delete the log entries of every earlier version.

        The transaction log names the removed rows too: each commit's `add` actions carry min/max
        statistics of the files they added, and a DELETE commit records its predicate with the
        values it matched. A checkpoint holds only the live files (whose statistics no longer see
        the deleted rows) and path-only tombstones, so once it exists, the earlier commits,
        checksums and checkpoints are what Delta's own log cleanup would delete — except that
        Delta waits `logRetentionDuration` (30 days, rounded to whole days). Erasure cannot wait.
        """
        path = self.path(table)
        version = self.version(table)
        jvm = self.spark._jvm
        jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, path).checkpoint()
        log_dir = jvm.org.apache.hadoop.fs.Path(f"{path}/_delta_log")
        fs = log_dir.getFileSystem(self.spark._jsc.hadoopConfiguration())
        checkpoint = f"{version:020d}.checkpoint"
        if not any(s.getPath().getName().startswith(checkpoint) for s in fs.listStatus(log_dir)):
            raise RuntimeError(f"{table}: no checkpoint of version {version} was written; log history not purged")
        for status in fs.listStatus(log_dir):
            entry = status.getPath().getName()
            if status.isFile() and entry[:20].isdigit() and int(entry[:20]) < version:
                fs.delete(status.getPath(), False)

    def _identifier(self, table: Table) -> str:
        """The path-based identifier SQL and DataFrameWriterV2 use for `table`."""
        return f"delta.`{self.path(table)}`"

    def _columns(self, table: Table, df: DataFrame, *, allow_new: bool = False) -> list[str]:
        # Write in the table's column order so that the contract, not the transform, fixes it.
        if not self.exists(table):
            return df.columns
        existing = self.spark.read.format("delta").load(self.path(table)).columns
        extra = [c for c in df.columns if c not in existing]
        missing = [c for c in existing if c not in df.columns]
        if allow_new and not missing:
            return existing + extra
        if extra or missing:
            raise ValueError(
                f"schema of {table} would change (new columns {extra}, missing {missing}); "
                "published schemas only grow through a migration, never a silent rewrite"
            )
        return existing

    def _ensure(self, df: DataFrame, table: Table) -> None:
        """Create the table with its partitioning, properties, comments and constraints if it does not
        exist; give an existing table the constraints it lacks."""
        if self.exists(table):
            if table.constraints or table.properties:
                self._ensure_constraints(table)  # and the properties: one metadata read for both
            return
        builder = DeltaTable.createIfNotExists(self.spark).location(self.path(table)).comment(table.comment)
        if table.columns:
            declared = {c.name for c in table.columns}
            undeclared = [f.name for f in df.schema.fields if f.name not in declared]
            if undeclared:
                raise ValueError(f"{table}: columns {undeclared} are not in its declared contract (portrait.catalog)")
            for col in table.columns:
                builder = builder.addColumn(col.name, col.type, nullable=col.nullable, comment=col.meaning)
        else:
            builder = builder.addColumns(df.schema)
        if table.partition_by:
            builder = builder.partitionedBy(*table.partition_by)
        for key, value in table.properties.items():
            builder = builder.property(key, value)
        builder.execute()
        self._ensure_constraints(table)

    def _ensure_constraints(self, table: Table) -> None:
        """Add the CHECK constraints and set the properties of `table` that its Delta table lacks (a lake
        written before they were declared), read from the snapshot's metadata (no Spark job; `DESCRIBE
        DETAIL` computes the table's size and file count for it, four jobs after each write)."""
        configuration = self._snapshot(table, refresh=True).metadata().configuration()

        def setting(key: str) -> str | None:
            value = configuration.get(key)
            return value.get() if value.isDefined() else None

        missing = {k: v for k, v in table.properties.items() if setting(k) != v}
        if missing:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            self.spark.sql(f"ALTER TABLE {self._identifier(table)} SET TBLPROPERTIES ({settings})")
        for name, check in table.constraints.items():
            if setting(f"delta.constraints.{name.lower()}") is None:
                self.spark.sql(f"ALTER TABLE {self._identifier(table)} ADD CONSTRAINT {name} CHECK ({check})")


@contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session SQL options for the duration of a block, then restore (or unset) them."""
    previous = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in previous.items():  # type: ignore[assignment]
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
