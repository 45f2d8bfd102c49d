"""Writes of the generator: day-partitioned JSON-lines and CSV files, Parquet, meta.json.

Row counts come from ``Observation`` metrics collected during the write itself, so no
output is read back. Paths go through Hadoop's FileSystem, so local folders and object
stores work alike (classic PySpark only: the renames and meta.json use the JVM gateway).
"""

from __future__ import annotations

import json
import uuid

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

_CSV_OPTIONS = {
    "header": "true",
    "quote": '"',
    "escape": '"',
    "encoding": "UTF-8",
    # Keep the spaces around raw e-mails: they are part of the contract.
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}


def _observed(df: DataFrame, name: str):
    obs = Observation(f"generator_{name}_{uuid.uuid4().hex}")
    metrics = [F.count(F.lit(1)).alias("rows")]
    if "_dirty" in df.columns:
        metrics += [
            F.coalesce(F.sum(F.col("_dirty").cast("long")), F.lit(0)).alias("dirty"),
            F.coalesce(F.sum(F.col("_dup").cast("long")), F.lit(0)).alias("duplicates"),
        ]
    return df.observe(obs, *metrics), obs


def _counts(name: str, obs: Observation) -> dict[str, int]:
    got = obs.get
    out = {name: int(got["rows"])}
    if "dirty" in got:
        out[f"{name}_dirty"] = int(got["dirty"])
        out[f"{name}_duplicates"] = int(got["duplicates"])
    return out


def _rename_parts(spark: SparkSession, path: str, old_ext: str, new_ext: str) -> None:
    """Rename ``date=*/part-*{old_ext}`` files to ``{new_ext}`` (Spark's text writer says .txt)."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(path)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = fs.globStatus(jvm.org.apache.hadoop.fs.Path(f"{path}/date=*/part-*{old_ext}")) or []
    for status in statuses:
        src = status.getPath()
        dst = jvm.org.apache.hadoop.fs.Path(src.getParent(), src.getName()[: -len(old_ext)] + new_ext)
        if not fs.rename(src, dst):
            raise OSError(f"could not rename {src.toString()} to {dst.toString()}")


def write_json_lines(spark: SparkSession, lines: DataFrame, path: str, name: str) -> dict[str, int]:
    """Write ``value`` lines as ``{path}/date=D/part-*.json``; returns line/dirty/duplicate counts."""
    df, obs = _observed(lines, name)
    df.select("value", "date").write.mode("overwrite").partitionBy("date").text(path)
    _rename_parts(spark, path, ".txt", ".json")
    return _counts(name, obs)


def write_csv(rows: DataFrame, path: str, name: str, columns) -> dict[str, int]:
    """Write ``columns`` as ``{path}/date=D/part-*.csv`` with a header line in every file."""
    df, obs = _observed(rows, name)
    df.select(*columns, "date").write.mode("overwrite").partitionBy("date").options(**_CSV_OPTIONS).csv(path)
    return _counts(name, obs)


def write_parquet(df: DataFrame, path: str, name: str) -> dict[str, int]:
    """Write a truth table as Parquet (overwrite); returns its row count."""
    observed, obs = _observed(df, name)
    observed.write.mode("overwrite").parquet(path)
    return _counts(name, obs)


def write_json_file(spark: SparkSession, path: str, payload: dict) -> None:
    """Write one small JSON document (e.g. meta.json) through Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(path)
    fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(target, True)
    try:
        stream.write(bytearray(json.dumps(payload, indent=2, sort_keys=True).encode("utf-8")))
    finally:
        stream.close()
