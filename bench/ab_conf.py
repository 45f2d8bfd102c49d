"""One daily stage under two Spark settings, on day D of the tiny base: does a knob buy seconds or only jobs?

    python -m bench.ab_conf --base /tmp/tiny-base --stage identity --set spark.sql.adaptive.enabled=false

Runs the daily chain for day D of a tiny base (`tests/tinylake.py` `build_base`, as `bench.tiny_chain`)
up to `--stage` on a copy, in one warm session; copies that lake three times and runs `--stage` on
them in the order A, B, A: A with the session's settings, B with `--set` applied (runtime settings
only) and taken back after it. The second A shows how much of a difference the session's warming
alone makes. Then every table of B is compared with the first A's (`tinylake.assert_same_tables`):
a knob that changes a result is reported, not measured. Writes
bench/results/ab_<stage>_<label>.json and .md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.run import machine, write_results
from bench.tiny_chain import day_d_session, tinylake
from portrait import costs
from portrait.pipeline import DAILY_CHAIN, run_stage


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: give a Spark setting as key=value")
    return key, value


def _measure(spark, name: str, cfg, stage: str, settings: list[tuple[str, str]]) -> dict:
    """Run `name`: `stage` on `cfg`'s lake with `settings` applied for its run only; its Spark jobs and seconds."""
    before = {k: spark.conf.get(k, None) for k, _ in settings}
    for k, v in settings:
        spark.conf.set(k, v)
    started = time.monotonic()
    try:
        with costs.meter(spark) as c:
            run_stage(stage, spark, cfg, tinylake.D)
    finally:
        for k, v in before.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    measured = {"jobs": c.jobs, "seconds": round(time.monotonic() - started, 1)}
    print(name, measured, flush=True)
    return measured


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="a tiny base's folder (tinylake.build_base)")
    p.add_argument("--stage", required=True, choices=DAILY_CHAIN, help="the daily stage to run under A and B")
    p.add_argument("--set", dest="settings", type=_setting, action="append", required=True, help="B's key=value")
    p.add_argument("--label", help="results name suffix (default: the first key's last part and value)")
    args = p.parse_args()
    key, value = args.settings[0]
    label = args.label or f"{key.rsplit('.', 1)[-1]}_{value}"
    with day_d_session(Path(args.base)) as (spark, cfg):
        start = Path(cfg.paths.lakehouse).parent  # the copy day_d_session made (and removes)
        for stage in DAILY_CHAIN[: DAILY_CHAIN.index(args.stage)]:
            run_stage(stage, spark, cfg, tinylake.D)
        runs = {name: tinylake.copy_lake(start, start.parent / name) for name in ("A", "B", "A2")}
        measured = {
            name: _measure(spark, name, run_cfg, args.stage, args.settings if name == "B" else [])
            for name, run_cfg in runs.items()
        }
        compared = tinylake.assert_same_tables(spark, runs["A"], runs["B"])
    result = {
        "stage": args.stage,
        "date": tinylake.D.isoformat(),
        "b_settings": dict(args.settings),
        "runs": measured,
        "tables_equal": compared,
        "machine": machine(spark),
    }
    lines = [
        f"# `{args.stage}` on day {tinylake.D} of the tiny base, A / B / A",
        "",
        f"B: {', '.join(f'`{k}={v}`' for k, v in args.settings)}; A: the base's settings. One warm session, "
        "three copies of the same lake, in the order A, B, A.",
        "",
        "| run | Spark jobs | seconds |",
        "|---|---|---|",
        *(f"| {name} | {m['jobs']} | {m['seconds']} |" for name, m in measured.items()),
        "",
        f"B's tables equal A's: {len(compared)} tables compared.",
        "",
        f"Machine: {result['machine']}",
    ]
    write_results(f"ab_{args.stage}_{label}", result, lines)


if __name__ == "__main__":
    main()
