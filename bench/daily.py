"""The daily chain: one new day's cost at two history lengths, and against a full rebuild.

    python -m bench.daily --scale 0.05 --histories 90,360 --rebuild-scale 1

For each history length H (same daily volume: the generator's scale is per day), a landing zone of
H days ending at D is generated and a lake is built up to D-1 (ingest backfill, identity, text,
features, tags, train, score). Then the daily chain for D runs and each stage is timed: ingest,
identity, text, features, tags, score, with the rows each stage wrote, copied and deleted summed
over the Delta commits it made (`DESCRIBE HISTORY` metrics of the tables it writes). Last, a full
rebuild of every stage over the same H days on a fresh lake (identity `rebuild`, features full)
for the shortest history. Writes bench/results/daily.json and .md with `history_ratio`
(daily chain at the longest history / at the shortest) and `daily_to_rebuild` (daily chain / full
rebuild, shortest history, at `--rebuild-scale`, which the issue sets at SF1) at the top level. It measures; it never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from bench.run import machine, workdir_overrides, write_results
from portrait import catalog, generator
from portrait.config import Config, load_config
from portrait.io import Lakehouse
from portrait.pipeline import DAILY_CHAIN, LAST_COST, run_stage
from portrait.spark import get_session

ROOT = Path(__file__).resolve().parents[1]
STAGES = DAILY_CHAIN  # the stages timed for day D, in the pipeline's order
WRITTEN = ("numOutputRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numUpdatedRows")
COPIED = ("numCopiedRows", "numTargetRowsCopied")
# train is weekly, not part of the daily chain: it runs in the build (and the rebuild) only so that
# score has champions, with one trial, three as-of dates, 14-day label windows (labelled rows on short
# histories too) and no floors (model quality is bench.models').
TRAIN_OVERRIDES = {
    "train.max_evals": 1,
    "train.training_dates": 3,
    "train.horizon_days": 14,
    "train.churn_days": 14,
    "train.churn_lookback_days": 30,
    "train.min_auc": 0.0,
    "train.max_ece": 1.0,
    "text.min_accuracy": 0.0,
}
DELETED = ("numDeletedRows", "numTargetRowsDeleted")
# A full build: the daily chain with train before score (score needs champions).
BUILD = (*STAGES[: STAGES.index("score")], "train", *STAGES[STAGES.index("score") :])


def _stage_calls(spark, cfg: Config, *, rebuild: bool) -> dict[str, Callable[[dt.date, dt.date], object]]:
    """Each stage as fn(date, start), called through the pipeline's one dispatch (as the CLI calls it)."""
    calls: dict[str, Callable[[dt.date, dt.date], object]] = {
        "ingest": lambda d, s: run_stage("ingest", spark, cfg, d, start=s),
        "identity": lambda d, s: run_stage("identity", spark, cfg, d, rebuild=rebuild),
        "features": lambda d, s: run_stage("features", spark, cfg, d, full=rebuild),
    }
    for name in (*DAILY_CHAIN, "train"):  # every other stage takes the date alone
        calls.setdefault(name, lambda d, s, name=name: run_stage(name, spark, cfg, d))
    return calls


def _versions(lake: Lakehouse) -> dict[str, int]:
    return {t.full_name: lake.version(t) for t in catalog.ALL if lake.exists(t)}


def _rows_since(lake: Lakehouse, before: dict[str, int]) -> dict[str, int]:
    """Rows written, copied and deleted by the commits made after `before`, over every table."""
    out = {"rows_written": 0, "rows_copied": 0, "rows_deleted": 0, "tables": {}}
    for table in catalog.ALL:
        if not lake.exists(table):
            continue
        since = before.get(table.full_name, -1)
        hist = DeltaTable.forPath(lake.spark, lake.path(table)).history().where(F.col("version") > since)
        rows = hist.select("operationMetrics").collect()  # commit metadata, a few rows
        written = copied = deleted = 0
        for r in rows:
            m = {k: int(v) for k, v in (r[0] or {}).items() if v is not None and str(v).isdigit()}
            copies = sum(m.get(k, 0) for k in COPIED)
            # A MERGE's numOutputRows counts the rows it copied unchanged too: written = changed or new.
            written += m["numOutputRows"] - copies if "numOutputRows" in m else sum(m.get(k, 0) for k in WRITTEN)
            copied += copies
            deleted += sum(m.get(k, 0) for k in DELETED)
        if rows:
            out["tables"][table.full_name] = {
                "commits": len(rows),
                "written": written,
                "copied": copied,
                "deleted": deleted,
            }
        out["rows_written"] += written
        out["rows_copied"] += copied
        out["rows_deleted"] += deleted
    return out


