"""Delta Lake's JVM jars: which ones this install needs, and fetching them once with Maven.

pyspark ships no Delta jars. The Python package `delta-spark` and its JVM artifact must have the
same version, and the artifact name carries Spark's major.minor (`delta-spark_4.2_2.13`).
Only `delta-spark` and `delta-storage` are needed at run time: everything else Delta's POM lists
is either provided by Spark or used only by Delta's kernel/Unity Catalog clients.

    python -m portrait.jars fetch .jars     # what `make setup` runs
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from portrait.exits import ExitCode

SCALA_VERSION = "2.13"


def delta_artifacts() -> list[tuple[str, str, str]]:
    """Maven (group, artifact, version) of the Delta jars matching the installed packages."""
    delta_version = metadata.version("delta-spark")
    spark_major_minor = ".".join(metadata.version("pyspark").split(".")[:2])
    return [
        ("io.delta", f"delta-spark_{spark_major_minor}_{SCALA_VERSION}", delta_version),
        ("io.delta", "delta-storage", delta_version),
    ]


def jar_paths(jars_dir: str | Path) -> list[Path]:
    """Local paths of the Delta jars inside `jars_dir` (they may not exist yet)."""
    return [Path(jars_dir) / f"{artifact}-{version}.jar" for _, artifact, version in delta_artifacts()]


def fetch(jars_dir: str | Path) -> list[Path]:
    """Copy the Delta jars from Maven Central (through ~/.m2) into `jars_dir`; skip present ones."""
    jars_dir = Path(jars_dir).resolve()
    jars_dir.mkdir(parents=True, exist_ok=True)
    for (group, artifact, version), path in zip(delta_artifacts(), jar_paths(jars_dir), strict=False):
        if path.exists():
            continue
        cmd = [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact={group}:{artifact}:{version}:jar",
            f"-DoutputDirectory={jars_dir}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            raise RuntimeError(
                f"could not fetch {group}:{artifact}:{version} with Maven into {jars_dir}.\n"
                f"Command: {' '.join(cmd)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
    return jar_paths(jars_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "fetch":
        print("usage: python -m portrait.jars fetch <dir>", file=sys.stderr)
        return ExitCode.USAGE
    for path in fetch(argv[1]):
        print(path)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
