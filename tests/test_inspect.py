"""`portrait status` and `portrait person` on tiny inline lakes (and, slow, on the session's tiny lake)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pytest
from pyspark.sql import functions as F

from portrait import catalog, pipeline, runlog
from portrait.inspect import PersonNotFound, find_person, format_person, person_view
from portrait.inspect.status import (
    Status,
    TableStatus,
    collect_status,
    format_status,
    job_statuses,
    registry_status,
    table_status,
    with_costs,
)
from portrait.io import Lakehouse
from portrait.models import family

KEY = b"test-key"
D1, D2 = dt.date(2026, 10, 31), dt.date(2026, 11, 1)


def _hmac(value: str) -> str:
    return hmac.new(KEY, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _segments(spark, rows):
    return spark.createDataFrame(
        rows, "date date, person_id string, segment_id int, segment_name string, segment_model_version string"
    )


def test_table_status_reads_version_rows_and_last_date_from_the_delta_log(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    t = catalog.GOLD_SEGMENTS_DAILY
    lake.replace_range(_segments(spark, [(D1, "p_a", 0, "loyal", "1"), (D1, "p_b", 1, "new", "1")]), t, start=D1)
    lake.replace_range(_segments(spark, [(D2, "p_a", 0, "loyal", "1")]), t, start=D2)
    got = table_status(lake, t)
    assert (got.version, got.rows, got.last_date) == (lake.version(t), 3, D2)
    assert got.operation is not None and got.last_write is not None
    # Delta answers count(*) and max(<partition column>) from its log: the plan reads no file.
    plan = lake.read(t).agg(F.count(F.lit(1)), F.max("date"))._jdf.queryExecution().executedPlan().toString()
    assert "LocalTableScan" in plan and "FileScan" not in plan
    assert table_status(lake, catalog.GOLD_TAGS).version is None


def test_job_status_is_the_newest_commit_of_the_tables_a_job_writes(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    lake.replace_range(_segments(spark, [(D1, "p_a", 0, "loyal", "1")]), catalog.GOLD_SEGMENTS_DAILY, start=D1)
    tables = tuple(table_status(lake, t) for t in catalog.ALL)
    jobs = {j.job: j for j in job_statuses(tables)}
    assert jobs["score"].outcome == "succeeded" and "gold.segments_daily" in jobs["score"].detail
    assert jobs["ingest"].outcome == "never run" and jobs["ingest"].last_run is None
    shown = format_status(Status(lake.root, tables, tuple(jobs.values()), (), "no MLflow store"))
    assert "gold.segments_daily" in shown and "not written yet (job `ingest`)" in shown


def test_jobs_are_listed_in_the_pipeline_order_and_a_job_that_writes_no_table_by_its_run_log():
    """The job order is the pipeline's (`pipeline.demo_order`, then the other jobs it declares);
    generate, report and orders-model write no table: their last run is the run log's."""
    jobs = job_statuses(tuple(TableStatus(t) for t in catalog.ALL))
    assert [j.job for j in jobs] == [*pipeline.demo_order(), "generate", "erase", "live", "report", "orders-model"]
    assert {j.outcome for j in jobs} == {"never run"}
    finished = dt.datetime(2026, 11, 2, 6, 30)
    runs = {
        "report": runlog.LastRun(dt.date(2026, 11, 1), True, finished, 2.5, 12, 0),
        "orders-model": runlog.LastRun(dt.date(2011, 8, 1), False, finished, 9.0, None, None),
    }
    jobs = with_costs(job_statuses(tuple(TableStatus(t) for t in catalog.ALL), None, runs), runs)
    by_job = {j.job: j for j in jobs}
    assert (by_job["report"].last_run, by_job["report"].outcome) == (finished, "succeeded")
    assert by_job["orders-model"].outcome == "failed" and by_job["generate"].outcome == "never run"
    text = format_status(Status("lake", (), jobs, ()))
    rows = text[text.index("\njob ") + 1 : text.index("\n\nModels")].splitlines()
    # every row's columns start where the header's do, orders-model's longer name included
    when, outcome = rows[0].index("last run (UTC)"), rows[0].index("outcome")
    for row in rows[1:]:
        if row.strip().startswith("cost of the last"):
            assert row[:outcome].strip() == "" and row[outcome:].startswith("cost of the last"), row
            continue
        assert row[when - 1] == " " and row[when] != " ", row
        assert row[outcome - 2 : outcome] == "  " and row[outcome] != " ", row
    assert "orders-model 2026-11-02 06:30:00  failed  (writes no table" in text
    assert "cost of the last run of 2026-11-01: ok, 2.5 s, 12 Spark jobs, 0 Delta commits" in text


