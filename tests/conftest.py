"""One SparkSession for the whole test run (local[2], Delta, few shuffle partitions, UI off)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# A pytest-xdist worker's __main__ (execnet's) has neither __spec__ nor __file__, which PySpark's
# pyspark.sql.connect.utils.check_dependencies takes for a doctest run and answers with sys.exit(0)
# (reached through mlflow.spark.log_model's import of pyspark.ml.connect): name the worker's main.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under `pytest -n 2 --dist loadgroup` (make test): each module's tests run in one worker, so a
    module fixture is built once; every test of the session's tiny lake in one worker, and every test
    of the reference chain (faults, concurrency, publication poll, refusals) in one worker, so each
    is built once. Runs before pytest-xdist reads the groups."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            names = getattr(item, "fixturenames", ())
            group = next((f for f in ("tiny_lake", "tiny_chain") if f in names), item.module.__name__)
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from portrait.config import SparkConfig
    from portrait.spark import get_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = get_session(
        SparkConfig(
            app_name="portrait-tests",
            master="local[2]",
            shuffle_partitions=4,
            jars_dir=str(ROOT / ".jars"),
            conf={
                "spark.sql.warehouse.dir": str(warehouse),
                "spark.driver.memory": "6g",
                "spark.databricks.delta.snapshotPartitions": "2",
                "spark.sql.adaptive.enabled": "true",
            },
        )
    )
    yield session
    session.stop()


@pytest.fixture()
def mlflow_store(tmp_path):
    """A fresh SQLite MLflow tracking store and registry under the test's folder, unset afterwards."""
    import mlflow

    from portrait import registry
    from portrait.config import MlflowConfig

    registry.configure(
        MlflowConfig(
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            experiment="tests",
            artifact_root=f"file:{tmp_path / 'artifacts'}",
        )
    )
    yield
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(autouse=True)
def _restore_logging():
    """`portrait.cli.main` configures the root logger (`basicConfig(force=True)`) with the stderr of
    the moment, which under pytest is a capture file closed after the test: put the root logger's
    handlers and level back, so later tests' log records do not go to a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


# --- issue 15: one tiny lake for the fault, concurrency and publication tests (tests/tinylake.py) ---
@pytest.fixture(scope="session")
def tiny_base(spark, tmp_path_factory):
    """The tiny lake through D-1, built in-process once per test run."""
    import tinylake

    root = tmp_path_factory.mktemp("tiny") / "base"
    tinylake.build_base(spark, root)
    return root


@pytest.fixture(scope="session")
def tiny_chain(tiny_base, tmp_path_factory):
    """The uninterrupted daily chain for D on a copy of the base, run job by job through the CLI:
    the reference of the fault and concurrency tests. Returns the folder after each job and the
    job's wall time in seconds."""
    import tinylake

    work = tmp_path_factory.mktemp("chain")
    chain = work / "chain"
    tinylake.copy_lake(tiny_base, chain)
    after, seconds = {"base": tiny_base}, {}
    for job in tinylake.CHAIN:
        done = tinylake.run_cli(chain, job)
        assert done.code == 0, f"{job} failed on the reference chain:\n{done.stderr[-3000:]}"
        seconds[job] = done.seconds
        after[job] = work / f"after_{job}"
        tinylake.copy_lake(chain, after[job])
    return after, seconds


@pytest.fixture(scope="session")
def tiny_lake(spark, tmp_path_factory):
    """Every job run once on a tiny generated lake, shared by the whole session (end-to-end, notebook
    and report tests): (config, ingest counts, trained models). See helpers.build_tiny_lake."""
    from helpers import build_tiny_lake

    return build_tiny_lake(spark, tmp_path_factory.mktemp("e2e"))
