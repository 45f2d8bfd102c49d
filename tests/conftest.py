"""One SparkSession for the whole test run (local[2], Delta, few shuffle partitions, UI off)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from portrait.config import SparkConfig
    from portrait.spark import get_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = get_session(SparkConfig(
        app_name="portrait-tests", master="local[2]", shuffle_partitions=4, jars_dir=str(ROOT / ".jars"),
        conf={
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.memory": "6g",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.adaptive.enabled": "true",
        },
    ))
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _clean_session(request):
    """Drop temp views and cached data between tests so that tests cannot lean on each other."""
    yield
    if "spark" in request.fixturenames:
        session = request.getfixturevalue("spark")
        session.catalog.clearCache()
        for view in session.catalog.listTables():
            if view.isTemporary:
                session.catalog.dropTempView(view.name)


@pytest.fixture(scope="session")
def tiny_lake(spark, tmp_path_factory):
    """Every job run once on a tiny generated lake, shared by the whole session (end-to-end, notebook
    and report tests): (config, ingest counts, trained models). See helpers.build_tiny_lake."""
    from helpers import build_tiny_lake

    return build_tiny_lake(spark, tmp_path_factory.mktemp("e2e"))
