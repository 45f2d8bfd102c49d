"""Lineage of a training run: the Delta versions it read, the code version and a hash of the resolved config."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

from portrait import catalog
from portrait.config import Config
from portrait.io import Lakehouse

# The tables training reads: their versions are tagged on every run and model version.
INPUTS = (
    catalog.SILVER_EVENTS,
    catalog.SILVER_ORDERS,
    catalog.SILVER_SOCIAL,
    catalog.SILVER_CUSTOMERS,
    catalog.SILVER_SOCIAL_SIGNALS,  # text features, when the text job has run
    catalog.GOLD_PORTRAIT,
)


def table_versions(lake: Lakehouse, date: dt.date) -> dict[str, str]:
    """The as-of date and the Delta version of every table training reads (run and version tags)."""
    tags = {"portrait.as_of_date": date.isoformat()}
    for name in INPUTS:
        tags[f"delta_version.{name}"] = str(lake.version(name)) if lake.exists(name) else "absent"
    return tags


def code_version() -> dict[str, str]:
    """The git commit of the package's checkout and whether it had uncommitted changes to tracked
    files; the installed package version when it is not a git checkout (or git is missing)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.SubprocessError):
        return {"code_version": f"portrait=={metadata.version('portrait')}", "code_dirty": "unknown"}
    return {"code_version": sha, "code_dirty": str(dirty).lower()}


def config_sha256(cfg: Config) -> str:  # `train.RunConf.of` records it for `train.run`
    """SHA-256 of the resolved config (`model_dump`, JSON with sorted keys)."""
    text = json.dumps(cfg.model_dump(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
