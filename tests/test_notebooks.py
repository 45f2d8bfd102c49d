"""The notebooks: stored without outputs, and each one run headless (nbclient) on the session's tiny lake.

A notebook runs as a user runs it: from `notebooks/`, with `CONF=conf/local.yaml` and the
environment pointing the conf at the tiny lake (PORTRAIT_LAKEHOUSE, PORTRAIT_MLFLOW_*), in its own
kernel with its own Spark session. Any error in any cell fails the test with the cell's traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from helpers import ROOT, TINY_DATE
from pyspark.sql import functions as F

from portrait import catalog
from portrait.io import Lakehouse

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_five_notebooks_stored_without_outputs_and_with_a_parameters_cell():
    import nbformat

    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), path.name
        assert "parameters" in code[0].metadata.get("tags", []), path.name
        assert "sys.path" not in "".join(c.source for c in code), path.name  # they import the package


def _clear_phone_of_a_resolved_person(spark, cfg) -> str:
    """A phone from the generator's truth that the identity map holds (hashed), given as a user would
    type it: with the country code and spaces, so the notebook must normalise before hashing."""
    key = cfg.pii_key()
    phones = [
        r[0]
        for r in spark.read.parquet(f"{cfg.paths.truth}/persons")
        .where(F.col("phone").isNotNull())
        .select("phone")
        .orderBy("phone")
        .limit(200)
        .collect()
    ]
    held = {
        r[0]
        for r in Lakehouse(spark, cfg.paths.lakehouse)
        .read(catalog.SILVER_IDENTITY_MAP)
        .where(F.col("id_type") == "phone")
        .select("id_value")
        .collect()
    }
    for phone in phones:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if hmac.new(key, digits.encode(), hashlib.sha256).hexdigest() in held:
            return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    raise AssertionError("no truth phone found in the identity map")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_on_the_tiny_lake(path, spark, tiny_lake, monkeypatch):
    """Each notebook runs top to bottom in a real kernel against a lake every stage wrote: what a notebook user runs."""
    import nbformat
    from nbclient import NotebookClient

    cfg, _, _ = tiny_lake
    env = {
        "PORTRAIT_CONF": "conf/local.yaml",
        "PORTRAIT_DATE": TINY_DATE.isoformat(),
        "PORTRAIT_LAKEHOUSE": cfg.paths.lakehouse,
        "PORTRAIT_MLFLOW_TRACKING_URI": cfg.mlflow.tracking_uri,
        "PORTRAIT_MLFLOW_ARTIFACT_ROOT": cfg.mlflow.artifact_root,
        "PORTRAIT_SPARK_MASTER": "local[1]",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "libs"), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    if path.name.startswith("01"):
        env["PORTRAIT_PERSON"] = f"phone={_clear_phone_of_a_resolved_person(spark, cfg)}"
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # the kernel inherits the test's environment
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.name.startswith(("01", "02", "03", "05")):  # 04's uplift chart needs gold.action_outcomes
        assert any("image/png" in o.get("data", {}) for o in outputs), "no chart was drawn"
