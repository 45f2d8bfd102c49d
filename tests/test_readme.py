"""The README's quickstart commands exist as Makefile targets."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT, TINY_DATE


def test_the_quickstart_commands_are_makefile_targets():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make ([a-z][\w-]*)", "\n".join(re.findall(r"```bash\n(.*?)```", quickstart, re.S)), re.M)
    assert {"demo", "test"} <= set(commands)
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    assert set(commands) <= targets, set(commands) - targets


@pytest.mark.slow
def test_the_readme_reads_a_published_table_without_spark(spark, tiny_lake):
    """The downstream reader's snippet: deltalake -> Arrow -> DuckDB, offline."""
    import deltalake
    import duckdb
    from pyspark.sql import functions as F

    from portrait import catalog
    from portrait.io import Lakehouse

    cfg, _, _ = tiny_lake
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    actions = deltalake.DeltaTable(lake.path(catalog.GOLD_NEXT_ACTIONS_DAILY)).to_pyarrow_dataset()  # noqa: F841
    got = dict(
        duckdb.sql("SELECT action, count(*) FROM actions WHERE date = DATE '2026-11-01' GROUP BY ALL").fetchall()
    )
    want = {
        r["action"]: r["count"]
        for r in lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY)
        .where(F.col("date") == F.lit(TINY_DATE))
        .groupBy("action")
        .count()
        .collect()
    }
    assert got == want and sum(got.values()) > 100
