"""A job killed at a chosen commit, then rerun, writes the tables of one uninterrupted run (issue 26).

The fault suite (`make test-faults`) kills at random times; this kills at the commit that matters
most for a job whose rerun reads what its first run already changed: `identity` right after it has
merged day D into `silver.identity_map`. The rerun must start from the map the run before D left
(`silver.identity_runs`), or its change record (`silver.identity_history`) of D is lost. Found by
the fault suite: the rerun compared the merged map with itself and recorded no change."""

from __future__ import annotations

from pathlib import Path

import pytest
import tinylake

from portrait import catalog
from portrait.io import Lakehouse

pytestmark = [pytest.mark.slow]


def test_identity_killed_after_its_map_commit_reruns_to_the_uninterrupted_tables(spark, tiny_chain, tmp_path):
    """A SIGKILL of the job's process group at the moment Delta has the map's new version: a real kill
    of a real JVM, at a point the random kills of the fault suite reach only by chance."""
    after, _ = tiny_chain
    root = tmp_path / "killed"
    cfg = tinylake.copy_lake(after["ingest"], root)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    identity_map, version = lake.path(catalog.SILVER_IDENTITY_MAP), lake.version(catalog.SILVER_IDENTITY_MAP) + 1

    killed = tinylake.kill_on_commit(tinylake.start_cli(root, "identity"), Path(identity_map), version)
    assert killed, "identity ended before committing the map's next version: D changed no person?"
    done = tinylake.run_cli(root, "identity")
    assert done.code == 0, done.stderr[-3000:]

    compared = tinylake.assert_same_tables(spark, tinylake.conf_of(after["identity"]), cfg)
    assert "silver.identity_history" in compared and "silver.identity_map" in compared
