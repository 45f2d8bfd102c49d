"""The lakehouse's commit row counts, read from real Delta commits: a MERGE's `numOutputRows` also
counts the rows it copied unchanged, which must not count as rows the input held."""

from __future__ import annotations

from portrait.catalog import Table
from portrait.io import Lakehouse


def test_commit_row_counts_of_a_write_and_a_merge(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path))
    table = Table("silver", "counted", "test", "One row per key", date_column=None, partition_by=())
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "k int, v string").coalesce(1)
    written = lake.overwrite(rows, table)
    assert (written.rows_new, written.rows_written, written.rows_deleted) == (3, 3, 0)

    # One row updated, one inserted: the single file of three rows is rewritten, two rows copied.
    change = spark.createDataFrame([(2, "B"), (4, "d")], "k int, v string")
    merged = lake.merge(change, table, on=("k",))
    assert merged.operation == "MERGE"
    assert merged.metrics["numOutputRows"] == 4  # Delta's own count: updated + copied + inserted
    assert (merged.rows_new, merged.rows_written, merged.rows_deleted) == (2, 4, 0)
    assert sorted(lake.read(table).collect()) == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
