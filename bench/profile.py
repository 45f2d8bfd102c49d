"""Where a stage's Spark jobs and driver time come from, line by line of our code.

    python -m bench.profile --conf lake.yaml --date 2026-11-01 identity [--option rebuild=true]

Every Spark job and every Delta snapshot load or commit starts from a call the driver makes into the
JVM (py4j): a `collect`, a `checkpoint`, a `save`, a MERGE's `execute`, a `DeltaTable.forPath`. The
profiler wraps py4j's call, reads the DAG scheduler's job count before and after each outermost
call, and charges the jobs and the wall time to the innermost frame of `portrait` code on the
Python stack (file and line). Prints the lines that cost most and writes the table as JSON next to
the bench results when asked (`--out`). It measures; run it on a copy of a lake (a stage writes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from py4j import java_gateway

from portrait import costs
from portrait.config import load_config
from portrait.pipeline import run_stage
from portrait.spark import get_session


class JobProfile:
    """Jobs, py4j calls and seconds per line of `portrait` code, while installed.

    `package` (a folder of `portrait`, e.g. `identity/`) keys each line also by the stage's own line
    that led to it, the first frame in `package` below the stage's entry point: `stage line | line`.
    The ids of the jobs each line started are kept (`job_names` says what Spark calls them).
    """

    def __init__(self, spark, *, package: str | None = None) -> None:
        self.spark = spark
        self.package = package
        self.lines: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])  # calls, jobs, seconds
        self.job_ids: dict[str, list[int]] = defaultdict(list)
        self._depth = 0
        self._original = java_gateway.JavaMember.__call__

    def _site(self) -> str:
        frame = sys._getframe(2)
        innermost, ours = None, []
        while frame is not None:
            name = frame.f_code.co_filename
            if "/portrait/" in name and "/portrait/costs.py" not in name:
                site = f"{name.split('/portrait/', 1)[1]}:{frame.f_lineno} {frame.f_code.co_name}"
                innermost = innermost or site
                if self.package is None:
                    break
                if f"/portrait/{self.package}" in name:
                    ours.append(site)
            frame = frame.f_back
        innermost = innermost or "(outside portrait)"
        if self.package is None:
            return innermost
        below = ours[::-1][1:] or ours[::-1]  # outermost first; below the stage's entry point
        stage = " > ".join(dict.fromkeys(below[:1] + below[-1:]))
        return f"{stage} | {innermost}"

    def __enter__(self) -> JobProfile:
        profile = self

        def call(member, *args):
            if profile._depth:
                return profile._original(member, *args)
            profile._depth += 1
            try:
                before = costs.jobs_submitted(profile.spark) or 0
                started = time.perf_counter()
                try:
                    return profile._original(member, *args)
                finally:
                    seconds = time.perf_counter() - started
                    after = costs.jobs_submitted(profile.spark) or 0
                    site = profile._site()
                    entry = profile.lines[site]
                    entry[0] += 1
                    entry[1] += after - before
                    entry[2] += seconds
                    profile.job_ids[site].extend(range(before, after))
            finally:
                profile._depth -= 1

        java_gateway.JavaMember.__call__ = call  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        java_gateway.JavaMember.__call__ = self._original  # type: ignore[method-assign]

    def table(self, top: int) -> list[dict]:
        rows = [
            {"line": line, "py4j_calls": int(c), "jobs": int(j), "seconds": round(s, 2)}
            for line, (c, j, s) in self.lines.items()
        ]
        return sorted(rows, key=lambda r: (r["seconds"], r["jobs"]), reverse=True)[:top]

    def job_names(self, line: str) -> Counter:
        """What Spark calls the jobs `line` started: each job's description when one was set (Delta
        sets one for its own jobs: "Delta: Filtering files for query", ...), else its call site."""
        sc = self.spark.sparkContext._jsc.sc()  # noqa: SLF001
        sc.listenerBus().waitUntilEmpty()  # the status store is filled by the listener bus, asynchronously
        store = sc.statusStore()
        names: Counter = Counter()
        for job in self.job_ids.get(line, []):
            data = store.job(job)
            description = data.description()
            text = description.get() if description.isDefined() else data.name()
            names[" ".join(str(text).split())[:90]] += 1
        return names


def _option(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    parsed: object = {"true": True, "false": False}.get(value.lower(), value)
    if isinstance(parsed, str) and len(parsed) == 10 and parsed[4] == "-":
        parsed = dt.date.fromisoformat(parsed)
    return key, parsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage")
    p.add_argument("--conf", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("--option", action="append", default=[], help="a stage option, key=value (repeatable)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--out", help="write the table as JSON to this file")
    args = p.parse_args(argv)
    cfg = load_config(args.conf)
    spark = get_session(cfg.spark)
    options = dict(_option(o) for o in args.option)
    with JobProfile(spark) as profile, costs.meter(spark) as cost:
        run_stage(args.stage, spark, cfg, dt.date.fromisoformat(args.date), **options)
    rows = profile.table(args.top)
    print(f"{args.stage} {args.date}: {cost.seconds:.1f} s, {cost.jobs} Spark jobs, {cost.commit_count} commits")
    print(f"{'seconds':>8} {'jobs':>5} {'calls':>6}  line")
    for r in rows:
        print(f"{r['seconds']:8.2f} {r['jobs']:5d} {r['py4j_calls']:6d}  {r['line']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"cost": cost.as_dict(), "lines": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
