"""`portrait <job> [options]` and the thin `jobs/<job>.py` spark-submit entry points.

`portrait --help` lists the jobs in pipeline order (`portrait.pipeline`); `portrait <job> --help`
shows that job's options. Every job takes `--conf`; the stages and `demo` take the run date
`--date`; `backfill` takes `--from`/`--to`; `catalog` needs no date and no Spark.

Output: Spark's own logging (log4j warnings, the executor-heartbeat stack trace, netlib's BLAS
notice) and the chatter of py4j, MLflow and Python warnings stay out unless `--verbose` (before or
after the job name) is given; `--verbose` also prints the traceback of a failure.

Exit codes, for schedulers, are `portrait.exits.ExitCode`: 0 done, 1 failed, 2 bad arguments or
configuration, 3 the PII key is not the lake's, 4 the date is beyond the data, 5 the quality gate
refused to publish, 75 lost a write conflict to a concurrent job, 130 interrupted. `portrait.exits`
says what each means and what to do; `--help` prints that, and the README's table is generated from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portrait import exits, pipeline
from portrait.config import Config, ConfigError, load_config
from portrait.exits import ExitCode

# Every parser ends its help with the exit codes, laid out as `exits.describe` wraps them.
_RAW = argparse.RawDescriptionHelpFormatter

log = logging.getLogger("portrait.cli")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _job(sub: Any, name: str, summary: str, *, date: bool = True) -> argparse.ArgumentParser:
    """A job's parser with the options every job has: --conf, --date (unless `date` is False), --verbose."""
    p = sub.add_parser(name, help=summary, description=summary, epilog=exits.describe(), formatter_class=_RAW)
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.yaml")
    if date:
        p.add_argument("--date", type=_date, required=True, help="the run date D (YYYY-MM-DD)")
    p.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Spark's logs, library warnings and tracebacks",
    )
    return p


def _scale_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=float, help="scale factor (overrides generator.scale)")
    p.add_argument("--seed", type=int, help="seed (overrides generator.seed)")


def build_parser(prog: str = "portrait") -> argparse.ArgumentParser:
    """The command line: one subcommand per job, each with its own options and help."""
    top = argparse.ArgumentParser(
        prog=prog,
        # wide enough that every job's summary stays on one line (the README quotes them)
        formatter_class=lambda prog: _RAW(prog, max_help_position=20, width=110),
        description="Portrait: customer portraits on Spark, Delta Lake and MLflow.",
        epilog=textwrap.fill(
            f"The daily chain: {' -> '.join(pipeline.DAILY_CHAIN)}; weekly: "
            f"{', '.join(s.name for s in pipeline.WEEKLY)}. `{prog} <job> --help` shows a job's options.",
            100,
        )
        + "\n\n"
        + exits.describe(),
    )
    top.add_argument("--verbose", action="store_true", help="show Spark's logs, library warnings and tracebacks")
    sub = top.add_subparsers(dest="job", metavar="<job>", required=True, title="jobs")
    for stage in (*pipeline.DAILY, *pipeline.WEEKLY, *pipeline.ON_DEMAND, *pipeline.LIVE):
        p = _job(sub, stage.name, stage.summary)
        _STAGE_OPTIONS.get(stage.name, lambda p: None)(p)
        if stage.name in ("features", "score"):
            p.add_argument(
                "--allow-empty",
                action="store_true",
                help="a date beyond the data is skipped (exit 0) instead of refused (exit 4)",
            )
    p = _job(sub, "backfill", "the daily chain for each date of [--from, --to]; resumable", date=False)
    p.add_argument("--from", dest="from_date", type=_date, required=True, metavar="DATE", help="first date")
    p.add_argument("--to", dest="to_date", type=_date, required=True, metavar="DATE", help="last date")
    p.add_argument("--force", action="store_true", help="rerun every date, even those already complete")
    _scale_seed(_job(sub, "demo", "every stage on a fresh demo lake, then what was built"))
    p = _job(sub, "catalog", "print the feature catalog (Markdown); needs no Spark", date=False)
    p.add_argument("--out", help="write the Markdown to this file instead of printing it")
    p = _job(
        sub,
        "orders-model",
        "an orders-only purchase model of a mapped export, against the classic references",
        date=False,
    )
    p.add_argument("--source", required=True, help="the export's name in ingest.mappings (ingested first)")
    p.add_argument("--calibration-date", type=_date, required=True, help="D: features as of D, labels in (D, D+N]")
    p.add_argument("--horizon-days", type=int, required=True, help="N, the label horizon in days")
    p = _job(sub, "report", "the daily run report of D: an HTML page beside the lakehouse, logged to MLflow")
    p.add_argument("--out-dir", help="write the page here instead of <lakehouse>/../reports")
    from portrait.inspect import commands

    p = sub.add_parser(
        "status",
        help="every table, each job's last run, the champion models",
        description="every table (Delta version, last date, rows), each job's last run, "
        "the champion models and their metrics",
        epilog=exits.describe(),
        formatter_class=_RAW,
    )
    commands.add_status_arguments(p)
    p = sub.add_parser(
        "person",
        help="one person's portrait, tags, scores with reasons and actions",
        description="one person's portrait, tags, scores with reasons and actions, by a clear "
        "identifier (hashed as ingest does) or a person id",
        epilog=exits.describe(),
        formatter_class=_RAW,
    )
    commands.add_person_arguments(p)
    p = sub.add_parser(
        "quarantine",
        help="a date's quarantined lines by source and reason; --reveal, --replay",
        description="a date's quarantined lines by source and reason, the first of each shown; --reveal opens "
        "the lines kept encrypted with the PII key; --replay ingests the date again (after the landing files "
        "were fixed) and says which lines are now kept",
        epilog=exits.describe(),
        formatter_class=_RAW,
    )
    commands.add_quarantine_arguments(p)
    return top


