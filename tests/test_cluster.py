"""The daily chain on a real Spark standalone cluster (one master, two one-core workers on loopback).

Two consecutive days run through `spark-submit --master spark://127.0.0.1:<port>` with a cluster
conf (no `spark.master`, a shared checkpoint directory): the first one job per submit, the second
the whole daily chain in one submit (`backfill` of one date); the same days run locally in the
test session. The silver tables, the portrait and the three published tables must hold the same rows.
Both lakes score with one champion: the models are trained once, locally, into the MLflow store both
confs name (train is weekly; two trainings on differently partitioned data need not give one model).
The test stops only the processes it started.
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
import yaml
from helpers import ROOT
from pyspark.testing import assertDataFrameEqual

from portrait import backfill, catalog
from portrait.config import load_config
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # `make test-heavy`

D = dt.date(2026, 11, 1)
HISTORY_DAYS = 20
DAYS = (D - dt.timedelta(days=1), D)
JOBS = ("ingest", "identity", "text", "features", "tags")
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
# A tiny training (as tests/tinylake.py): one trial, two as-of dates, no floors.
TRAIN = {
    "max_evals": 1,
    "training_dates": 2,
    "training_step_days": 3,
    "kmeans_k": 3,
    "horizon_days": 5,
    "churn_days": 5,
    "churn_lookback_days": 10,
    "min_auc": 0.0,
    "max_ece": 1.0,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _conf(tmp: Path, name: str, *, cluster: bool) -> Path:
    """A conf extending conf/local.yaml with its own lakehouse (shared landing and MLflow store)."""
    doc = {
        "extends": str(ROOT / "conf" / "local.yaml"),
        "paths": {
            "lakehouse": str(tmp / name / "lakehouse"),
            "landing": str(tmp / "landing"),
            "truth": str(tmp / "truth"),
        },
        "mlflow": {
            "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
            "artifact_root": str(tmp / "artifacts"),
            "experiment": "portrait",
        },
        "train": TRAIN,
        "spark": {
            "jars_dir": str(ROOT / ".jars"),
            "shuffle_partitions": 4,
            "checkpoint_dir": str(tmp / name / "checkpoints"),
        },
        "generator": {"days": HISTORY_DAYS},
    }
    if cluster:
        doc["spark"]["master"] = None
    path = tmp / f"{name}.yaml"
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


def test_the_daily_chain_on_a_standalone_cluster_publishes_what_a_local_run_does(spark, standalone, tmp_path):
    from portrait import generator

    local_conf, cluster_conf = _conf(tmp_path, "local", cluster=False), _conf(tmp_path, "cluster", cluster=True)
    cfg = load_config(local_conf)
    generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=0.002,
        seed=5,
        end_date=D,
        days=HISTORY_DAYS,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=0.0,
    )
    first = D - dt.timedelta(days=HISTORY_DAYS - 1)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    # Day D-1, one job per spark-submit as a scheduler runs them (ingest loads the history too).
    run_stage("ingest", spark, cfg, DAYS[0], start=first)
    for stage in JOBS[1:]:
        run_stage(stage, spark, cfg, DAYS[0])
    for job in JOBS:
        _submit(standalone, cluster_conf, job, DAYS[0], *(("--start", first.isoformat()) if job == "ingest" else ()))
    run_stage("train", spark, cfg, DAYS[0])  # the champions both lakes score with
    run_stage("score", spark, cfg, DAYS[0])
    _submit(standalone, cluster_conf, "score", DAYS[0])
    # Day D, the whole daily chain in one spark-submit (`backfill` of one date) against the same locally.
    backfill.run(spark, cfg, D, D)
    _submit(standalone, cluster_conf, "backfill", None, "--from", D.isoformat(), "--to", D.isoformat())

    remote = Lakehouse(spark, load_config(cluster_conf).paths.lakehouse)
    assert Path(load_config(cluster_conf).spark.checkpoint_dir).is_dir()  # reliable checkpoints went there
    for table in COMPARED:
        got, want = remote.read(table), lake.read(table)
        if table == catalog.SILVER_SOCIAL_SIGNALS:  # two trainings of one model: the same rows, other ids
            got, want = got.drop("model_version"), want.drop("model_version")
        assertDataFrameEqual(got, want)
