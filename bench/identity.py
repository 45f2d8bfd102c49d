"""Identity resolution quality against the generator's truth, and ingest/identity throughput.

    python -m bench.identity --scale 0.1                            # generate in a temp dir, ingest, resolve, measure
    python -m bench.identity --scale 1 --workdir /work/bench-sf1    # generate there once, reuse it next time
    python -m bench.identity --existing                             # measure the lake and truth of conf/local.yaml

With `--workdir` the landing zone and the truth are generated into that folder once: a marker
file (`generated.json`: scale, seed, dates, dirty fraction and a digest of the generator's code)
says what is there, and a later run with the same parameters and generator reuses it. The
lakehouse under the folder is rebuilt on every run.

Writes bench/results/identity_sf<scale>.json and .md and prints the summary: pairwise precision and
recall, the true pairs missed by identifier types, the identifiers stranded outside their true
person's main resolved person, and throughput as BENCHMARKS.md defines it: rows / (wall seconds x
cores) with raw lines in for ingest (per source and in total) and identifiers for identity. Each
source is ingested by its own `ingest.run`, so that its time is its own. With `--repeats` > 1 the
ingest and identity are run that many times and the medians are reported (the first run is cold).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from bench.run import ROOT, machine, workdir_overrides, write_results
from portrait import catalog, generator, identity, ingest
from portrait.config import Config, load_config
from portrait.identity import graph
from portrait.identity.quality import (
    judged_cells,
    linkable_recall,
    missed_pairs,
    pairwise_quality,
    stranded_identifiers,
    truth_identifiers,
)
from portrait.io import Lakehouse
from portrait.spark import get_session, set_checkpoint_dir

MARKER = "generated.json"


def _generator_digest() -> str:
    """A digest of the generator's source: a landing zone made by other code is not reused."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "libs" / "portrait" / "generator").glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _generation(cfg: Config, scale: float, date: dt.date) -> dict:
    return {
        "scale": scale,
        "seed": cfg.generator.seed,
        "end_date": date.isoformat(),
        "days": cfg.generator.days,
        "horizon_days": cfg.train.horizon_days,
        "dirty_fraction": cfg.generator.dirty_fraction,
        "generator": _generator_digest(),
    }


def _ensure_landing(spark, cfg: Config, work: Path, scale: float, date: dt.date) -> dict:
    """Generate the landing zone and truth into `work` unless the marker says they are already there."""
    wanted = _generation(cfg, scale, date)
    marker = work / MARKER
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return {"generated": "reused", "generate_seconds": None}
    marker.unlink(missing_ok=True)  # a half-written landing zone is never reused
    t0 = time.perf_counter()
    generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=scale,
        seed=cfg.generator.seed,
        end_date=date,
        days=cfg.generator.days,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=cfg.generator.dirty_fraction,
    )
    seconds = time.perf_counter() - t0
    marker.write_text(json.dumps(wanted, indent=2))
    return {"generated": "now", "generate_seconds": seconds}


def _ingest_and_resolve(spark, cfg: Config, date: dt.date, cores: int) -> dict:
    """One run: each source ingested on its own, then identity; seconds and rows."""
    start = date - dt.timedelta(days=cfg.generator.days - 1)
    shutil.rmtree(cfg.paths.lakehouse, ignore_errors=True)
    per_source = {}
    for name in cfg.ingest.sources:
        t0 = time.perf_counter()
        counts = ingest.run(
            Lakehouse(spark, cfg.paths.lakehouse), ingest.RunConf.of(cfg), date, start=start, sources=[name]
        )
        per_source[name] = {"seconds": time.perf_counter() - t0, "raw_rows": counts[name]["rows_read"]}
    t0 = time.perf_counter()
    set_checkpoint_dir(spark, cfg.spark.checkpoint_dir, cfg.paths.lakehouse)  # as `pipeline.run_stage` does
    stats = identity.run(Lakehouse(spark, cfg.paths.lakehouse), identity.RunConf.of(cfg), date)
    identity_s = time.perf_counter() - t0
    return {
        "ingest": per_source,
        "identity_seconds": identity_s,
        "identifiers": stats["identity_map_rows"] + stats["identity_excluded_rows"],
    }


