"""A tiny generated lake for the fault, concurrency and publication tests (issue 15).

`build_base` generates ~24 days of landing data at scale 0.002 and runs the whole chain in-process
up to D-1 (ingest, identity, text, features, train, score): the state a daily run for D starts
from. The landing zone already holds D's files. Tests copy the base (`copy_lake`) and run the jobs
for D on the copies, as a scheduler would (`run_cli`: `python -m portrait.cli <job>` in its own
process group, so that a SIGKILL of the group kills its JVM too).

Everything of the base lives under one folder (lakehouse, landing, truth, mlflow, conf.yaml). A
copy has its own lakehouse, truth, MLflow store and conf but reads the base's landing zone, as
every run of a deployment reads the one landing zone upstream writes to: ingest names a landed
file by its absolute path, so in a copied landing zone every file of `ingest.late_lookback_days`
would be new (re-ingested as late), and a job that finished before its planned kill would log
another run than its rerun. The MLflow store of a copy records its artifact location under the
base folder: copies read the base's model artifacts and write new runs' artifacts there under new
run ids (never the same path).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, keyguard
from portrait.config import Config, load_config
from portrait.io import Lakehouse

D = dt.date(2026, 11, 1)
DAYS = 24
# The daily chain for D, job by job, as a scheduler runs it.
CHAIN = ("ingest", "identity", "text", "features", "train", "score")
SCALE = 0.002
# Columns that legitimately differ between an uninterrupted run and a killed-and-rerun one: ids and
# clocks of runs, MLflow registry versions (a killed train may have registered a version before it
# died), Delta versions named by the publication marker (a killed run may have committed a table).
VOLATILE_COLUMNS = frozenset(
    {
        "run_id",
        "ingested_at",
        "published_at",
        "recorded_at",
        "created_at",
        "requested_at",
        "scored_at",
        "segment_model_version",
        "propensity_model_version",
        "churn_model_version",
        "model_version",
        "text_model_version",
        "segments_daily_version",
        "propensity_daily_version",
        "next_actions_daily_version",
    }
)
# Per-run logs: one row per run (a killed run may have logged before it died): compared as sets.
LOG_TABLES = frozenset({catalog.BRONZE_INGEST_AUDIT, catalog.BRONZE_INGEST_FILES})


def _conf_text(root: Path, landing: Path) -> str:
    """The tiny lake's conf. Few persons are scored and `train` retrains on D with one trial:
    the PSI of D's scores against D-1's is noise there (0.49 measured), so the gate's drift check is
    opened wide; the gate's own tests are in test_scoring.py. The text model is measured on 8 held-out
    posts (topic accuracy 0.375): its floor is off too (its gate is tested in test_text.py).

    Its Spark settings are the test session's (conftest `spark`: `local[2]`, 4 shuffle partitions):
    the reference chain runs in the test process and the suites' jobs in CLI processes, and a model
    trained on other partitions is another model (the GBT subsamples per partition). With `local[1]`
    and 2 partitions, a killed `train` promoted a model the reference never trained, and every score
    after it differed (the fault suite's first run in `make test`)."""
    return f"""extends: {ROOT / "conf" / "local.yaml"}
paths: {{lakehouse: {root / "lakehouse"}, landing: {landing}, truth: {root / "truth"}}}
mlflow: {{tracking_uri: "sqlite:///{root / "mlflow" / "mlflow.db"}", artifact_root: {root / "mlflow" / "artifacts"}}}
spark:
  master: local[2]
  shuffle_partitions: 4
  jars_dir: {ROOT / ".jars"}
  conf: {{spark.driver.memory: 2g, spark.ui.enabled: "false", spark.databricks.delta.snapshotPartitions: "1"}}
generator: {{days: {DAYS}, scale: {SCALE}}}
train: {{max_evals: 1, training_dates: 2, training_step_days: 3, kmeans_k: 3, horizon_days: 5, churn_days: 5,
         churn_lookback_days: 10, min_auc: 0.0, max_ece: 1.0}}
score: {{gate: {{max_psi: 1000.0}}}}
text: {{min_accuracy: 0.0}}
"""


def write_conf(root: Path, landing: Path | None = None) -> Config:
    """Write `root/conf.yaml` (every path under `root`, the landing zone too unless `landing` is
    given) and load it."""
    (root / "conf.yaml").write_text(_conf_text(root, landing or root / "landing"), encoding="utf-8")
    return conf_of(root)


def conf_of(root: Path) -> Config:
    """The conf of the lake at `root` (the base's or a copy's)."""
    return load_config(root / "conf.yaml")


def build_base(spark: SparkSession, root: Path) -> Config:
    """Generate the landing zone through D and run the whole chain in-process through D-1."""
    from portrait import generator
    from portrait.pipeline import run_stage

    root.mkdir(parents=True, exist_ok=True)
    cfg = write_conf(root)
    prev = D - dt.timedelta(days=1)
    keyguard.check_pii_key(Lakehouse(spark, cfg.paths.lakehouse), cfg.pii_key(), job="ingest")  # as the CLI does
    generator.generate(
        spark,
        landing=cfg.paths.landing,
        truth=cfg.paths.truth,
        scale=SCALE,
        seed=5,
        end_date=D,
        days=DAYS,
        horizon_days=cfg.train.horizon_days,
        dirty_fraction=0.005,
    )
    run_stage("ingest", spark, cfg, prev, start=D - dt.timedelta(days=DAYS - 1))
    for stage in ("identity", "text", "features", "train", "score"):
        run_stage(stage, spark, cfg, prev)
    return cfg


def copy_lake(base: Path, dest: Path) -> Config:
    """A copy of the base folder with its own conf, reading the base's landing zone (see the module
    docstring)."""
    shutil.copytree(base, dest, ignore=lambda folder, names: ["conf.yaml", "landing"] if Path(folder) == base else [])
    return write_conf(dest, landing=Path(conf_of(base).paths.landing))


def cli_command(root: Path, job: str, date: dt.date = D, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "portrait.cli",
        job,
        "--conf",
        str(root / "conf.yaml"),
        "--date",
        date.isoformat(),
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTRAIT_PII_KEY"}  # the demo key, as the base used
    env.update(extra)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "libs"), str(ROOT / "tests")]),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


