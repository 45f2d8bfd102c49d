"""`portrait quarantine --date D`: a date's quarantined lines by source and reason, opened for an
operator who holds the PII key, and replayed once the upstream is fixed.

- The listing counts `bronze.quarantine`'s lines of D per source and reason and shows the first
  `lines` of each (by file and line number): where a line's fields were known, its fields as JSON
  (PII hashed, free text masked, ids, times and amounts as written); where they were not, the line
  encrypted under the PII key (`privacy.encrypt_text`), shown opened with `--reveal`.
- `--replay` runs `ingest` of D again for the sources with quarantined lines (of `--reason` when
  given; the landing files as they are now: a corrected file delivered in place of the bad one is
  read), then says, for every quarantined line of those sources, per source
  and reason how many of the lines quarantined before are now kept (matched by file and line
  number), how many are still quarantined and how many are newly quarantined. Idempotent: ingest
  replaces the date. The jobs after ingest read D again only when rerun (the command says which).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from portrait import catalog, privacy
from portrait.io import Lakehouse

KEY = ["source", "source_file", "line_number"]
SEALED_HINT = "(encrypted: --reveal opens it with the PII key)"
UNOPENED = "(cannot be opened with this PII key)"


@dataclass(frozen=True)
class Listing:
    date: dt.date
    counts: list[tuple[str, str, int]]  # (source, reason, lines), most lines first
    lines: list[tuple[str, str, str, int | None, str]]  # (source, reason, file, line number, record)


def quarantined(
    lake: Lakehouse,
    date: dt.date,
    *,
    source: str | None = None,
    reason: str | None = None,
    version: int | None = None,
) -> DataFrame:
    """`bronze.quarantine`'s lines of `date` (at `version` when given), of one source and one reason when given."""
    table = catalog.BRONZE_QUARANTINE
    rows = (lake.read(table) if version is None else lake.read_at(table, version)).where(F.col("date") == F.lit(date))
    if source:
        rows = rows.where(F.col("source") == source)
    if reason:
        rows = rows.where(F.col("reason") == reason)
    return rows


def listing(rows: DataFrame, date: dt.date, *, lines: int, key: bytes | None) -> Listing:
    """Counts per source and reason and the first `lines` of each; records opened when `key` is given.
    Collects the counts (sources x reasons) and at most `lines` rows per reason."""
    counts = [
        (r["source"], r["reason"], r["lines"])
        for r in rows.groupBy("source", "reason").agg(F.count(F.lit(1)).alias("lines")).collect()
    ]
    counts.sort(key=lambda c: (-c[2], c[0], c[1]))
    record = F.col("raw_record")
    shown = (
        F.coalesce(privacy.decrypt_text(record, key), F.lit(UNOPENED))
        if key is not None
        else F.when(record.startswith(privacy.ENCRYPTED), F.lit(SEALED_HINT)).otherwise(record)
    )
    first = Window.partitionBy("source", "reason").orderBy("source_file", "line_number")
    picked = (
        rows.select("source", "reason", "source_file", "line_number", shown.alias("record"))
        .withColumn("_n", F.row_number().over(first))
        .where(F.col("_n") <= lines)
        .orderBy("source", "reason", "_n")
        .collect()
    )
    return Listing(
        date,
        counts,
        [(r["source"], r["reason"], r["source_file"], r["line_number"], r["record"]) for r in picked],
    )


def format_listing(found: Listing) -> str:
    total = sum(n for _, _, n in found.counts)
    if not total:
        return f"quarantine {found.date}: no quarantined line"
    width = max(len(s) for s, _, _ in found.counts)
    out = [
        f"quarantine {found.date}: {total} line{'' if total == 1 else 's'} "
        f"in {len({s for s, _, _ in found.counts})} source(s)",
        "",
        f"{'source':<{width}}  {'reason':<24} lines",
    ]
    out += [f"{s:<{width}}  {r:<24} {n:>5}" for s, r, n in found.counts]
    for source, reason in sorted({(s, r) for s, r, *_ in found.lines}):
        out += ["", f"{source} / {reason}:"]
        out += [
            f"  {_file_name(f)}:{n if n is not None else '?'}  {record}"
            for s, r, f, n, record in found.lines
            if (s, r) == (source, reason)
        ]
    return "\n".join(out)


def _file_name(path: str) -> str:
    """The landing path from its date folder on (`date=.../file`), the part an operator recognises."""
    at = path.rfind("date=")
    return path[at:] if at >= 0 else path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Replay:
    date: dt.date
    sources: list[str]
    # (source, reason before, lines quarantined before, now kept, still quarantined)
    before: list[tuple[str, str, int, int, int]]
    new: list[tuple[str, str, int]]  # (source, reason, lines quarantined now that were not before)


def replay_outcome(before: DataFrame, after: DataFrame, date: dt.date, sources: list[str]) -> Replay:
    """What became of the lines `before` quarantined (a pinned read of the replayed sources' rows of
    the date before the replay) in `after` (the same after it), matched by source, file and line
    number: one full join gives the lines now kept, still quarantined, and new."""
    fate = (
        before.select(*KEY, "reason", F.lit(True).alias("_before"))
        .join(after.select(*KEY, F.col("reason").alias("_reason_now"), F.lit(True).alias("_after")), KEY, "full")
        .groupBy("source", F.coalesce("reason", "_reason_now").alias("reason"))
        .agg(
            F.count_if(F.col("_before")).alias("lines"),
            F.count_if(F.col("_before") & F.col("_after").isNull()).alias("kept"),
            F.count_if(F.col("_before") & F.col("_after")).alias("still"),
            F.count_if(F.col("_before").isNull()).alias("new"),
        )
        .collect()
    )
    return Replay(
        date,
        sources,
        sorted((r["source"], r["reason"], r["lines"], r["kept"], r["still"]) for r in fate if r["lines"]),
        sorted((r["source"], r["reason"], r["new"]) for r in fate if r["new"]),
    )


def format_replay(done: Replay) -> str:
    if not done.sources:
        return f"quarantine {done.date}: no quarantined line to replay"
    out = [
        f"quarantine {done.date}: ingest replayed for {', '.join(done.sources)}",
        "",
        f"{'source':<12} {'reason':<24} {'before':>6} {'kept':>6} {'still':>6}",
    ]
    out += [f"{s:<12} {r:<24} {n:>6} {k:>6} {q:>6}" for s, r, n, k, q in done.before]
    out += [f"{s:<12} {r:<24} {'new':>6} {n:>6}" for s, r, n in done.new]
    kept = sum(k for *_, k, _ in done.before)
    if kept:
        out += [
            "",
            f"{kept} line{'' if kept == 1 else 's'} now kept: rerun the daily chain from identity for {done.date} "
            f"(`portrait backfill --from {done.date} --to {done.date} --force`) so the portrait reads them",
        ]
    return "\n".join(out)
