"""Per-MB cost of ingest's per-row text work: free-text masking and line validation.

    python -m bench.ingest_text_cost                  # values of 1, 4 and 16 MB
    python -m bench.ingest_text_cost --sizes-mb 1 2   # other sizes

Each value is one row (a letter run, the input that made the old email pattern quadratic, with
an email and a phone at its end). Timed, median of `--repeats` warm runs, each written to Spark's
noop sink: `privacy.redact_free_text` on the value; the whole `validate.classify` of one
clickstream line whose `search_query` holds the value (JSON parse and shape checks, strict
typing, masking), with `ingest.max_field_chars` above the size so that the line is kept. The
former email pattern is timed on small values only (it is quadratic: 40 KB took 34 s).
Writes bench/results/ingest_text_cost.json and .md (seconds per MB per operation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bench.run import ROOT, machine, write_results
from portrait import privacy
from portrait.config import load_config
from portrait.ingest import validate
from portrait.ingest.sources import CLICKSTREAM
from portrait.spark import get_session

OLD_EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
MB = 1 << 20


def _timed(df: DataFrame, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        df.write.format("noop").mode("overwrite").save()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def _value(n_chars: int) -> str:
    tail = " write to bob@example.com or +86 138 1234 5678"
    return "a" * (n_chars - len(tail)) + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 4, 16])
    p.add_argument("--old-sizes-kb", type=int, nargs="+", default=[10, 20, 40])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    cfg = load_config(args.conf)
    spark = get_session(cfg.spark)
    rows = []
    for kb in args.old_sizes_kb:
        df = spark.createDataFrame([(_value(kb * 1024),)], "v string").select(
            F.regexp_replace("v", OLD_EMAIL_RE, "<email>").alias("m")
        )
        seconds = _timed(df, 1)
        rows.append(
            {
                "operation": "old email pattern",
                "mb": kb / 1024,
                "seconds": seconds,
                "seconds_per_mb": seconds / (kb / 1024),
            }
        )
    for mb in args.sizes_mb:
        value = _value(int(mb * MB))
        one = spark.createDataFrame([(value,)], "v string").cache()
        one.count()
        base = _timed(one.select(F.length("v").alias("n")), args.repeats)  # the scan alone
        masked = _timed(one.select(privacy.redact_free_text(F.col("v")).alias("m")), args.repeats) - base
        line = json.dumps(
            {
                "event_id": "e1",
                "anonymous_id": "c1",
                "event_type": "search",
                "ts": "2026-11-01T10:00:00Z",
                "search_query": value,
            }
        )
        lines = spark.createDataFrame(
            [(line, "bench", dt.date(2026, 11, 1))], "value string, source_file string, date date"
        )
        classified = validate.classify(
            validate.parse_lines(lines, CLICKSTREAM),
            CLICKSTREAM,
            pii_key=b"bench",
            earliest=dt.date(2000, 1, 1),
            max_field_chars=int(mb * MB) + 1024,
        )
        assert classified.first()["_status"] == validate.KEPT  # the bench measures the kept path
        validated = _timed(classified, args.repeats)
        one.unpersist()
        for op, seconds in (("redact_free_text", masked), ("validate.classify (one line)", validated)):
            rows.append({"operation": op, "mb": mb, "seconds": seconds, "seconds_per_mb": seconds / mb})
    result = {"machine": machine(spark), "repeats": args.repeats, "rows": rows}
    lines = ["# Ingest per-row text cost", "", "| operation | MB | seconds | s per MB |", "|---|---:|---:|---:|"]
    lines += [f"| {r['operation']} | {r['mb']:.3g} | {r['seconds']:.2f} | {r['seconds_per_mb']:.2f} |" for r in rows]
    lines += ["", "Linear work has a flat s per MB; the old email pattern's grows with the size (quadratic)."]
    write_results("ingest_text_cost", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