def start_cli(
    root: Path, job: str, *extra: str, date: dt.date = D, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start a job in its own session (process group), output captured; `env` adds variables."""
    return subprocess.Popen(
        cli_command(root, job, date, *extra),
        env=_env(**(env or {})),
        cwd=root,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(
    root: Path, job: str, *extra: str, date: dt.date = D, timeout: float = 900, env: dict[str, str] | None = None
) -> Finished:
    started = time.monotonic()
    proc = start_cli(root, job, *extra, date=date, env=env)
    out, err = proc.communicate(timeout=timeout)
    return Finished(proc.returncode, out, err, time.monotonic() - started)


# What a job started through the CLI pays before its stage: the process, the package's imports, a
# cold JVM with its session and a first Spark job.
_STARTUP = (
    "import sys; from portrait.config import load_config; from portrait.spark import get_session; "
    "import portrait.cli, mlflow; get_session(load_config(sys.argv[1]).spark).range(1).count()"
)


def startup_seconds(root: Path) -> float:
    """Seconds from a process's start to its session's first Spark job, on the lake at `root`."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP, str(root / "conf.yaml")],
        env=_env(),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return time.monotonic() - started


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL the whole process group of `proc` after `seconds`; False if it had finished by then."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return True


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def kill_on_commit(proc: subprocess.Popen, table: Path, version: int, timeout: float = 900) -> bool:
    """SIGKILL the whole process group of `proc` as soon as the Delta table at `table` has committed
    `version`; False if the job ended first (then it did not commit that version)."""
    log = table / "_delta_log" / f"{version:020d}.json"
    deadline = time.monotonic() + timeout
    while not log.exists():
        if proc.poll() is not None:
            proc.communicate()
            return False
        if time.monotonic() > deadline:
            raise TimeoutError(f"{log} was not committed within {timeout} s")
        time.sleep(0.02)
    _kill_group(proc)
    return True


def _comparable(df: DataFrame, *, as_set: bool) -> DataFrame:
    kept = df.drop(*[c for c in df.columns if c in VOLATILE_COLUMNS])
    return kept.distinct() if as_set else kept


def assert_same_tables(spark: SparkSession, expected: Config, got: Config) -> list[str]:
    """Every table of the catalog equals in both lakes, row for row, but for `VOLATILE_COLUMNS` (and
    per-run log tables compared as sets of rows). Returns the names of the tables compared; fails
    naming every table that differs."""
    a, b = Lakehouse(spark, expected.paths.lakehouse), Lakehouse(spark, got.paths.lakehouse)
    compared, differ = [], []
    for table in catalog.ALL:
        assert a.exists(table) == b.exists(table), f"{table} exists in one lake only"
        if not a.exists(table):
            continue
        as_set = table in LOG_TABLES
        left, right = _comparable(a.read(table), as_set=as_set), _comparable(b.read(table), as_set=as_set)
        assert sorted(left.columns) == sorted(right.columns), f"{table}: columns differ"
        try:
            assertDataFrameEqual(right.select(*left.columns), left)
        except AssertionError as exc:  # every table is compared: one run names all that differ
            differ.append(f"{table} differs from the uninterrupted run: {str(exc)[:2000]}")
        compared.append(table.full_name)
    assert not differ, f"{len(differ)} tables differ:\n" + "\n".join(differ)
    return compared
