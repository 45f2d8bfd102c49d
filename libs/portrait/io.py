"""The one way Portrait reads and writes tables: Delta Lake under one lakehouse root.

Tables are named `layer.table` (`bronze.orders`, `gold.propensity_daily`) and live at
`<lakehouse>/<layer>/<table>`. Every write is one Delta commit, so a reader sees the table
before or after a job, never half of it; a failed job leaves the table as it was.

- `replace_range` overwrites the rows of a date range (`replaceWhere`): rerunning a date
  replaces its rows instead of duplicating them; rows outside the range are untouched, and a
  row outside it in the new data fails the write.
- `overwrite` replaces a current-state table (e.g. the identity map) in one commit.
- `append_once` appends under a (app_id, version) transaction id: a retried append is a no-op.
- `add_columns` adds the columns a published schema grew by (null in old rows), explicitly.
- `delete_where` deletes matching rows in one commit; `purge_removed_files` then vacuums with
  retention 0 so that removed rows are gone from storage too (erasure only: see `portrait.erase`).
"""
from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from portrait import tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lakehouse:
    """A lakehouse root and the session that reads and writes it."""

    spark: SparkSession
    root: str

    def path(self, name: str) -> str:
        layer, _, table = name.partition(".")
        if not table or layer not in ("bronze", "silver", "gold"):
            raise ValueError(f"table name must be bronze|silver|gold.<table>, got {name!r}")
        return f"{self.root.rstrip('/')}/{layer}/{table}"

    def exists(self, name: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def read(self, name: str) -> DataFrame:
        """Read a table; a missing one is an error that names it and the job that writes it."""
        if not self.exists(name):
            spec = tables.spec(name)
            raise FileNotFoundError(
                f"table {name} does not exist at {self.path(name)}: run the `{spec.written_by}` job first"
            )
        return self.spark.read.format("delta").load(self.path(name))

    def version(self, name: str) -> int:
        return DeltaTable.forPath(self.spark, self.path(name)).history(1).select("version").first()[0]

    def replace_range(
        self, df: DataFrame, name: str, *, start: dt.date, end: dt.date | None = None,
        where: str | None = None,
    ) -> None:
        """Replace the rows of `name` whose date column lies in [start, end] with `df`.

        `where` narrows the replaced rows further (e.g. one source of a shared table).
        """
        spec = tables.spec(name)
        end = end or start
        self._ensure(df, name)
        predicate = f"{spec.date_column} >= '{start.isoformat()}' AND {spec.date_column} <= '{end.isoformat()}'"
        if where:
            predicate = f"({predicate}) AND ({where})"
        (
            df.select(*self._columns(name, df))
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .save(self.path(name))
        )

    def overwrite(self, df: DataFrame, name: str, *, replace_schema: bool = False) -> None:
        """Replace the whole content of a current-state table in one commit.

        `replace_schema` replaces the columns and their types too (a derived table whose layout
        changed, e.g. `gold.portrait_state`); published tables never use it.
        """
        self._ensure(df, name)
        if not replace_schema:
            df.select(*self._columns(name, df)).write.format("delta").mode("overwrite").save(self.path(name))
            return
        spec = tables.spec(name)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        writer.save(self.path(name))

    def append_once(self, df: DataFrame, name: str, *, app_id: str, version: int, merge_schema: bool = False) -> None:
        """Append `df` unless a commit with this (app_id, version) already exists.

        `merge_schema` lets a log table grow: columns of `df` that the table lacks are added
        (existing rows read them as null); a column of the table missing from `df` still fails.
        """
        self._ensure(df, name)
        (
            df.select(*self._columns(name, df, allow_new=merge_schema))
            .write.format("delta")
            .mode("append")
            .option("txnAppId", app_id)
            .option("txnVersion", version)
            .option("mergeSchema", str(merge_schema).lower())
            .save(self.path(name))
        )

    def add_columns(self, name: str, columns: dict[str, str]) -> list[str]:
        """Add `columns` (name -> Spark SQL type) that an existing table lacks, in one ALTER TABLE;
        its old rows read them as null. The explicit migration of a published schema that grew.
        Returns the names added (none when the table is missing or already has them)."""
        if not columns or not self.exists(name):  # nothing to add: no snapshot read
            return []
        have = set(self.read(name).columns)
        missing = {c: t for c, t in columns.items() if c not in have}
        if missing:
            log.warning("adding columns %s to %s", sorted(missing), name)
            ddl = ", ".join(f"`{c}` {t}" for c, t in missing.items())
            self.spark.sql(f"ALTER TABLE delta.`{self.path(name)}` ADD COLUMNS ({ddl})")
        return sorted(missing)

    def delete_where(self, name: str, condition: Column) -> int:
        """Delete the rows of `name` matching `condition` in one commit; return how many were deleted.

        The count is read from the DELETE commit's metrics; a condition that matches nothing
        returns 0 (Delta may skip the commit).
        """
        table = DeltaTable.forPath(self.spark, self.path(name))
        before = self.version(name)
        table.delete(condition)
        return self._rows_committed_since(table, before, operation="DELETE", metric="numDeletedRows")

    def remove_from_array(self, name: str, column: str, values: list[str]) -> int:
        """Remove `values` from the array `column` of every row of `name` holding one of them, in one
        commit; return how many rows changed (read from the UPDATE commit's metrics)."""
        table = DeltaTable.forPath(self.spark, self.path(name))
        gone = F.array(*[F.lit(v) for v in values])
        before = self.version(name)
        table.update(F.arrays_overlap(F.col(column), gone), {column: F.array_except(F.col(column), gone)})
        return self._rows_committed_since(table, before, operation="UPDATE", metric="numUpdatedRows")

    @staticmethod
    def _rows_committed_since(table: DeltaTable, before: int, *, operation: str, metric: str) -> int:
        """Sum of a row-count `metric` over the `operation` commits after version `before` (0 if
        Delta skipped the commit because nothing matched)."""
        ours = table.history().where((F.col("version") > before) & (F.col("operation") == operation))
        return sum(int(r["n"] or 0) for r in ours.select(F.col("operationMetrics")[metric].alias("n")).collect())

    def purge_removed_files(self, name: str) -> None:
        """Physically remove every file the current version of `name` no longer references.

        Deletion vectors are purged first (rewriting the files they mark), then a full VACUUM runs
        with retention 0, which Delta refuses unless `retentionDurationCheck` is off: it is turned
        off for this call only. The listing runs with `shuffle.partitions` tasks instead of the
        default 10,000 (half a minute per tiny table locally). Last, the log before a fresh
        checkpoint is deleted (`_forget_log_before_checkpoint`): old commits hold statistics and
        predicates naming the removed rows. This ends time travel to older versions and can break
        readers or writers running at the same moment; only erasure calls it.
        """
        path = self.path(name)
        props = DeltaTable.forPath(self.spark, path).detail().select("properties").first()[0] or {}
        if props.get("delta.enableDeletionVectors", "false").lower() == "true":
            self.spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
        with _session_conf(self.spark, {
            "spark.databricks.delta.retentionDurationCheck.enabled": "false",
            "spark.sql.sources.parallelPartitionDiscovery.parallelism":
                self.spark.conf.get("spark.sql.shuffle.partitions"),
        }):
            DeltaTable.forPath(self.spark, path).vacuum(0.0)
        self._forget_log_before_checkpoint(name)

    def _forget_log_before_checkpoint(self, name: str) -> None:
        """Checkpoint the current version, then delete the log entries of every earlier version.

        The transaction log names the removed rows too: each commit's `add` actions carry min/max
        statistics of the files they added, and a DELETE commit records its predicate with the
        values it matched. A checkpoint holds only the live files (whose statistics no longer see
        the deleted rows) and path-only tombstones, so once it exists, the earlier commits,
        checksums and checkpoints are what Delta's own log cleanup would delete — except that
        Delta waits `logRetentionDuration` (30 days, rounded to whole days). Erasure cannot wait.
        """
        path = self.path(name)
        version = self.version(name)
        jvm = self.spark._jvm
        jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, path).checkpoint()
        log_dir = jvm.org.apache.hadoop.fs.Path(f"{path}/_delta_log")
        fs = log_dir.getFileSystem(self.spark._jsc.hadoopConfiguration())
        checkpoint = f"{version:020d}.checkpoint"
        if not any(s.getPath().getName().startswith(checkpoint) for s in fs.listStatus(log_dir)):
            raise RuntimeError(f"{name}: no checkpoint of version {version} was written; log history not purged")
        for status in fs.listStatus(log_dir):
            entry = status.getPath().getName()
            if status.isFile() and entry[:20].isdigit() and int(entry[:20]) < version:
                fs.delete(status.getPath(), False)

    def _columns(self, name: str, df: DataFrame, *, allow_new: bool = False) -> list[str]:
        # Write in the table's column order so that the contract, not the transform, fixes it.
        if not self.exists(name):
            return df.columns
        existing = self.spark.read.format("delta").load(self.path(name)).columns
        extra = [c for c in df.columns if c not in existing]
        missing = [c for c in existing if c not in df.columns]
        if allow_new and not missing:
            return existing + extra
        if extra or missing:
            raise ValueError(
                f"schema of {name} would change (new columns {extra}, missing {missing}); "
                "published schemas only grow through a migration, never a silent rewrite"
            )
        return existing

    def _ensure(self, df: DataFrame, name: str) -> None:
        """Create the table with its partitioning, properties and comment if it does not exist."""
        if self.exists(name):
            return
        spec = tables.spec(name)
        builder = (
            DeltaTable.createIfNotExists(self.spark)
            .location(self.path(name))
            .addColumns(df.schema)
            .comment(spec.comment)
        )
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        builder.execute()


@contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session SQL options for the duration of a block, then restore (or unset) them."""
    previous = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
