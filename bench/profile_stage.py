"""Where a stage's Spark jobs come from: every job of one daily stage attributed to the Python lines that started it.

    python -m bench.profile_stage --base /tmp/tiny-base --stage identity [--top 40]

Runs the daily chain for day D of a tiny base (`tests/tinylake.py` `build_base`, as `bench.tiny_chain`)
on a copy, up to and including `--stage`, in one process. While the stage runs, every call from
Python into the JVM is followed by a read of the DAG scheduler's job count; the jobs started during
the call are charged to the Python stack at that moment: the stage's own line that made the call
(its `run.py` or a builder) and the innermost `portrait` line (`spark.truncate`, `io.replace_where`).
Spark's event log cannot say this: it names a Python call site only for `collect`-like actions, a
handful of a stage's jobs (checkpoints, Delta writes and MERGEs carry none).

Writes bench/results/profile_<stage>.json and .md. A profiling tool: the hook costs one more JVM call
per JVM call, so its seconds are not the stage's; the job counts are.
"""

from __future__ import annotations

import argparse
import collections
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import py4j.java_gateway

from bench.run import machine, write_results
from bench.tiny_chain import day_d_session, tinylake
from portrait import costs
from portrait.pipeline import DAILY_CHAIN, RUNS, run_stage

_LIBS = "/libs/portrait/"


@contextmanager
def jobs_by_line(spark, package: str) -> Iterator[collections.Counter]:
    """Count the Spark jobs started inside the block by (stage line, innermost portrait line).

    `package` is the stage's module path inside `portrait` (e.g. `identity/`): the first frame of the
    stack in it (below the stage's entry point) is the stage line.
    """
    scheduler = spark.sparkContext._jsc.sc().dagScheduler()  # noqa: SLF001 - the count costs.meter reads
    counts: collections.Counter = collections.Counter()
    state = {"busy": False, "seen": scheduler.numTotalJobs()}
    original = py4j.java_gateway.JavaMember.__call__

    def where() -> str:
        frames = [f for f in traceback.extract_stack()[:-3] if _LIBS in f.filename]
        name = lambda f: f"{f.filename.split(_LIBS)[1]}:{f.lineno} {f.name}"  # noqa: E731
        ours = [f for f in frames if f"{_LIBS}{package}" in f.filename]
        # Below the stage's entry point (`run`): the line that called, and the deepest stage frame.
        below = ours[1:] or ours
        stage_line = " > ".join(dict.fromkeys(name(f) for f in (below[:1] + below[-1:])))
        return f"{stage_line} | {name(frames[-1]) if frames else '(outside portrait)'}"

    def counted(member, *args):
        result = original(member, *args)
        if not state["busy"]:
            state["busy"] = True  # the count below is itself a JVM call
            try:
                now = scheduler.numTotalJobs()
            finally:
                state["busy"] = False
            if now > state["seen"]:
                counts[where()] += now - state["seen"]
                state["seen"] = now
        return result

    py4j.java_gateway.JavaMember.__call__ = counted
    try:
        yield counts
    finally:
        py4j.java_gateway.JavaMember.__call__ = original


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
        with costs.meter(spark) as cost, jobs_by_line(spark, package) as counts:
            run_stage(args.stage, spark, cfg, tinylake.D)
        result = {
            "stage": args.stage,
            "date": tinylake.D.isoformat(),
            "jobs": cost.jobs,
            "attributed": sum(counts.values()),
            "by_line": dict(counts.most_common()),
            "machine": machine(spark),
        }
    top = counts.most_common(args.top)
    rest = sum(counts.values()) - sum(n for _, n in top)
    lines = [
        f"# Where `{args.stage}`'s Spark jobs come from: day {result['date']} of the tiny lake",
        "",
        f"{result['jobs']} jobs (costs.meter), {result['attributed']} attributed to a line.",
        "",
        "| jobs | stage line | innermost portrait line |",
        "|---|---|---|",
        *[f"| {n} | {k.split(' | ')[0]} | {k.split(' | ')[1]} |" for k, n in top],
        *([f"| {rest} | (the other lines) | |"] if rest else []),
        "",
        f"Machine: {result['machine']}",
    ]
    write_results(f"profile_{args.stage}", result, lines)


if __name__ == "__main__":
    main()
