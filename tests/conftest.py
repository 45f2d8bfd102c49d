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


# Work units of `make test` (pytest-xdist groups), longest first: the reference chain's suites are one
# unit of about an hour on two cores, so it must start at once (xdist's default order, most tests
# first, left it for last: CI ran out of its 90 minutes with it still running). Within it the fault
# suite runs first, so a worker fetching its next unit (xdist does when two tests are left) does not
# queue a long unit behind it. Groups not named keep collection order after these.
LONGEST_FIRST = (
    "tiny_chain",
    "tiny_lake",
    "test_cluster",
    "test_identity_daily",
    "test_live",
    "test_loop_end_to_end",
    "test_erase",
)
CHAIN_ORDER = ("test_faults", "test_concurrency", "test_restart", "test_publication_poll", "test_refusals")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under `pytest -n 2 --dist loadgroup --no-loadscope-reorder` (make test): each module's tests
    run in one worker, so a module fixture is built once; every test of the session's tiny lake in
    one worker, and every test of the reference chain (faults, concurrency, publication poll,
    refusals) in one worker, so each is built once; the units ordered by `LONGEST_FIRST`. Runs
    before pytest-xdist reads the groups."""
    groups = {}
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is None:
            names = getattr(item, "fixturenames", ())
            group = next((f for f in ("tiny_lake", "tiny_chain") if f in names), item.module.__name__)
            item.add_marker(pytest.mark.xdist_group(group))
        else:
            group = marker.args[0] if marker.args else marker.kwargs.get("name", "")
        groups[item.nodeid] = group

    def rank(indexed):
        index, item = indexed
        group, module = groups[item.nodeid], item.module.__name__
        first = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
        within = CHAIN_ORDER.index(module) if module in CHAIN_ORDER else len(CHAIN_ORDER)
        return (first, within, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]


SLOW_PHASE_SECONDS = 60


def pytest_runtest_logreport(report):
    """Say each test phase over a minute as it ends (a fixture built in `setup` included), so a run cut
    off by CI's time limit still shows where its time went (`--durations` prints only at the end)."""
    terminal = _config.pluginmanager.get_plugin("terminalreporter") if _config is not None else None
    if report.duration > SLOW_PHASE_SECONDS and terminal is not None:
        import time

        worker = getattr(report, "node", None)
        where = f" on {worker.gateway.id}" if worker is not None else ""
        terminal.ensure_newline()
        terminal.write_line(
            f"[slow] {time.strftime('%H:%M:%S')} {report.nodeid} ({report.when}) {report.duration:.0f} s{where}"
        )


_config = None


def pytest_configure(config):
    global _config
    _config = config


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from portrait.config import SparkConfig
    from portrait.spark import get_session, set_checkpoint_dir

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
    # `pipeline.run_stage` sets the checkpoint directory of the lake a job runs on; a stage's `run`
    # called directly, as many tests do, checkpoints here until a job sets another.
    set_checkpoint_dir(session, str(tmp_path_factory.mktemp("checkpoints")), str(warehouse))
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
def tiny_base(spark, tmp_path_factory, worker_id):
    """The tiny lake through D-1, built in-process once per test run: under pytest-xdist in the
    folder both workers share (the parent of each worker's base temp), by whichever asks first while
    the other waits on a file lock (the fault suites in one worker, the cluster test in the other).
    Copies only read it (tinylake.copy_lake)."""
    import shutil

    import tinylake
    from filelock import FileLock

    basetemp = tmp_path_factory.getbasetemp()
    shared = basetemp if worker_id == "master" else basetemp.parent
    root, built = shared / "tiny-base", shared / "tiny-base.built"
    with FileLock(str(shared / "tiny-base.lock")):
        if not built.exists():
            shutil.rmtree(root, ignore_errors=True)
            tinylake.build_base(spark, root)
            built.touch()
    return root


@pytest.fixture(scope="session")
def tiny_chain(spark, tiny_base, tmp_path_factory):
    """The uninterrupted daily chain for D on a copy of the base, job by job in this process (the
    test session; each job through `pipeline.run_stage`, as the CLI runs it after its guards): the
    reference of the fault, concurrency, restart and poll tests, whose own runs go through the CLI.
    Six cold JVMs and CLI starts bought nothing here: the process boundary is what the suites that
    read this reference test, not the reference itself. Returns the folder after each job and the
    job's seconds in this (warm) process."""
    import time

    import tinylake

    from portrait.pipeline import run_stage

    work = tmp_path_factory.mktemp("chain")
    chain = work / "chain"
    cfg = tinylake.copy_lake(tiny_base, chain)
    after, seconds = {"base": tiny_base}, {}
    for job in tinylake.CHAIN:
        started = time.monotonic()
        run_stage(job, spark, cfg, tinylake.D)
        seconds[job] = time.monotonic() - started
        spark.catalog.clearCache()
        after[job] = work / f"after_{job}"
        tinylake.copy_lake(chain, after[job])
    return after, seconds


@pytest.fixture(scope="session")
def tiny_lake(spark, tmp_path_factory):
    """Every job run once on a tiny generated lake, shared by the whole session (end-to-end, notebook
    and report tests): (config, ingest counts, trained models). See helpers.build_tiny_lake."""
    from helpers import build_tiny_lake

    return build_tiny_lake(spark, tmp_path_factory.mktemp("e2e"))
