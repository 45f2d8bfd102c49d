"""The fixed cost of the daily chain: day D of the test suite's tiny lake, every stage in one process.

    python -m bench.tiny_chain --base /tmp/tiny-base [--label after]

The tiny base (`tests/tinylake.py` `build_base`: SF 0.002, 24 days, the whole chain run through D-1,
as the test suite's `tiny_base` fixture builds it) holds a few hundred rows a day, so what a stage
costs here is its fixed work: Spark jobs, Delta commits and the seconds they take, whatever the data.
Each run works on a copy of `--base`, so two checkouts can be compared on the same base. Writes bench/results/tiny_chain_<label>.json and .md. It measures; it never asserts.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.run import machine, write_results
from portrait import costs
from portrait.pipeline import DAILY_CHAIN, run_stage
from portrait.spark import get_session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tiny base is the test suite's, built by its own helper
import tinylake  # noqa: E402


@contextmanager
def day_d_session(base: Path) -> Iterator[tuple]:
    """A copy of the tiny base at `base` and a warm session on it (the JVM's start is no stage's cost);
    the copy is removed when the block ends."""
    if not (base / "conf.yaml").exists():
        raise SystemExit(f"{base} holds no tiny base: build one with tests/tinylake.build_base")
    work = Path(tempfile.mkdtemp(prefix="portrait-tiny-chain-"))
    try:
        cfg = tinylake.copy_lake(base, work / "lake")
        spark = get_session(cfg.spark)
        spark.range(1).count()
        yield spark, cfg
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="a tiny base's folder (tinylake.build_base)")
    p.add_argument("--label", default="latest", help="results name suffix, e.g. before / after")
    args = p.parse_args()
    with day_d_session(Path(args.base)) as (spark, cfg):
        stages = {}
        for stage in DAILY_CHAIN:
            with costs.meter(spark) as c:
                run_stage(stage, spark, cfg, tinylake.D)
            stages[stage] = {"jobs": c.jobs, "seconds": round(c.seconds, 1), "commits": c.commit_count}
            print(stage, stages[stage], flush=True)
        result = {
            "date": tinylake.D.isoformat(),
            "stages": stages,
            "jobs": sum(s["jobs"] for s in stages.values()),
            "seconds": round(sum(s["seconds"] for s in stages.values()), 1),
            "machine": machine(spark),
        }
    lines = [
        f"# Day {result['date']} of the tiny lake, every daily stage in one process ({args.label})",
        "",
        "| stage | Spark jobs | seconds | Delta commits |",
        "|---|---|---|---|",
        *[f"| {n} | {s['jobs']} | {s['seconds']} | {s['commits']} |" for n, s in stages.items()],
        f"| **chain** | **{result['jobs']}** | **{result['seconds']}** | |",
        "",
        f"Machine: {result['machine']}",
    ]
    write_results(f"tiny_chain_{args.label}", result, lines)


if __name__ == "__main__":
    main()