def _ingest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_date, help="first landing date to ingest (default: --date)")
    p.add_argument("--source", action="append", dest="sources", help="only this source (repeatable)")


def _features_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_date, help="first as-of date of a backfill in one pass (default: --date)")
    p.add_argument(
        "--full", action="store_true", help="full build over all history instead of the incremental step from D-1"
    )


def _identity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="resolve the whole graph and rewrite every silver row instead of merging day D",
    )


def _audience_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="the audience's name in gold.audiences (snake_case)")
    p.add_argument(
        "--where",
        required=True,
        help="Spark SQL over gold.portrait columns and tag names, e.g. "
        '"city_tier = 1 and sneaker_lover and frequent_buyer"',
    )


def _erase_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--identifier",
        action="append",
        dest="identifiers",
        metavar="TYPE=VALUE",
        help="a clear identifier of the person, TYPE one of phone, email, wechat_id, account, cookie (repeatable)",
    )
    p.add_argument(
        "--person-id",
        action="append",
        dest="person_ids",
        metavar="P_ID",
        help="a person id from silver.identity_map (repeatable)",
    )


def _live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--available-now",
        action="store_true",
        help="process the files landed so far, then stop (for a scheduler); default: run until stopped",
    )
    p.add_argument("--trigger-seconds", type=int, help="micro-batch interval (overrides live.trigger_seconds)")


_STAGE_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "generate": _scale_seed,
    "ingest": _ingest_options,
    "identity": _identity_options,
    "features": _features_options,
    "audience": _audience_options,
    "erase": _erase_options,
    "live": _live_options,
}
_parser = build_parser  # the name the tests of other stages use


def run_job(job: str, spark: Any, cfg: Config, args: argparse.Namespace) -> Any:
    """Run `job` (`pipeline.RUNS`) for its run date with the options its declaration takes from
    what its subcommand parsed."""
    declared = pipeline.RUNS[job]
    options = {name: getattr(args, name) for name in declared.options}
    return pipeline.run_stage(job, spark, cfg, getattr(args, declared.date_option), **options)