def test_status_names_the_family_of_each_champion_and_challenger(tmp_path):
    import mlflow
    from helpers import make_config
    from mlflow.tracking import MlflowClient

    from portrait import registry

    cfg = make_config(tmp_path)
    registry.configure(cfg.mlflow)
    try:
        client = MlflowClient()
        with mlflow.start_run() as run:
            mlflow.log_metric("test_auc", 0.8)
        versions = (
            (cfg.train.propensity_model, registry.CHAMPION, "blend (logistic weight 0.25)"),
            (cfg.train.churn_model, registry.CHAMPION, "logistic"),
            (cfg.train.churn_model, registry.CHALLENGER, "gbt"),
            (cfg.train.segment_model, registry.CHAMPION, None),  # not a propensity: no family
        )
        for name, alias, family in versions:
            if name not in {m.name for m in client.search_registered_models()}:
                client.create_registered_model(name)
            mv = client.create_model_version(
                name,
                f"{run.info.artifact_uri}/model",
                run_id=run.info.run_id,
                tags={"family": family} if family else {},
            )
            client.set_registered_model_alias(name, alias, mv.version)
        models, _, _ = registry_status(cfg)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    shown = {(m.name, m.alias): m.family for m in models if m.version is not None}
    assert shown == {(name, alias): family or "" for name, alias, family in versions}
    text = format_status(Status("lake", (), (), models))
    assert (
        f"{cfg.train.propensity_model:<30} champion   v1    family blend (logistic weight 0.25), test_auc 0.800" in text
    )
    assert f"{cfg.train.churn_model:<30} challenger v2    family gbt, test_auc 0.800" in text
    assert f"{cfg.train.segment_model:<30} champion   v1    test_auc 0.800" in text


def _person_lake(spark, tmp_path) -> Lakehouse:
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    ids = spark.createDataFrame(
        [
            ("phone", _hmac("13812345678"), "p_a", D2),
            ("account", "A1", "p_a", D2),
            ("phone", _hmac("13900000000"), "p_b", D2),
        ],
        "id_type string, id_value string, person_id string, as_of_date date",
    )
    lake.overwrite(ids, catalog.SILVER_IDENTITY_MAP)
    excluded = spark.createDataFrame(
        [("cookie", "shared-device", D2)], "id_type string, id_value string, as_of_date date"
    )
    lake.overwrite(excluded, catalog.SILVER_IDENTITY_EXCLUDED)
    portrait = spark.createDataFrame(
        [("p_a", D2, 3, None), ("p_b", D2, 0, 12.5)],
        "person_id string, as_of_date date, orders_90d int, revenue_90d double",
    )
    lake.replace_range(portrait, catalog.GOLD_PORTRAIT, start=D2)
    tags = spark.createDataFrame(
        [("p_a", D2, "frequent_buyer"), ("p_b", D2, "new_customer")], "person_id string, as_of_date date, tag string"
    )
    lake.replace_range(tags, catalog.GOLD_TAGS, start=D2)
    actions = spark.createDataFrame(
        [
            (
                D2,
                "p_a",
                "none",
                "cart_reminder",
                None,
                "no_consent",
                False,
                0.7,
                "loyal",
                "v1",
                "3",
                "2",
                "reminder",
                "cart",
                1.5,
                ["3 abandoned carts this week"],
                None,
                ["P00003", "P00011"],
            ),
            (
                D2,
                "p_b",
                "coupon",
                "coupon",
                "sms",
                "low_propensity",
                False,
                0.1,
                "new",
                "v1",
                "3",
                "2",
                "10% off",
                "coupon",
                0.4,
                ["no purchase for 64 days"],
                None,
                None,
            ),
        ],
        ", ".join(f"{c.name} {c.type}" for c in catalog.GOLD_NEXT_ACTIONS_DAILY.columns),
    )
    lake.replace_range(actions, catalog.GOLD_NEXT_ACTIONS_DAILY, start=D2)
    return lake


def test_a_person_is_found_by_a_clear_identifier_hashed_as_ingest_does(spark, tmp_path):
    lake = _person_lake(spark, tmp_path)
    assert find_person(lake, "phone=+86 138-1234-5678", key=KEY) == "p_a"  # normalised, then HMAC
    assert find_person(lake, "account=A1", key=KEY) == "p_a"
    assert find_person(lake, "p_b", key=KEY) == "p_b"
    with pytest.raises(PersonNotFound, match="no person with this phone"):
        find_person(lake, "phone=13700000000", key=KEY)
    with pytest.raises(PersonNotFound, match="shared by many persons"):
        find_person(lake, "cookie=shared-device", key=KEY)
    with pytest.raises(PersonNotFound, match="no person 'p_zz'"):
        find_person(lake, "p_zz", key=KEY)


