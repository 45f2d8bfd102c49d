"""One signature, one dispatch: every job is `run(lake, conf, date, **options)`, declared once in
`pipeline.RUNS`, and `run_stage` runs any of them, a job no one wrote an adapter for included."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
from pathlib import Path

import pytest
from helpers import local_conf_file

from portrait import cli, pipeline, runlog
from portrait.config import load_config
from portrait.exits import ExitCode
from portrait.io import Lakehouse, UndeclaredTable

ROOT = Path(__file__).resolve().parents[1]
D = dt.date(2026, 11, 1)
JOBS = {*pipeline.STAGES, "report", "orders-model"}


def _cli_dests(job: str) -> set[str]:
    """The names under which the job's subcommand parses its options."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "job")
    return {a.dest for a in sub.choices[job]._actions}


def test_every_job_has_one_declaration_and_the_one_signature():
    """Each stage, report and orders-model: a run module with `INPUTS`, `OUTPUTS` and
    `run(lake, conf, date, *, <its declared options>)`, a conf built from the configuration, and
    options the command line parses under the same names."""
    assert set(pipeline.RUNS) == JOBS
    cfg = load_config(ROOT / "conf" / "local.yaml")
    for name, job in pipeline.RUNS.items():
        module = job.load()
        assert isinstance(module.INPUTS, tuple) and isinstance(module.OUTPUTS, tuple), name
        params = list(inspect.signature(module.run).parameters.values())
        assert [p.name for p in params[:3]] == ["lake", "conf", "date"], name
        keywords = {p.name: p for p in params[3:]}
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in keywords.values()), name
        assert set(job.options) <= set(keywords), name
        required = {k for k, p in keywords.items() if p.default is inspect.Parameter.empty}
        assert required <= set(job.options), f"{name}: a required option the declaration does not pass"
        assert {*job.options, job.date_option} <= _cli_dests(name), name
        conf = job.conf(cfg)
        if job.section:
            assert conf is getattr(cfg, job.section), name
        else:
            assert type(conf) is module.RunConf, name


def test_a_job_declared_once_dispatches_with_its_conf_options_scope_and_run_log(spark, tmp_path, monkeypatch):
    """A new job is a module and one `Job`: `run_stage` scopes its lakehouse, sets the checkpoint
    directory, passes its conf and options, refuses an undeclared option or table, and logs each run."""
    monkeypatch.setitem(pipeline.RUNS, "probe", pipeline.Job("dispatch_probe", section="tags", options=("reach",)))
    cfg = load_config(local_conf_file(tmp_path))

    got = pipeline.run_stage("probe", spark, cfg, D)
    assert got == {"date": "2026-11-01", "conf": "TagsConfig", "stage": "probe", "tags_exist": False}
    assert pipeline.LAST_SCOPE["probe"].touched == {"gold.tags": {"read"}}
    assert "/lake/_checkpoints/" in spark.sparkContext.getCheckpointDir()
    assert runlog.latest(spark, cfg.paths.lakehouse, ("probe",), D, D)[("probe", D)].ok

    with pytest.raises(UndeclaredTable, match="stage probe reads silver.orders"):
        pipeline.run_stage("probe", spark, cfg, D, reach=True)
    assert not runlog.latest(spark, cfg.paths.lakehouse, ("probe",), D, D)[("probe", D)].ok
    with pytest.raises(TypeError, match=r"probe takes no option full \(its options: reach\)"):
        pipeline.run_stage("probe", spark, cfg, D, full=True)
    with pytest.raises(ValueError, match="unknown job 'nope'"):
        pipeline.run_stage("nope", spark, cfg, D)
    assert "| `probe` | `gold.tags` | — |" in pipeline.describe_contract()


def _string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_no_function_of_the_pipeline_names_a_single_job():
    """Job names appear in pipeline.py's declarations (module level), never inside a function:
    what differs between jobs is declared, and the code that runs them is the same for all."""
    tree = ast.parse(Path(pipeline.__file__).read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    assert len(functions) >= 8  # the walk saw the module's functions and methods
    named = {f.name if not isinstance(f, ast.Lambda) else "lambda": _string_constants(f) & JOBS for f in functions}
    assert {f: jobs for f, jobs in named.items() if jobs} == {}


def test_report_and_orders_model_run_through_run_stage_into_the_run_log(spark, tmp_path, monkeypatch, capsys):
    """Both print what they printed before, and leave a run-log entry that `portrait status` shows."""
    import portrait.spark
    from portrait.inspect.status import collect_status, format_status

    monkeypatch.setattr(portrait.spark, "get_session", lambda cfg, verbose=False: spark)
    conf = local_conf_file(tmp_path)
    argv = ["report", "--conf", str(conf), "--date", D.isoformat(), "--out-dir", str(tmp_path / "reports")]
    assert cli.main(argv) == ExitCode.OK
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"report {D}: {{'path': '{tmp_path / 'reports' / '2026-11-01.html'}', 'mlflow_run_id': ")
    calibration = dt.date(2011, 8, 1)
    argv = ["orders-model", "--conf", str(conf), "--source", "nope", "--calibration-date", str(calibration)]
    assert cli.main([*argv, "--horizon-days", "28"]) == ExitCode.USAGE  # a source the conf does not map
    assert "ingest.mappings has no 'nope' (known: online_retail" in capsys.readouterr().err

    cfg = load_config(conf)
    logged = runlog.latest(spark, cfg.paths.lakehouse, ("report", "orders-model"), calibration, D)
    assert {k: v.ok for k, v in logged.items()} == {("report", D): True, ("orders-model", calibration): False}
    status = collect_status(Lakehouse(spark, cfg.paths.lakehouse), cfg)
    jobs = {j.job: j for j in status.jobs}
    assert (jobs["report"].outcome, jobs["orders-model"].outcome) == ("succeeded", "failed")
    assert jobs["report"].cost.startswith(f"run of {D}: ok, ")
    assert "\norders-model " in format_status(status)
