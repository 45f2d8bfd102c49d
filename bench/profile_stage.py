"""Where a daily stage's Spark jobs and seconds go, on day D of the tiny base: `bench.profile` made repeatable.

    python -m bench.profile_stage --base /tmp/tiny-base --stage identity [--top 40]

Runs the daily chain for day D of a tiny base (`tests/tinylake.py` `build_base`, as `bench.tiny_chain`)
on a copy, up to and including `--stage`, in one process, and profiles `--stage` with
`bench.profile.JobProfile`: every outermost call from Python into the JVM is timed and the Spark
jobs it started (the DAG scheduler's count, read around it) are charged, with its seconds, to the
stage's own line that made the call (its `run.py` or a builder) and the innermost `portrait` line
(`spark.truncate`, `io.replace_where`); Spark's status store then names each job (Delta's
descriptions, else the call site). Spark's event log alone cannot say this: it names a Python call
site only for `collect`-like actions (checkpoints, Delta writes and MERGEs carry none).

The seconds outside JVM calls are Python between the calls. The hook adds a little to each call,
so the stage's seconds under it are a little longer than without; the job counts are exact.
Writes bench/results/profile_<stage>.json and .md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.profile import JobProfile
from bench.run import machine, write_results
from bench.tiny_chain import day_d_session, tinylake
from portrait import costs
from portrait.pipeline import DAILY_CHAIN, RUNS, run_stage


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="a tiny base's folder (tinylake.build_base)")
    p.add_argument("--stage", required=True, choices=DAILY_CHAIN, help="the daily stage to profile")
    p.add_argument("--top", type=int, default=40, help="lines listed (the rest are summed)")
    args = p.parse_args()
    package = RUNS[args.stage].module.removeprefix("portrait.").split(".")[0] + "/"
    with day_d_session(Path(args.base)) as (spark, cfg):
        for stage in DAILY_CHAIN[: DAILY_CHAIN.index(args.stage)]:
            run_stage(stage, spark, cfg, tinylake.D)
        with costs.meter(spark) as cost, JobProfile(spark, package=package) as profile:
            run_stage(args.stage, spark, cfg, tinylake.D)
        counts = {k: int(v[1]) for k, v in profile.lines.items()}
        seconds = {k: v[2] for k, v in profile.lines.items()}
        names = {k: profile.job_names(k) for k in profile.lines}
        in_calls = sum(seconds.values())
        result = {
            "stage": args.stage,
            "date": tinylake.D.isoformat(),
            "jobs": cost.jobs,
            "seconds": round(cost.seconds, 1),
            "attributed": sum(counts.values()),
            "seconds_in_jvm_calls": round(in_calls, 1),
            "by_line": {
                k: {
                    "jobs": counts.get(k, 0),
                    "seconds": round(seconds.get(k, 0.0), 2),
                    "job_names": dict(names.get(k, {})),
                }
                for k in set(seconds) | set(counts)
            },
            "machine": machine(spark),
        }
    keys = sorted(set(counts) | set(seconds), key=lambda k: (-seconds.get(k, 0.0), -counts.get(k, 0)))
    top = keys[: args.top]
    rest_jobs = sum(counts.values()) - sum(counts.get(k, 0) for k in top)
    rest_seconds = in_calls - sum(seconds.get(k, 0.0) for k in top)
    lines = [
        f"# Where `{args.stage}`'s Spark jobs and seconds go: day {result['date']} of the tiny lake",
        "",
        f"{result['jobs']} jobs (costs.meter), {result['attributed']} attributed to a line; "
        f"{result['seconds']} s, of which {result['seconds_in_jvm_calls']} s inside JVM calls "
        f"(the rest: Python between the calls). Sorted by seconds.",
        "",
        "| seconds | jobs | stage line | innermost portrait line |",
        "|---|---|---|---|",
        *[
            f"| {seconds.get(k, 0.0):.2f} | {counts.get(k, 0)} | {k.split(' | ')[0]} | {k.split(' | ')[1]} |"
            for k in top
        ],
        *([f"| {rest_seconds:.2f} | {rest_jobs} | (the other lines) | |"] if rest_jobs or rest_seconds > 0.005 else []),
        "",
        "What Spark calls the jobs of each line (its description, else its call site), lines with 3 jobs or more:",
        "",
        "| jobs | line | job name |",
        "|---|---|---|",
        *[
            f"| {n} | {k.split(' | ')[1]} | {name} |"
            for k in sorted(names, key=lambda k: -counts.get(k, 0))
            if counts.get(k, 0) >= 3
            for name, n in names[k].most_common()
        ],
        "",
        f"Machine: {result['machine']}",
    ]
    write_results(f"profile_{args.stage}", result, lines)


if __name__ == "__main__":
    main()
