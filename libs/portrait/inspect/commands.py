"""The `status`, `person` and `quarantine` commands: argument declarations and handlers that the CLI wires as
subcommands (`add_*_arguments(parser)`, `run_*(args) -> exit code`).

Exit codes (`portrait.exits.ExitCode`): OK answered, FAILED the person (or lakehouse) was not
found, USAGE bad configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from portrait.config import ConfigError, load_config
from portrait.exits import ExitCode


def add_status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.yaml")


def add_person_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.yaml")
    p.add_argument(
        "who",
        metavar="TYPE=VALUE|PERSON_ID",
        help="phone=..., email=..., wechat_id=... (clear, hashed as ingest does), account=..., "
        "cookie=..., social_author=..., or a person id p_...",
    )
    p.add_argument("--date", type=dt.date.fromisoformat, help="show the person as of this date (default: latest)")


def add_quarantine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.yaml")
    p.add_argument("--date", type=dt.date.fromisoformat, required=True, help="the landing date, YYYY-MM-DD")
    p.add_argument("--source", help="only this source's lines")
    p.add_argument("--reason", help="only lines quarantined for this reason (README, Quarantine reasons)")
    p.add_argument("--lines", type=int, default=5, help="lines shown per source and reason (default 5)")
    p.add_argument(
        "--reveal",
        action="store_true",
        help="open the lines kept encrypted (those whose fields could not be told apart) with the PII key: "
        "prints what arrived, PII included",
    )
    p.add_argument(
        "--replay",
        action="store_true",
        help="ingest the date again for the sources with quarantined lines (fix the landing files first), "
        "then say which lines are now kept",
    )


def _session_and_lake(args: argparse.Namespace):
    from portrait.io import Lakehouse
    from portrait.spark import get_session

    cfg = load_config(args.conf)
    key = cfg.pii_key()
    spark = get_session(cfg.spark)
    return cfg, key, Lakehouse(spark, cfg.paths.lakehouse)


def run_status(args: argparse.Namespace) -> int:
    """Print the status of every table, job and model."""
    from portrait.inspect.status import collect_status, format_status

    try:
        cfg, _, lake = _session_and_lake(args)
    except ConfigError as exc:
        print(f"portrait: bad configuration: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(format_status(collect_status(lake, cfg)))
    return ExitCode.OK


def run_person(args: argparse.Namespace) -> int:
    """Print one person's portrait, tags, scores with reasons and actions."""
    from portrait.inspect.person import PersonNotFound, find_person, format_person, person_view

    try:
        _, key, lake = _session_and_lake(args)
    except ConfigError as exc:
        print(f"portrait: bad configuration: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        person_id = find_person(lake, args.who, key=key)
    except (PersonNotFound, FileNotFoundError) as exc:
        print(f"portrait person: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    print(format_person(person_view(lake, person_id, date=args.date)))
    return ExitCode.OK


def run_quarantine(args: argparse.Namespace) -> int:
    """List a date's quarantined lines, open them (--reveal) or replay the date's ingest (--replay)."""
    from pyspark.sql import functions as F

    from portrait import catalog, guards, pipeline
    from portrait.inspect import quarantine

    if args.lines < 0:
        print(f"portrait quarantine: --lines {args.lines}: give 0 or more", file=sys.stderr)
        return ExitCode.USAGE
    try:
        cfg, key, lake = _session_and_lake(args)
    except ConfigError as exc:
        print(f"portrait: bad configuration: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if not lake.exists(catalog.BRONZE_QUARANTINE):
        print(f"portrait quarantine: no {catalog.BRONZE_QUARANTINE} yet: run `portrait ingest` first", file=sys.stderr)
        return ExitCode.FAILED
    if args.reveal or args.replay:  # the key opens (or rewrites) records: it must be the lake's
        from portrait import keyguard

        keyguard.check_pii_key(lake, key, job="quarantine")
    rows = quarantine.quarantined(lake, args.date, source=args.source, reason=args.reason)
    if not args.replay:
        found = quarantine.listing(rows, args.date, lines=args.lines, key=key if args.reveal else None)
        print(quarantine.format_listing(found))
        return ExitCode.OK
    version = lake.version(catalog.BRONZE_QUARANTINE)
    sources = sorted(r["source"] for r in rows.select("source").distinct().collect())
    if sources:
        guards.before_job(lake.spark, cfg, "ingest", args.date)
        pipeline.run_stage("ingest", lake.spark, cfg, args.date, sources=sources)
    # Ingest replaces whole sources: every line of theirs is compared, whatever --reason chose them.
    replayed = F.col("source").isin(sources)
    before = quarantine.quarantined(lake, args.date, version=version).where(replayed)
    after = quarantine.quarantined(lake, args.date).where(replayed)
    print(quarantine.format_replay(quarantine.replay_outcome(before, after, args.date, sources)))
    return ExitCode.OK
