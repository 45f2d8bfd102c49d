"""Test helpers: a config pointing at temp dirs, and tiny landing files written inline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from portrait.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]


def make_config(tmp_path: Path, **overrides) -> Config:
    """conf/local.yaml with every path under `tmp_path` and small training budgets."""
    base = {
        "paths.lakehouse": str(tmp_path / "lakehouse"),
        "paths.landing": str(tmp_path / "landing"),
        "paths.truth": str(tmp_path / "truth"),
        "mlflow.tracking_uri": f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
        "mlflow.artifact_root": str(tmp_path / "mlflow" / "artifacts"),
        "spark.jars_dir": str(ROOT / ".jars"),
        # A few held-out posts on a small lake: the text floor would only decide whether text has a
        # champion (the gate is tested in test_text.py).
        "text.min_accuracy": 0.0,
    }
    base.update(overrides)
    return load_config(ROOT / "conf" / "local.yaml", overrides=base)


def local_conf_file(tmp_path: Path) -> Path:
    """A conf file for the CLI: conf/local.yaml with the lakehouse (and so the run log), the landing
    zone and the MLflow store under `tmp_path`. `make_config` is the in-process equivalent."""
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        f"extends: {ROOT / 'conf' / 'local.yaml'}\n"
        f"paths: {{lakehouse: {tmp_path / 'lake'}, landing: {tmp_path / 'landing'}, truth: {tmp_path / 'truth'}}}\n"
        f'mlflow: {{tracking_uri: "sqlite:///{tmp_path / "mlflow.db"}", artifact_root: {tmp_path / "artifacts"}}}\n'
        f"spark: {{jars_dir: {ROOT / '.jars'}}}\n",
        encoding="utf-8",
    )
    return conf


def write_landing(cfg: Config, source: str, date: dt.date, lines: list[str], name: str = "part-0.txt") -> Path:
    folder = Path(cfg.paths.landing) / source / f"date={date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


TINY_DATE = dt.date(2026, 11, 1)
TINY_DAYS = 75


def build_tiny_lake(spark, tmp: Path) -> tuple[Config, dict, dict]:
    """Every job, once, on a tiny generated lake under `tmp`: (config, ingest counts, trained models).

    generate -> ingest -> identity -> text -> features -> tags -> train -> score -> marts at TINY_DATE.
    """
    from portrait.pipeline import LAST_SCOPE, run_stage

    # The promotion floors are unit-tested (tests/test_models.py); at this tiny scale they would only
    # decide whether scoring has a champion, so they are off here.
    cfg = make_config(
        tmp,
        **{
            "train.max_evals": 2,
            "train.training_dates": 3,
            "train.kmeans_k": 4,
            "generator.days": TINY_DAYS,
            "train.min_auc": 0.0,
            "train.max_ece": 1.0,
            # 75 days of history: a 60-day churn window leaves one as-of date and,
            # at this scale, no churner in its test rows; 14 days after 30 active ones does.
            "train.churn_days": 14,
            "train.churn_lookback_days": 30,
        },
    )
    d = TINY_DATE
    from portrait import generator

    generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=0.003,
        seed=11,
        end_date=d,
        days=TINY_DAYS,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=0.005,
    )
    counts = run_stage("ingest", spark, cfg, d, start=d - dt.timedelta(days=TINY_DAYS - 1))
    for stage in ("identity", "text", "features", "tags"):
        run_stage(stage, spark, cfg, d)
    models = run_stage("train", spark, cfg, d)
    run_stage("score", spark, cfg, d)
    run_stage("marts", spark, cfg, d)
    # What each stage touched on the tiny lake (test_end_to_end checks it), not what a stage run
    # elsewhere in this process touched.
    STAGE_SCOPES.update(
        {s: LAST_SCOPE[s] for s in ("ingest", "identity", "text", "features", "tags", "train", "score", "marts")}
    )
    return cfg, counts, models


# The scope (`io.Scope`) of each stage's run on the tiny lake, filled by `build_tiny_lake`.
STAGE_SCOPES: dict = {}
