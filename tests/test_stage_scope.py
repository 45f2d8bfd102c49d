"""A stage's lakehouse refuses any table its declaration does not name (issue 31): reads, writes,
MERGEs and time-travel reads all ask `Lakehouse.path` or a write method first, before any data is
touched; the error names the stage, the table and the remedy."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable

from portrait import catalog
from portrait.io import Lakehouse, UndeclaredTable


def test_a_stage_touching_an_undeclared_table_is_refused_before_any_data_is_touched(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path)).scoped("tags", inputs=(catalog.GOLD_PORTRAIT,), outputs=(catalog.GOLD_TAGS,))
    rows = spark.createDataFrame([(1,)], "x int")

    assert not lake.exists(catalog.GOLD_PORTRAIT)  # a declared input: allowed
    with pytest.raises(UndeclaredTable, match=r"stage tags reads silver\.orders, which its INPUTS do not declare"):
        lake.read(catalog.SILVER_ORDERS)
    with pytest.raises(UndeclaredTable, match=r"stage tags reads silver\.orders"):
        DeltaTable.forPath(spark, lake.path(catalog.SILVER_ORDERS))  # a MERGE or time travel starts here
    with pytest.raises(UndeclaredTable, match=r"stage tags writes gold\.portrait, which its OUTPUTS do not declare"):
        lake.overwrite(rows, catalog.GOLD_PORTRAIT)  # an input is not an output
    assert not (tmp_path / "gold").exists() and not (tmp_path / "silver").exists()

    assert lake.scope is not None
    assert lake.scope.touched == {"gold.portrait": {"read", "write"}, "silver.orders": {"read"}}
    # Outside a stage (tools, tests) the lakehouse is not scoped.
    assert Lakehouse(spark, str(tmp_path)).path(catalog.SILVER_ORDERS).endswith("silver/orders")