def _timed(lake: Lakehouse, calls: dict, names: tuple[str, ...], date: dt.date, start: dt.date) -> dict:
    stages = {}
    for name in names:
        before = _versions(lake)
        t0 = time.perf_counter()
        calls[name](date, start)
        seconds = round(time.perf_counter() - t0, 2)
        cost = LAST_COST[name]  # counted by run_stage: Spark's job count, the Lakehouse's commits
        stages[name] = {
            "seconds": seconds,
            "jobs": cost.jobs,
            "commits": cost.commit_count,
            **_rows_since(lake, before),
        }
    return {
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages.values()), 2),
        "max_stage_jobs": max((s["jobs"] or 0) for s in stages.values()),
    }


def _one_history(args, history: int, date: dt.date, *, scale: float, with_rebuild: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"portrait-daily-{history}-"))
    try:
        cfg = load_config(
            args.conf, overrides={**workdir_overrides(work), **TRAIN_OVERRIDES, "generator.days": history}
        )
        spark = get_session(cfg.spark)
        generator.generate(
            spark,
            landing=cfg.paths.landing,
            truth=cfg.paths.truth,
            scale=scale,
            seed=cfg.generator.seed,
            end_date=date,
            days=history,
            horizon_days=cfg.train.horizon_days,
            dirty_fraction=cfg.generator.dirty_fraction,
        )
        first, yesterday = date - dt.timedelta(days=history - 1), date - dt.timedelta(days=1)
        lake = Lakehouse(spark, cfg.paths.lakehouse)
        build = _stage_calls(spark, cfg, rebuild=False)
        for name in ("ingest", "identity", "text", "features", "tags", "train", "score"):
            build[name](yesterday, first)
        events = lake.read(catalog.SILVER_EVENTS).count()
        identifiers = (
            lake.read(catalog.SILVER_IDENTITY_MAP).count() + lake.read(catalog.SILVER_IDENTITY_EXCLUDED).count()
        )
        cores = int(spark.sparkContext.defaultParallelism)
        if args.keep:  # the lake as built to D-1, to rerun or profile one stage of day D by hand
            shutil.copytree(work, Path(args.keep) / f"h{history}", dirs_exist_ok=True)
        daily = _timed(lake, build, STAGES, date, date)
        seconds = daily["stages"]["identity"]["seconds"]
        result = {
            "scale": scale,
            "history_days": history,
            "silver_events_before": events,
            "identifiers_before": identifiers,
            "daily": daily,
            "identity_identifiers_per_s_per_core": round(identifiers / (seconds * cores), 1),
        }
        if with_rebuild:
            fresh = load_config(
                args.conf,
                overrides={
                    **workdir_overrides(work / "rebuild"),
                    **TRAIN_OVERRIDES,
                    "generator.days": history,
                    "paths.landing": cfg.paths.landing,
                    "paths.truth": cfg.paths.truth,
                },
            )
            calls = _stage_calls(spark, fresh, rebuild=True)
            rebuilt_lake = Lakehouse(spark, fresh.paths.lakehouse)
            # score needs a champion: train runs in the rebuild but is left out of its total, as of the daily chain's.
            rebuilt = _timed(rebuilt_lake, calls, BUILD, date, first)
            rebuilt["seconds"] = round(sum(rebuilt["stages"][n]["seconds"] for n in STAGES), 2)
            rebuilt["identity_identifiers_per_s_per_core"] = round(
                identifiers / (rebuilt["stages"]["identity"]["seconds"] * cores), 1
            )
            result["rebuild"] = rebuilt
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _markdown(result: dict) -> list[str]:
    lines = [
        f"# Daily chain, SF {result['scale']}",
        "",
        f"history_ratio = **{result['history_ratio']}** (SF {result['scale']}, "
        f"{result['histories'][-1]} / {result['histories'][0]} days); daily_to_rebuild = "
        f"**{result['daily_to_rebuild']}** (SF {result['rebuild_scale']}, {result['histories'][0]} days)",
        "",
        "| SF | history | stage | seconds | Spark jobs | Delta commits | rows written | rows copied | rows deleted |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        for name, s in run["daily"]["stages"].items():
            lines.append(
                f"| {run['scale']} | {run['history_days']} | {name} | {s['seconds']} | {s.get('jobs')} | "
                f"{s.get('commits')} | {s['rows_written']} | "
                f"{s['rows_copied']} | {s['rows_deleted']} |"
            )
        lines.append(
            f"| {run['scale']} | {run['history_days']} | **daily chain** | **{run['daily']['seconds']}** | "
            f"max {run['daily']['max_stage_jobs']} | | | | |"
        )
        if "rebuild" in run:
            lines.append(
                f"| {run['scale']} | {run['history_days']} | **full rebuild** | **{run['rebuild']['seconds']}** | "
                f"| | {sum(s['rows_written'] for s in run['rebuild']['stages'].values())} | | |"
            )
    lines += ["", f"Machine: {result['machine']}"]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--histories", default="90,360", help="history lengths in days, shortest first")
    p.add_argument("--date", default="2026-11-01")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--rebuild-scale", type=float, help="scale of the rebuild comparison (default: --scale)")
    p.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild (daily_to_rebuild: null)")
    p.add_argument(
        "--keep",
        help="copy each lake as built to D-1 (before the timed day) to KEEP/h<history>; bronze.ingest_files "
        "holds the original absolute landing paths, so run a copy from its original path (a symlink) or "
        "its ingest of D takes every landing file for new",
    )
    args = p.parse_args(argv)
    date = dt.date.fromisoformat(args.date)
    histories = sorted(int(h) for h in args.histories.split(","))
    rebuild_scale = args.rebuild_scale if args.rebuild_scale is not None else args.scale
    same = rebuild_scale == args.scale and not args.no_rebuild
    runs = [
        _one_history(args, h, date, scale=args.scale, with_rebuild=(i == 0 and same)) for i, h in enumerate(histories)
    ]
    if not args.no_rebuild and not same:
        runs.append(_one_history(args, histories[0], date, scale=rebuild_scale, with_rebuild=True))
    short, long = runs[0]["daily"]["seconds"], runs[len(histories) - 1]["daily"]["seconds"]
    with_rebuild = next((r for r in runs if "rebuild" in r), None)
    spark = get_session(load_config(args.conf).spark)
    result = {
        "small_day_chain_s": short,
        "small_day_max_stage_jobs": runs[0]["daily"]["max_stage_jobs"],
        "history_ratio": round(long / short, 3) if len(histories) > 1 else None,  # one history: not measured
        "daily_to_rebuild": (
            round(with_rebuild["daily"]["seconds"] / with_rebuild["rebuild"]["seconds"], 3) if with_rebuild else None
        ),
        "scale": args.scale,
        "rebuild_scale": rebuild_scale if with_rebuild else None,
        "histories": histories,
        "date": args.date,
        "runs": runs,
        "machine": machine(spark),
        "note": "history_ratio: daily chain at the longest history / at the shortest, both at `scale`; "
        "daily_to_rebuild: daily chain / full rebuild of every stage at `rebuild_scale` and the shortest history. "
        "Rows are summed from the Delta commit metrics of every table a stage committed to. "
        f"train (weekly, outside the daily chain and both totals) runs with {TRAIN_OVERRIDES}.",
    }
    write_results("daily", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