def _throughput(runs: list[dict], cores: int) -> dict:
    """Medians over runs of seconds, and rows / (median seconds x cores)."""
    out: dict = {"runs": len(runs), "ingest": {}}
    for name in runs[0]["ingest"]:
        seconds = statistics.median(r["ingest"][name]["seconds"] for r in runs)
        rows = runs[0]["ingest"][name]["raw_rows"]
        out["ingest"][name] = {"raw_rows": rows, "seconds": seconds, "rows_per_s_per_core": rows / (seconds * cores)}
    total_s = statistics.median(sum(s["seconds"] for s in r["ingest"].values()) for r in runs)
    total_rows = sum(s["raw_rows"] for s in out["ingest"].values())
    out["ingest"]["total"] = {
        "raw_rows": total_rows,
        "seconds": total_s,
        "rows_per_s_per_core": total_rows / (total_s * cores),
    }
    identity_s = statistics.median(r["identity_seconds"] for r in runs)
    out["identity"] = {
        "identifiers": runs[0]["identifiers"],
        "seconds": identity_s,
        "identifiers_per_s_per_core": runs[0]["identifiers"] / (identity_s * cores),
    }
    return out


def _recall_by_account(cells, persons) -> dict:
    """Pairwise recall over the true persons with an account and over those without one.

    Persons without an account have no deterministic link between their cookies, their guest
    orders and their social ids: their loss is the part of the recall no pipeline can recover.
    """
    holders = persons.select("person_key", F.col("account_id").isNotNull().alias("has_account"))
    out = {}
    for flag, name in ((True, "with_account"), (False, "without_account")):
        keys = holders.where(F.col("has_account") == flag).select("person_key")
        group = cells.join(keys, on="person_key", how="inner")
        rows = missed_pairs(group).collect()  # one row per pair of identifier types
        true, missed = sum(r["true_pairs"] for r in rows), sum(r["missed_pairs"] for r in rows)
        out[name] = {
            "true_persons": group.select("person_key").distinct().count(),
            "true_pairs": true,
            "missed_pairs": missed,
            "recall": 1 - missed / true if true else 1.0,
        }
    return out


