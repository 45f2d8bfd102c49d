"""What a stage is measured against: a bare read-and-write of the landing files (the ingest limit,
BENCHMARKS.md "Throughput"), and the JVM's old generation after its collections. Used by
`bench.throughput`."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from portrait.ingest.sources import SOURCES


def bare_schemas(spark: SparkSession, landing: Path, sources: list[str]) -> dict[str, tuple[str, dict, StructType]]:
    """Per source: its format, reader options and a given schema, found before any timing. JSON: the
    source's declared fields as strings (read by name; a field a file lacks is still a column). CSV:
    the header of one of its files, every column a string (read by position, as the files are)."""
    out: dict[str, tuple[str, dict, StructType]] = {}
    for name in sources:
        source = SOURCES[name]
        if source.format == "json":
            out[name] = ("json", {}, StructType([StructField(f.name, StringType()) for f in source.fields]))
            continue
        sample = next(iter(sorted((landing / name).glob("date=*/*.csv"))), None)
        if sample is None:
            raise SystemExit(f"{landing / name}: no date=*/*.csv file to read the header of")
        options = {"header": "true", "sep": source.delimiter}
        header = spark.read.options(**options).csv(str(sample)).columns
        out[name] = ("csv", options, StructType([StructField(c, StringType()) for c in header]))
    return out


def bare_read_write(spark: SparkSession, landing: Path, dest: Path, schemas: dict) -> int:
    """Every source's landing files read with its given schema (`bare_schemas`), no validation,
    written to Delta partitioned by the landing date; returns the rows written (the commits' metrics)."""
    rows = 0
    for name, (fmt, options, schema) in schemas.items():
        frame = (
            spark.read.format(fmt).options(**options).schema(schema).load(str(landing / name))
        )  # `date` from folders
        frame.write.format("delta").mode("overwrite").partitionBy("date").save(str(dest / name))
        metrics = spark.sql(f"DESCRIBE HISTORY delta.`{dest / name}` LIMIT 1").select("operationMetrics").first()
        rows += int(metrics[0]["numOutputRows"])
    return rows


def old_gen_after_gc_mb(spark: SparkSession) -> float | None:
    """The driver JVM's old generation after its latest collection, in MB (None when no pool is named
    as one): what the JVM kept, not the garbage a peak would count. In local mode the driver is also
    the executor, so cached blocks and shuffle buffers are in it."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the JVM's own memory beans
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    kept = [
        pools.get(i).getCollectionUsage()
        for i in range(pools.size())
        if any(w in pools.get(i).getName() for w in ("Old", "Tenured"))
    ]
    usage = [u.getUsed() for u in kept if u is not None]
    return round(sum(usage) / 2**20, 1) if usage else None


def sampled(spark: SparkSession, calls: dict, samples: list) -> dict:
    """`calls` each followed by a sample of `old_gen_after_gc_mb`."""

    def after(fn):
        def call(d, s):
            out = fn(d, s)
            samples.append(old_gen_after_gc_mb(spark))
            return out

        return call

    return {name: after(fn) for name, fn in calls.items()}
