"""The daily chain on a real Spark standalone cluster (one master, two one-core workers on loopback).

The cluster starts from the shared tiny lake through D-1 (`tiny_base`: every stage has run, the
champions are registered) and runs day D whole in one `spark-submit --master spark://127.0.0.1:<port>`
(`backfill` of one date: ingest, identity, text, features, tags, score, evaluate) with a cluster conf
(no `spark.master`, a shared checkpoint directory); a second copy of the same base runs day D
locally in the test session. Both copies score with the base's champions (train is weekly and not
part of the chain), so the silver tables, the portrait, the tags and the three published tables
must hold the same rows. The test stops only the processes it started.

What only it proves: the jobs run unchanged on executors in other JVMs (Python workers started by
Spark on each worker, reliable checkpoints on shared storage, the Delta jars passed by
`spark-submit`), which no local session exercises.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tinylake
import yaml
from helpers import ROOT
from pyspark.testing import assertDataFrameEqual

from portrait import backfill, catalog
from portrait.config import load_config
from portrait.io import Lakehouse

pytestmark = [pytest.mark.slow]

D = tinylake.D
COMPARED = (
    catalog.SILVER_IDENTITY_MAP,
    catalog.SILVER_EVENTS,
    catalog.SILVER_ORDERS,
    catalog.SILVER_SOCIAL,
    catalog.SILVER_SOCIAL_SIGNALS,
    catalog.GOLD_PORTRAIT,
    catalog.GOLD_TAGS,
    *catalog.PUBLISHED,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _cluster_conf(root: Path) -> Path:
    """The copy's conf as a cluster profile: no `spark.master` (spark-submit gives it), checkpoints
    in a directory every JVM of the cluster reaches (shared storage on a real cluster)."""
    doc = {
        "extends": str(root / "conf.yaml"),
        "spark": {"master": None, "shuffle_partitions": 2, "checkpoint_dir": str(root / "checkpoints")},
    }
    path = root / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A master and two one-core workers on 127.0.0.1; yields the master URL; stops exactly them."""
    tmp = tmp_path_factory.mktemp("cluster")
    home = _spark_home()
    port, ui = _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(tmp),
        "SPARK_WORKER_DIR": str(tmp / "work"),
    }
    cls = str(home / "bin" / "spark-class")
    started: list[subprocess.Popen] = []
    try:
        started.append(
            subprocess.Popen(
                [
                    cls,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                ],
                env=env,
                stdout=open(tmp / "master.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        for i in range(2):
            started.append(
                subprocess.Popen(
                    [
                        cls,
                        "org.apache.spark.deploy.worker.Worker",
                        f"spark://127.0.0.1:{port}",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "1",
                        "--memory",
                        "1g",
                        "--webui-port",
                        str(_free_port()),
                        "--work-dir",
                        str(tmp / f"work{i}"),
                    ],
                    env=env,
                    stdout=open(tmp / f"worker{i}.log", "w"),
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as r:
                    if json.load(r).get("aliveworkers", 0) >= 2:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standalone cluster did not start: see {tmp}")
            time.sleep(2)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for proc in started:
            proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _submit(master: str, conf: Path, job: str, day: dt.date | None, *extra: str) -> None:
    jars = ",".join(str(p) for p in sorted((ROOT / ".jars").glob("*.jar")))
    pythonpath = f"{ROOT / 'libs'}{os.pathsep}{ROOT}"
    cmd = [
        str(_spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--jars",
        jars,
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.executorEnv.PYTHONPATH={pythonpath}",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        str(ROOT / "jobs" / f"{job}.py"),
        "--conf",
        str(conf),
        *(("--date", day.isoformat()) if day else ()),
        *extra,
    ]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": pythonpath, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{job} {day} on the cluster failed:\n{done.stderr[-4000:]}"


def test_the_daily_chain_on_a_standalone_cluster_publishes_what_a_local_run_does(
    spark, tiny_base, standalone, tmp_path
):
    """Day D through one `spark-submit` on the cluster equals day D run locally, table for table."""
    local = tinylake.copy_lake(tiny_base, tmp_path / "local")
    tinylake.copy_lake(tiny_base, tmp_path / "cluster")
    cluster_conf = _cluster_conf(tmp_path / "cluster")
    backfill.run(spark, local, D, D)
    _submit(standalone, cluster_conf, "backfill", None, "--from", D.isoformat(), "--to", D.isoformat())

    cluster = load_config(cluster_conf)
    assert Path(cluster.spark.checkpoint_dir).is_dir()  # reliable checkpoints went there
    remote, lake = Lakehouse(spark, cluster.paths.lakehouse), Lakehouse(spark, local.paths.lakehouse)
    for table in COMPARED:
        got, want = remote.read(table), lake.read(table)
        if table == catalog.SILVER_SOCIAL_SIGNALS:  # a text model retrained in each copy: other ids
            got, want = got.drop("model_version"), want.drop("model_version")
        assertDataFrameEqual(got, want)