def _markdown(result: dict) -> list[str]:
    q = result["quality"]
    lines = [
        f"# Identity benchmark, SF {result['scale']:g}",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Date {result['date']}; landing zone {result.get('generated', 'existing')}"
        + (f" in {result['generate_seconds']:.0f} s" if result.get("generate_seconds") else "")
        + ".",
        "",
        "| quality | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:,.4f} |" for k, v in q.items()]
    lines += [
        "",
        "Recall by whether the true person has an account:",
        "",
        "| persons | true persons | true pairs | missed pairs | recall |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {g['true_persons']:,} | {g['true_pairs']:,} | {g['missed_pairs']:,} | {g['recall']:.4f} |"
        for name, g in result["recall_by_account"].items()
    ]
    k = result["linkable"]
    lines += [
        "",
        "Recall over the pairs some chain of records links (through the true person's own identifiers; "
        "a deterministic resolver can find no more):",
        "",
        "| true pairs | linkable pairs | linkable share | found linkable | linkable recall | "
        "missed pairs no record links |",
        "|---|---|---|---|---|---|",
        f"| {k['true_pairs']:,.0f} | {k['linkable_pairs']:,.0f} | {k['linkable_share']:.4f} | "
        f"{k['found_linkable_pairs']:,.0f} | **{k['linkable_recall']:.4f}** | {k['unlinkable_share_of_missed']:.1%} |",
    ]
    lines += [
        "",
        "True pairs missed, by identifier types:",
        "",
        "| type_a | type_b | true_pairs | missed_pairs | share of all missed |",
        "|---|---|---|---|---|",
    ]
    missed_total = sum(r["missed_pairs"] for r in result["missed_pairs"]) or 1
    lines += [
        f"| {r['type_a']} | {r['type_b']} | {r['true_pairs']:,} | {r['missed_pairs']:,} "
        f"| {r['missed_pairs'] / missed_total:.1%} |"
        for r in result["missed_pairs"]
    ]
    lines += [
        "",
        "Identifiers outside their true person's main resolved person (`alone`: resolved to a person of their own):",
        "",
        "| id_type | judged | stranded | alone |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['id_type']} | {r['judged']:,} | {r['stranded']:,} | {r['alone']:,} |"
        for r in result["stranded_identifiers"]
    ]
    if "throughput" in result:
        t = result["throughput"]
        lines += [
            "",
            f"Throughput, rows / (wall s x {result['cores']} cores), median of {t['runs']} run(s):",
            "",
            "| stage | rows in | seconds | rows/s/core |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| ingest {name} | {s['raw_rows']:,} | {s['seconds']:.1f} | {s['rows_per_s_per_core']:,.0f} |"
            for name, s in t["ingest"].items()
        ]
        i = t["identity"]
        lines += [f"| identity | {i['identifiers']:,} | {i['seconds']:.1f} | {i['identifiers_per_s_per_core']:,.0f} |"]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--existing", action="store_true", help="measure the configured lake and truth as they are")
    p.add_argument("--workdir", help="folder for the landing zone, truth and lakehouse (landing and truth reused)")
    p.add_argument("--repeats", type=int, default=1, help="ingest + identity runs (median reported)")
    p.add_argument("--date", default="2026-11-01")
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    args = p.parse_args(argv)
    if args.existing and args.workdir:
        p.error("--existing measures the configured lake; it takes no --workdir")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    date = dt.date.fromisoformat(args.date)
    overrides = {}
    if not args.existing:
        work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="portrait-bench-identity-"))
        work.mkdir(parents=True, exist_ok=True)
        overrides = workdir_overrides(work)
    cfg = load_config(args.conf, overrides=overrides)
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)
    result: dict = {"benchmark": "identity", "date": args.date, "cores": cores, "machine": machine(spark)}
    if not args.existing:
        result.update(_ensure_landing(spark, cfg, work, args.scale, date))
        runs = [_ingest_and_resolve(spark, cfg, date, cores) for _ in range(args.repeats)]
        result["throughput"] = _throughput(runs, cores)
    meta = json.loads((Path(cfg.paths.truth) / "meta.json").read_text())
    result["scale"] = meta["scale"]
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    imap, excluded = lake.read(catalog.SILVER_IDENTITY_MAP), lake.read(catalog.SILVER_IDENTITY_EXCLUDED)
    persons = spark.read.parquet(f"{cfg.paths.truth}/persons")
    truth = truth_identifiers(persons, key=cfg.pii_key())
    result["quality"] = pairwise_quality(truth, imap, excluded)
    cells = judged_cells(truth, imap, excluded).persist()
    result["recall_by_account"] = _recall_by_account(cells, persons)
    upto = F.col("date") <= F.lit(date)
    evidence = graph.links(
        *[lake.read(catalog.BRONZE_SOURCES[t]).where(upto) for t in ("clickstream", "orders", "social", "crm")]
    )
    result["linkable"] = linkable_recall(cells, evidence, max_iterations=cfg.identity.max_iterations)
    missed = missed_pairs(cells).orderBy("missed_pairs", ascending=False)
    result["missed_pairs"] = [r.asDict() for r in missed.collect()]  # at most 21 rows
    result["stranded_identifiers"] = [r.asDict() for r in stranded_identifiers(cells).orderBy("id_type").collect()]
    cells.unpersist()
    write_results(f"identity_sf{result['scale']:g}", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
