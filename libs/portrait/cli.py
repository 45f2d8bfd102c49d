"""`portrait <job> --conf conf/local.yaml --date YYYY-MM-DD` and the thin `jobs/<job>.py` entry points.

Jobs: generate, ingest, identity, text, features, train, score, and `demo` (all of them in order on
the embedded default, then a summary of what was published). `erase` removes a person everywhere:
`portrait erase --conf ... --date D --identifier phone=13812345678` (or `--person-id p_...`).
`tags` evaluates conf/tags.yaml into gold.tags; `audience --name X --where "<expression over tags
and features>"` writes a named audience to gold.audiences and prints its size.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path
from typing import Callable

from portrait.config import Config, ConfigError, load_config

JOBS = ("generate", "ingest", "identity", "text", "features", "tags", "audience", "train", "score", "erase")
# Options that a job cannot run without (argparse only knows options required by every job).
_REQUIRED_FOR = {"audience": ("name", "where")}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


class _JobParser(argparse.ArgumentParser):
    """Also fails, naming them, when options required by the chosen job (`_REQUIRED_FOR`) are missing."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        if parsed.job != "catalog" and parsed.date is None:
            self.error(f"the following arguments are required for {parsed.job}: --date")
        missing = [f"--{o}" for o in _REQUIRED_FOR.get(parsed.job, ()) if not getattr(parsed, o, None)]
        if missing:
            self.error(f"the following arguments are required for {parsed.job}: {', '.join(missing)}")
        return parsed


def _parser(prog: str = "portrait") -> argparse.ArgumentParser:
    p = _JobParser(prog=prog, description="Portrait: customer portraits on Spark, Delta and MLflow")
    p.add_argument("job", choices=(*JOBS, "demo", "catalog"),
                   help="the job to run; `catalog` prints the feature catalog (Markdown) for the conf's categories")
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.yaml")
    p.add_argument("--date", type=_date, help="the run date D (YYYY-MM-DD); required by every job but catalog")
    p.add_argument("--out", help="catalog: write the Markdown to this file instead of printing it")
    p.add_argument("--start", type=_date, help="ingest/features: first date of a backfill (default: --date)")
    p.add_argument("--full", action="store_true",
                   help="features: full build over all history instead of the incremental step from D-1")
    p.add_argument("--source", action="append", dest="sources", help="ingest: only this source (repeatable)")
    p.add_argument("--scale", type=float, help="generate/demo: scale factor (overrides generator.scale)")
    p.add_argument("--seed", type=int, help="generate/demo: seed (overrides generator.seed)")
    p.add_argument("--identifier", action="append", dest="identifiers", metavar="TYPE=VALUE",
                   help="erase: a clear identifier of the person, TYPE one of phone, email, wechat_id, "
                        "account, cookie (repeatable)")
    p.add_argument("--person-id", action="append", dest="person_ids", metavar="P_ID",
                   help="erase: a person id from silver.identity_map (repeatable)")
    p.add_argument("--name", help="audience: the audience's name in gold.audiences (snake_case)")
    p.add_argument("--where", help="audience: Spark SQL over gold.portrait columns and tag names, e.g. "
                                   "\"city_tier = 1 and sneaker_lover and frequent_buyer\"")
    return p


def run_job(job: str, spark, cfg: Config, args: argparse.Namespace):
    """Dispatch to the stage's `run(spark, cfg, date)`; imports stay lazy so `--help` is instant."""
    if job == "generate":
        from portrait import generator

        g = cfg.generator
        return generator.generate(
            spark, landing=cfg.paths.landing, truth=cfg.paths.truth, scale=args.scale or g.scale,
            seed=args.seed if args.seed is not None else g.seed, end_date=args.date, days=g.days,
            horizon_days=cfg.train.horizon_days, dirty_fraction=g.dirty_fraction,
        )
    if job == "ingest":
        from portrait import ingest
        from portrait.io import Lakehouse

        return ingest.run(Lakehouse(spark, cfg.paths.lakehouse), cfg.ingest, args.date, landing=cfg.paths.landing,
                          pii_key=cfg.pii_key(), start=args.start, sources=args.sources)
    if job == "identity":
        from portrait import identity

        return identity.run(spark, cfg, args.date)
    if job == "text":
        from portrait import text

        return text.run(spark, cfg, args.date)
    if job == "features":
        from portrait import features

        return features.run(spark, cfg, args.date, start=args.start, incremental=not args.full)
    if job == "tags":
        from portrait import tags

        return tags.run(spark, cfg, args.date)
    if job == "audience":
        from portrait import audience

        return audience.run(spark, cfg, args.date, name=args.name, where=args.where)
    if job == "train":
        from portrait import train

        return train.run(spark, cfg, args.date)
    if job == "score":
        from portrait import scoring

        return scoring.run(spark, cfg, args.date)
    if job == "erase":
        from portrait import erase

        return erase.run(spark, cfg, args.date, identifiers=args.identifiers, person_ids=args.person_ids)
    raise ValueError(f"unknown job {job!r}")


def main(argv: list[str] | None = None, *, job: str | None = None) -> int:
    """Console entry point; `job` is fixed when called from `jobs/<job>.py`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if job is not None:
        argv = [job, *argv]
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "mlflow", "alembic", "hyperopt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        cfg = load_config(args.conf)
        if args.job != "generate":
            cfg.pii_key()  # fail before starting Spark when the secret is missing
    except ConfigError as exc:
        print(f"portrait: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.job == "catalog":  # no Spark needed: the catalog is read from the feature registry
        from portrait.features import catalog

        catalog.write_or_print(catalog.to_markdown(catalog.catalog(cfg.features.categories)),
                               Path(args.out) if args.out else None)
        if args.out:
            print(f"feature catalog: {args.out}")
        return 0
    from portrait.spark import get_session

    spark = get_session(cfg.spark)
    if args.job == "demo":
        from portrait import demo

        return demo.run(spark, cfg, args)
    started = time.perf_counter()
    result = run_job(args.job, spark, cfg, args)
    print(f"{args.job} {args.date}: {result} ({time.perf_counter() - started:.1f} s)")
    return 0


def job_main(job: str) -> Callable[[], int]:
    return lambda: main(job=job)


if __name__ == "__main__":
    sys.exit(main())
