"""Refusals through the CLI (issue 15): a date beyond the data (exit 4, naming the latest date; skipped
with --allow-empty) and another PII key (exit 3, naming the remedy), on the tiny lake; nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
import tinylake

from portrait import catalog
from portrait.exits import ExitCode
from portrait.io import Lakehouse

pytestmark = [pytest.mark.slow]

NEXT_YEAR = tinylake.D + dt.timedelta(days=365)


def test_score_and_features_refuse_next_year_and_skip_it_when_allowed(spark, tiny_chain, tmp_path):
    """The refusal's exit code and one line through the real CLI process, on a lake where every stage has run."""
    after, _ = tiny_chain
    root = tmp_path / "lake"
    cfg = tinylake.copy_lake(after["score"], root)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    before = {t: lake.version(t) for t in (catalog.GOLD_PORTRAIT, *catalog.PUBLISHED)}

    refused = tinylake.run_cli(root, "score", date=NEXT_YEAR)
    assert refused.code == ExitCode.DATE_BEYOND_DATA, refused.stderr[-2000:]
    assert f"the latest date in gold.portrait is {tinylake.D}" in refused.stderr.strip().splitlines()[-1]
    refused = tinylake.run_cli(root, "features", date=NEXT_YEAR)
    assert refused.code == ExitCode.DATE_BEYOND_DATA, refused.stderr[-2000:]
    assert f"is {tinylake.D}" in refused.stderr.strip().splitlines()[-1]
    skipped = tinylake.run_cli(root, "score", "--allow-empty", date=NEXT_YEAR)
    assert skipped.code == 0 and "skipped, no data" in skipped.stdout, skipped.stderr[-2000:]
    assert {t: lake.version(t) for t in before} == before  # nothing was written


def test_a_job_with_another_pii_key_refuses(spark, tiny_chain, tmp_path):
    """The PII key check through the real CLI process and its environment, on a lake where every stage has run."""
    after, _ = tiny_chain
    root = tmp_path / "lake"
    cfg = tinylake.copy_lake(after["score"], root)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    before = lake.version(catalog.BRONZE_CLICKSTREAM)
    refused = tinylake.run_cli(root, "ingest", env={"PORTRAIT_PII_KEY": "another-key"})
    assert refused.code == ExitCode.KEY_MISMATCH, refused.stderr[-2000:]
    assert "re-key on purpose by a rebuild" in refused.stderr.strip().splitlines()[-1]
    assert lake.version(catalog.BRONZE_CLICKSTREAM) == before
