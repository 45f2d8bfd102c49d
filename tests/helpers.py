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
    }
    base.update(overrides)
    return load_config(ROOT / "conf" / "local.yaml", overrides=base)


def write_landing(cfg: Config, source: str, date: dt.date, lines: list[str], name: str = "part-0.txt") -> Path:
    folder = Path(cfg.paths.landing) / source / f"date={date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
