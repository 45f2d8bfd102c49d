"""The README's quickstart commands exist as Makefile targets, and work one after the other."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, TINY_DATE


def test_the_quickstart_commands_are_makefile_targets():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make ([a-z][\w-]*)", "\n".join(re.findall(r"```bash\n(.*?)```", quickstart, re.S)), re.M)
    assert {"demo", "test"} <= set(commands)
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    assert set(commands) <= targets, set(commands) - targets


def test_lint_passes_in_a_clone_where_the_demo_ran(tmp_path):
    """`make demo` then `make test` in one clone: the demo leaves ./mlflow, ./lakehouse, ./landing,
    ./truth and ./reports at the root, and the lint (ruff's first-party detection) must not change
    with them. The sources are copied next to those folders and checked as `make lint` checks them."""
    for folder in ("libs", "tests", "bench", "jobs"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for left_by_demo in ("mlflow/artifacts", "lakehouse", "landing", "truth", "reports"):
        (tmp_path / left_by_demo).mkdir(parents=True)
    ruff = str(Path(sys.executable).with_name("ruff"))
    checked = subprocess.run([ruff, "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


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


@pytest.mark.slow
def test_the_readme_queries_every_mart_without_spark(tiny_lake):
    """The README's DuckDB query of each mart, run as written on the tiny lake: each returns rows."""
    import ast

    cfg, _, _ = tiny_lake
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme[readme.index("The marts carry no deletion vectors") :]
    block = after[after.index("```python\n") + len("```python\n") : after.index("```\n", after.index("```python"))]
    block = block.replace('f"lakehouse/gold/{name}"', f'f"{cfg.paths.lakehouse}/gold/{{name}}"')
    tree = ast.parse(block)
    # Each query the snippet states is kept, to be fetched: `duckdb.sql(...)` as a statement -> results.
    tree.body = [
        ast.Expr(ast.Call(ast.Attribute(ast.Name("results", ast.Load()), "append", ast.Load()), [s.value], []))
        if isinstance(s, ast.Expr)
        else s
        for s in tree.body
    ]
    results: list = []
    exec(compile(ast.fix_missing_locations(tree), "README.md", "exec"), {"results": results})
    assert len(results) == 5
    assert all(r.fetchall() for r in results), [r.sql_query() for r in results if not r.fetchall()]
