"""The `status` and `person` commands: argument declarations and handlers that the CLI wires as
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
