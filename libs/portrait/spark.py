"""The one place a SparkSession is built.

Under spark-submit or in a cluster notebook a session (and its JVM) already exists: we reuse it
and only set runtime SQL options. Locally we build one with Delta configured, bound to loopback,
with the Delta jars from `spark.jars_dir` (fetched by `make setup`) so that no network is needed.

Output: a session we build locally logs through the package's `log4j2.properties` (Spark's
warnings and the executor-heartbeat stack trace stay out of the output); `verbose=True` brings
them back. Under spark-submit the driver's JVM already runs, so its logging is set on the
spark-submit command line (the README shows how); we only lower the level. Two lines the local
JVM writes to its stderr outside log4j on every healthy start (`JVM_NOISE`) are left out too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from portrait import jars
from portrait.config import SparkConfig

_DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


# Runtime SQL options set on every session unless the conf sets them. Spark renders each query's
# plan as a string for its listeners; the iterative identity plans made one large enough to
# exhaust a 4 GiB driver heap (`make test`, OutOfMemoryError in QueryExecution.explainString).
_RUNTIME_DEFAULTS = {
    "spark.sql.maxPlanStringLength": "1000000",
}
# Static options set on every session we build unless the conf sets them (a session that already
# exists, e.g. a notebook's, keeps its own). PySpark's DataFrame debugging makes every Column and
# function call also walk the Python stack and make four more JVM calls to record its call site
# for error messages: 3x the driver time of building a plan. Set it true in `spark.conf` to debug.
_BUILD_DEFAULTS = {
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}


LOG4J2_CONFIG = Path(__file__).with_name("log4j2.properties")

# What a healthy local JVM writes to its own stderr, outside log4j: the launcher's notice that Spark
# adds the Vector API module, and netlib's probe for a system BLAS/LAPACK (Spark ML falls back to its
# Java implementation when there is none). Both are printed by native code, so log4j cannot mute
# them; `verbose=True` keeps them.
JVM_NOISE = re.compile(rb"^(WARNING: Using incubator modules: |netlib-\w+: JNI_OnLoad: dlopen\()")


def get_session(cfg: SparkConfig, *, verbose: bool = False) -> SparkSession:
    """Return the active session, or build a local one with Delta Lake configured.

    Args:
        cfg: the `spark` section of the config.
        verbose: when we build the session, keep Spark's WARN logs and the heartbeat trace.

    Raises:
        RuntimeError: if Delta Lake's classes are not on the classpath, saying how to add them.
    """
    active = SparkSession.getActiveSession()
    if active is None:
        active = _build(cfg, verbose=verbose)
    active.conf.set("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
    active.conf.set("spark.sql.session.timeZone", "UTC")
    for key, value in {**_RUNTIME_DEFAULTS, **cfg.conf}.items():
        if active.conf.isModifiable(key):  # static settings only take effect at build time
            active.conf.set(key, value)
    _check_delta(active)
    return active


def _java_log_options(verbose: bool) -> str:
    """JVM options pointing log4j2 at the package's configuration (see log4j2.properties)."""
    level, heartbeat = ("warn", "NEUTRAL") if verbose else ("error", "DENY")
    return (
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()} "
        f"-Dportrait.log.level={level} -Dportrait.log.heartbeat={heartbeat}"
    )


def _build(cfg: SparkConfig, *, verbose: bool = False) -> SparkSession:
    # Python workers must run the interpreter that has our packages; Spark binds to loopback
    # locally because the default is an address on the external interface.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.app_name)
    settings = {**_DELTA_CONF, **_BUILD_DEFAULTS, **cfg.conf}
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Launched by spark-submit: its --master, --jars/--packages and --conf rule; the conf
        # file's local settings (master, jars_dir) must not override them.
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN" if verbose else "ERROR")
        return session
    if cfg.master:
        builder = builder.master(cfg.master)
        if cfg.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = (
                builder.config("spark.driver.host", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
            )
    if cfg.jars_dir:
        paths = jars.jar_paths(cfg.jars_dir)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise RuntimeError(
                f"Delta Lake jars missing: {', '.join(missing)}. Run `make setup` "
                f"(or `python -m portrait.jars fetch {cfg.jars_dir}`)."
            )
        builder = builder.config("spark.jars", ",".join(str(p) for p in paths))
    extra = settings.get("spark.driver.extraJavaOptions", "")
    settings["spark.driver.extraJavaOptions"] = f"{_java_log_options(verbose)} {extra}".strip()
    for key, value in settings.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    with contextlib.nullcontext() if verbose else _jvm_stderr_without(JVM_NOISE):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN" if verbose else "ERROR")
    return session


@contextlib.contextmanager
def _jvm_stderr_without(noise: re.Pattern[bytes]) -> Iterator[None]:
    """While the JVM is launched, file descriptor 2 is a pipe, which the JVM keeps as its stderr for
    life; a daemon thread copies its lines to our stderr, without those `noise` matches."""
    read, write = os.pipe()
    ours = os.dup(2)  # stays open: the copying thread writes to it for as long as the JVM lives
    sys.stderr.flush()
    os.dup2(write, 2)
    os.close(write)
    threading.Thread(target=forward_lines, args=(read, ours, noise), name="jvm-stderr", daemon=True).start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(ours, 2)


def forward_lines(source: int, target: int, noise: re.Pattern[bytes]) -> None:
    """Copy the lines read from file descriptor `source` to `target` until end of file, but those
    `noise` matches; closes `source`."""
    with os.fdopen(source, "rb") as lines:
        for line in lines:
            rest = b"" if noise.match(line) else memoryview(line)
            while rest:
                rest = rest[os.write(target, rest) :]


def _check_delta(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the only way to probe the classpath
    try:
        jvm.java.lang.Class.forName(
            "io.delta.tables.DeltaTable", True, jvm.Thread.currentThread().getContextClassLoader()
        )
    except Exception as exc:  # py4j wraps ClassNotFoundException in its own error type
        coords = ",".join(f"{g}:{a}:{v}" for g, a, v in jars.delta_artifacts())
        raise RuntimeError(
            "Delta Lake is not on this Spark session's classpath. Pass "
            f"`--packages {coords}` (or `--jars` with the files from `make setup`) to spark-submit."
        ) from exc


def truncate(df: DataFrame) -> DataFrame:
    """`df` computed once and its plan cut: a reliable checkpoint to the SparkContext's checkpoint
    directory (shared storage on a cluster; the pipeline sets it from `spark.checkpoint_dir` when a
    stage opens the lakehouse), a local checkpoint only when none is set (its blocks die with an
    executor)."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def cores(spark: SparkSession) -> int:
    """The partitions a small iterative fit reads (`spark.default.parallelism`: the session's cores
    unless the conf sets it, as `conf/cluster.yaml` does). Each of a fit's many Spark jobs costs per
    task, whether a partition holds ten rows or ten thousand."""
    return spark.sparkContext.defaultParallelism


def per_core(df: DataFrame) -> DataFrame:
    """`df` in `cores` partitions (a narrow `coalesce`: persist the input first when it is costly)."""
    return df.coalesce(cores(df.sparkSession))


def set_checkpoint_dir(spark: SparkSession, checkpoint_dir: str | None, lakehouse: str) -> None:
    """The reliable checkpoint directory: `spark.checkpoint_dir` from the conf, else `<lakehouse>/_checkpoints`."""
    spark.sparkContext.setCheckpointDir(checkpoint_dir or f"{str(lakehouse).rstrip('/')}/_checkpoints")