def test_person_view_holds_only_that_person_and_says_what_is_not_available(spark, tmp_path):
    lake = _person_lake(spark, tmp_path)
    view = person_view(lake, "p_a")
    assert view.as_of == D2
    assert view.sections["portrait"] == [{"person_id": "p_a", "as_of_date": D2, "orders_90d": 3}]  # nulls left out
    assert view.sections["tags"] == [{"tag": "frequent_buyer"}]
    assert [r["person_id"] for r in view.sections["next actions"]] == ["p_a"]
    assert view.sections["actions sent"] == "gold.actions_sent not available yet"
    assert view.sections["segment"] == "gold.segments_daily not available yet"
    text = format_person(view)
    assert "frequent_buyer" in text and "reason: no_consent" in text and "p_b" not in text
    assert "identifiers:\n  account x1, phone x1" in text


@pytest.mark.slow
def test_status_of_the_tiny_lake_names_every_table_job_and_champion(spark, tiny_lake):
    cfg, _, models = tiny_lake
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    status = collect_status(lake, cfg)
    by_table = {t.table: t for t in status.tables}
    assert set(by_table) == set(catalog.ALL)
    for t in catalog.PUBLISHED:
        assert by_table[t].rows == lake.read(t).count() and by_table[t].last_date == dt.date(2026, 11, 1)
    jobs = {j.job: j for j in status.jobs}
    assert jobs["train"].outcome == "finished" and jobs["score"].outcome == "succeeded"
    # what the last run of each stage cost, from the run log the pipeline writes
    cost = re.fullmatch(r"run of 2026-11-01: ok, [\d.]+ s, (\d+) Spark jobs, (\d+) Delta commits", jobs["score"].cost)
    assert cost is not None, jobs["score"].cost
    assert int(cost[1]) > 0 and int(cost[2]) >= len(catalog.PUBLISHED)
    champions = {m.name: m for m in status.models if m.alias == "champion"}
    assert champions[cfg.train.propensity_model].version == models["propensity"]["version"]
    assert "test_auc" in champions[cfg.train.propensity_model].metrics
    # Each propensity champion names its family, the one train chose by validation AUC and logged.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    for key, name in (("propensity", cfg.train.propensity_model), ("churn", cfg.train.churn_model)):
        champion = champions[name]
        assert champion.family == models[key]["family"] and champion.family.split(" ")[0] in family.FAMILIES
        run = client.get_run(champion.run_id).data
        assert run.params["family"] == champion.family
        valid = {f: run.metrics[f"valid_auc_{f}"] for f in family.FAMILIES}
        assert valid[champion.family.split(" ")[0]] == max(valid.values())
        assert f"family {champion.family}, " in format_status(status)
    assert "gold.next_actions_daily" in format_status(status)


@pytest.mark.slow
def test_portrait_person_from_the_command_line_prints_the_portrait_and_no_jvm_noise(spark, tiny_lake, tmp_path):
    """What a new user runs after the demo (README): `portrait person --conf ... <person_id>`, in its
    own process, as the README shows it. Its stderr holds neither a stack trace nor the JVM's lines
    outside log4j (portrait.spark.JVM_NOISE)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    cfg, _, _ = tiny_lake
    root = Path(__file__).resolve().parents[1]
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        f"extends: {root / 'conf' / 'local.yaml'}\n"
        f"paths: {{lakehouse: {cfg.paths.lakehouse}, landing: {cfg.paths.landing}, truth: {cfg.paths.truth}}}\n"
        f'mlflow: {{tracking_uri: "{cfg.mlflow.tracking_uri}", artifact_root: {cfg.mlflow.artifact_root}}}\n'
        f"spark: {{master: 'local[1]', shuffle_partitions: 2, jars_dir: {root / '.jars'}}}\n",
        encoding="utf-8",
    )
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    [row] = lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY).orderBy("person_id").select("person_id").limit(1).collect()
    env = {**os.environ, "PYTHONPATH": str(root / "libs"), "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-m", "portrait.cli", "person", "--conf", str(conf), row.person_id],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Person {row.person_id}" in done.stdout and "\nnext actions:\n" in done.stdout
    for noise in ("Traceback", "Exception", "WARNING: Using incubator modules", "netlib-"):
        assert noise not in done.stderr, done.stderr[-3000:]