def _configure_logging(verbose: bool, job: str) -> None:
    """Python-side output: INFO progress from portrait (the demo tells its own story instead);
    py4j, MLflow, hyperopt and Python warnings only from WARNING/ERROR up unless verbose."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.captureWarnings(True)
    if verbose:
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read by mlflow when it is imported
    for noisy in ("py4j", "mlflow", "alembic", "hyperopt", "py.warnings", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if job == "demo":
        logging.getLogger("portrait").setLevel(logging.WARNING)


def _quiet_mlflow() -> None:
    """MLflow prints its registry events ("Successfully registered model", "Created version")
    to its own stream, outside logging; mute that stream for this process (--verbose keeps it).
    Its failures still surface as exceptions.

    `disable_logging()` alone does not last: MLflow's own muting contexts (entered around model
    logging) turn the stream back on when the last one exits. Holding one such context open for
    the life of the process, as MLflow's autologging does while it runs, keeps it off.
    """
    from mlflow.utils.logging_utils import disable_logging

    try:
        from mlflow.utils.autologging_utils.logging_and_warnings import MlflowEventsAndWarningsBehaviorGlobally

        MlflowEventsAndWarningsBehaviorGlobally(
            disable_event_logs=True, disable_warnings=False, reroute_warnings=False
        ).__enter__()
    except (ImportError, AttributeError, TypeError):  # an MLflow without it: mute until re-enabled
        pass
    disable_logging()


def _fail(code: ExitCode, message: str, hint: str = "") -> int:
    """One line on stderr: what went wrong, then (unless the message says it) what to do."""
    print(f"portrait: {message}" + (f" ({hint})" if hint else ""), file=sys.stderr)
    return code


def main(argv: list[str] | None = None, *, job: str | None = None) -> int:
    """Console entry point; `job` is fixed when called from `jobs/<job>.py`. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if job is not None:
        argv = [job, *argv]
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 itself on a bad or missing option, naming it
    if args.job == "backfill" and args.to_date < args.from_date:
        return _fail(
            ExitCode.USAGE,
            f"backfill: --to {args.to_date} is before --from {args.from_date}",
            "give the first date as --from and the last as --to",
        )
    verbose = bool(args.verbose)
    _configure_logging(verbose, args.job)
    what = f"{args.job} {getattr(args, 'date', None) or ''}".strip()
    try:
        return _dispatch(args, verbose)
    except KeyboardInterrupt:
        return _fail(ExitCode.INTERRUPTED, f"{what}: interrupted", "rerunning the same date is safe")
    except Exception as exc:
        from portrait.erase import ErasureError

        if verbose:
            traceback.print_exc()
        if isinstance(exc, ConfigError):
            return _fail(ExitCode.USAGE, f"bad configuration: {exc}")
        if isinstance(exc, ErasureError):
            return _fail(ExitCode.USAGE, f"{what}: {exc}", f"see `portrait {args.job} --help`")
        first = (str(exc).strip().splitlines() or [""])[0]
        # a missing input names the job that writes it; anything else may be a bug or the cluster
        hint = (
            ""
            if isinstance(exc, FileNotFoundError)
            else "rerun with --verbose for the traceback, also kept in the run log; rerunning the date is safe"
        )
        return _fail(ExitCode.FAILED, f"{what} failed: {type(exc).__name__}: {first}", hint)


def _dispatch(args: argparse.Namespace, verbose: bool) -> int:
    if args.job in ("status", "person", "quarantine"):
        from portrait.inspect import commands

        return {"status": commands.run_status, "person": commands.run_person, "quarantine": commands.run_quarantine}[
            args.job
        ](args)
    cfg = load_config(args.conf)
    if args.job not in ("generate", "catalog"):
        cfg.pii_key()  # fail before starting Spark when the secret is missing
    if args.job == "catalog":  # no Spark needed: the catalog is read from the feature registry
        return _catalog(cfg, args)
    from portrait.spark import get_session

    if not verbose:
        _quiet_mlflow()
    spark = get_session(cfg.spark, verbose=verbose)
    if args.job == "demo":
        from portrait import demo

        return demo.run(spark, cfg, args.date, scale=args.scale, seed=args.seed)
    if args.job == "backfill":
        return _backfill(spark, cfg, args)
    return _guarded_job(spark, cfg, args, verbose)


def _catalog(cfg: Config, args: argparse.Namespace) -> int:
    from portrait.features import catalog

    catalog.write_or_print(
        catalog.to_markdown(catalog.catalog(cfg.features.categories)), Path(args.out) if args.out else None
    )
    if args.out:
        print(f"feature catalog: {args.out}")
    return ExitCode.OK


def _backfill(spark: Any, cfg: Config, args: argparse.Namespace) -> int:
    from portrait import backfill

    started = time.perf_counter()
    result = backfill.run(spark, cfg, args.from_date, args.to_date, force=args.force)
    print(f"backfill {args.from_date}..{args.to_date}: {result} ({time.perf_counter() - started:.1f} s)")
    return ExitCode.OK


def _guarded_job(spark: Any, cfg: Config, args: argparse.Namespace, verbose: bool) -> int:
    """One job of `pipeline.RUNS` after its checks (the PII key, the run date: `guards`); a refusal
    or a lost write conflict is one line and its own exit code."""
    from portrait import guards  # the PII key and the run date are checked before the job writes anything

    started = time.perf_counter()
    date = getattr(args, pipeline.RUNS[args.job].date_option)
    try:
        if not guards.before_job(spark, cfg, args.job, date, allow_empty=getattr(args, "allow_empty", False)):
            print(f"{args.job} {date}: skipped, no data for this date (--allow-empty)")
            return ExitCode.OK
        result = run_job(args.job, spark, cfg, args)
    except Exception as exc:
        known = guards.exit_code(exc)
        if known is None:
            raise
        if verbose:
            traceback.print_exc()
        print(f"portrait: {args.job} {date}: {known[1]}", file=sys.stderr)
        return known[0]
    options = {name: getattr(args, name) for name in pipeline.RUNS[args.job].options}
    line = pipeline.result_line(args.job, date, result, options)
    print(line or f"{args.job} {date}: {pipeline.short(result, limit=2000)} ({time.perf_counter() - started:.1f} s)")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
