"""The command line: subcommands and their options, exit codes, the stage order, backfill planning."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from helpers import local_conf_file

from portrait import backfill, cli, exits, guards, pipeline, runlog
from portrait.config import load_config
from portrait.costs import Cost
from portrait.exits import ExitCode

ROOT = Path(__file__).resolve().parents[1]
D = dt.date(2026, 11, 1)
ALL_JOBS = (*pipeline.STAGES, "backfill", "demo", "catalog")


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    assert exit_.value.code == ExitCode.USAGE
    return capsys.readouterr().err


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"^\s+(--[a-z-]+)", help_text, flags=re.M))


def test_help_lists_every_job_once_with_its_summary(capsys):
    text = _help(capsys)
    listed = re.findall(r"^    ([a-z-]+)\s{2,}(\S.*)$", text, flags=re.M)
    assert [job for job, _ in listed] == [
        *pipeline.DAILY_CHAIN,
        "train",
        "generate",
        "audience",
        "erase",
        "live",
        "backfill",
        "demo",
        "catalog",
        "orders-model",
        "report",
        "status",
        "person",
        "quarantine",
    ]
    for job, summary in listed:
        if job in pipeline.STAGES:
            assert summary == pipeline.STAGES[job].summary
    assert " -> ".join(pipeline.DAILY_CHAIN) in " ".join(text.split())


@pytest.mark.parametrize(
    "job, own",
    [
        ("ingest", {"--date", "--start", "--source"}),
        ("identity", {"--date", "--rebuild"}),
        ("features", {"--date", "--start", "--full", "--allow-empty"}),
        ("score", {"--date", "--allow-empty"}),
        ("erase", {"--date", "--identifier", "--person-id"}),
        ("audience", {"--date", "--name", "--where"}),
        ("generate", {"--date", "--scale", "--seed"}),
        ("demo", {"--date", "--scale", "--seed"}),
        ("catalog", {"--out"}),
        ("backfill", {"--from", "--to", "--force"}),
        ("live", {"--date", "--available-now", "--trigger-seconds"}),
    ],
)
def test_each_job_shows_only_its_own_options(capsys, job, own):
    assert _options(_help(capsys, job)) == {"--conf", "--verbose", *own}


def test_quarantine_shows_its_options_and_refuses_a_negative_line_count(capsys):
    own = {"--conf", "--date", "--source", "--reason", "--lines", "--reveal", "--replay"}
    assert _options(_help(capsys, "quarantine")) == own
    assert "--date" in _error(capsys, "quarantine", "--conf", "c")
    assert cli.main(["quarantine", "--conf", "c", "--date", "2026-11-01", "--lines", "-1"]) == ExitCode.USAGE
    assert "--lines -1: give 0 or more" in capsys.readouterr().err


def test_a_missing_required_option_is_named(capsys):
    assert "required: --where" in _error(capsys, "audience", "--conf", "c", "--date", "2026-11-01", "--name", "x")
    assert "required: --date" in _error(capsys, "score", "--conf", "c")
    assert "required: --conf" in _error(capsys, "catalog")
    assert "--to" in _error(capsys, "backfill", "--conf", "c", "--from", "2026-11-01")


def test_a_bad_date_or_an_option_of_another_job_is_refused(capsys):
    assert "not a date (YYYY-MM-DD): '2026-11-31'" in _error(capsys, "tags", "--conf", "c", "--date", "2026-11-31")
    assert "unrecognized arguments: --full" in _error(capsys, "ingest", "--conf", "c", "--date", "2026-11-01", "--full")
    assert "unrecognized arguments: --date" in _error(capsys, "catalog", "--conf", "c", "--date", "2026-11-01")
    assert "invalid choice: 'scoring'" in _error(capsys, "scoring", "--conf", "c")


def test_parsed_options_reach_the_stage_and_verbose_goes_anywhere():
    args = cli.build_parser().parse_args(
        [
            "--verbose",
            "ingest",
            "--conf",
            "c",
            "--date",
            "2026-11-01",
            "--source",
            "crm",
            "--source",
            "orders",
            "--start",
            "2026-10-30",
        ]
    )
    assert (args.verbose, args.date, args.start, args.sources) == (True, D, dt.date(2026, 10, 30), ["crm", "orders"])
    assert cli.build_parser().parse_args(["tags", "--conf", "c", "--date", "2026-11-01", "--verbose"]).verbose
    assert not cli.build_parser().parse_args(["tags", "--conf", "c", "--date", "2026-11-01"]).verbose


def test_backfill_range_backwards_is_a_usage_error(capsys):
    assert cli.main(["backfill", "--conf", "c", "--from", "2026-11-02", "--to", "2026-11-01"]) == ExitCode.USAGE
    assert "--to 2026-11-01 is before --from 2026-11-02" in capsys.readouterr().err


def test_a_bad_conf_exits_2_with_one_line(tmp_path, capsys):
    assert cli.main(["tags", "--conf", str(tmp_path / "missing.yaml"), "--date", "2026-11-01"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert _error_lines(err) == [f"portrait: bad configuration: config file not found: {tmp_path / 'missing.yaml'}"]
    assert "Traceback" not in err


def _error_lines(err: str) -> list[str]:
    """The CLI's own error lines (the rest of stderr is the progress log)."""
    return [line for line in err.splitlines() if line.startswith("portrait:")]


def _failing_stage(monkeypatch, spark, tmp_path, exc: Exception, job: str = "tags") -> str:
    """Make `job`'s `run` fail with `exc`, run through `pipeline.run_stage` on the test session and an
    empty lake under `tmp_path` (the key and date checks are skipped: they need a lake). Returns the conf."""
    import portrait.spark

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(portrait.spark, "get_session", lambda cfg, verbose=False: spark)
    monkeypatch.setattr(guards, "before_job", lambda *args, **kwargs: True)
    monkeypatch.setattr(pipeline.RUNS[job].load(), "run", fail)
    return str(local_conf_file(tmp_path))


def test_a_missing_input_table_exits_1_with_one_line_and_what_to_do(monkeypatch, spark, tmp_path, capsys):
    conf = _failing_stage(
        monkeypatch,
        spark,
        tmp_path,
        FileNotFoundError("table gold.portrait does not exist at /l/gold/portrait: run the `features` job first"),
    )
    assert cli.main(["tags", "--conf", conf, "--date", "2026-11-01"]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert _error_lines(err) == [
        "portrait: tags 2026-11-01 failed: FileNotFoundError: table gold.portrait does "
        "not exist at /l/gold/portrait: run the `features` job first"
    ]
    assert "Traceback" not in err


def test_a_failing_stage_exits_1_and_verbose_shows_the_traceback(monkeypatch, spark, tmp_path, capsys):
    conf = _failing_stage(monkeypatch, spark, tmp_path, RuntimeError("boom"))
    assert cli.main(["tags", "--conf", conf, "--date", "2026-11-01"]) == ExitCode.FAILED
    err = capsys.readouterr().err
    [line] = _error_lines(err)
    assert line.startswith("portrait: tags 2026-11-01 failed: RuntimeError: boom (rerun with --verbose")
    assert "Traceback" not in err
    assert cli.main(["--verbose", "tags", "--conf", conf, "--date", "2026-11-01"]) == ExitCode.FAILED
    assert "Traceback" in capsys.readouterr().err


def test_an_invalid_erasure_request_is_a_usage_error(monkeypatch, spark, tmp_path, capsys):
    from portrait.erase import ErasureError

    error = ErasureError("nothing to erase: give --identifier type=value and/or --person-id")
    conf = _failing_stage(monkeypatch, spark, tmp_path, error, job="erase")
    assert cli.main(["erase", "--conf", conf, "--date", "2026-11-01"]) == ExitCode.USAGE
    assert "nothing to erase" in capsys.readouterr().err


def test_the_audience_options_reach_the_stage(monkeypatch, spark, tmp_path):
    """`name` is an option of audience, not the job's name; the stage gets its conf (the tag catalog)."""
    seen = {}

    def run(lake, conf, date, **options):
        seen.update(options, date=date, conf=type(conf).__name__, stage=lake.scope.stage)

    monkeypatch.setattr(pipeline.RUNS["audience"].load(), "run", run)
    args = cli.build_parser().parse_args(
        ["audience", "--conf", "c", "--date", "2026-11-01", "--name", "tier1", "--where", "city_tier = 1"]
    )
    cli.run_job("audience", spark, load_config(str(local_conf_file(tmp_path))), args)
    assert seen == {"name": "tier1", "where": "city_tier = 1", "date": D, "conf": "CatalogConf", "stage": "audience"}


def test_every_job_has_a_thin_spark_submit_entry_point():
    for job in (*pipeline.STAGES, "backfill"):
        text = (ROOT / "jobs" / f"{job}.py").read_text()
        assert f'main(job="{job}")' in text


def test_the_readme_lists_the_stages_in_pipeline_order():
    """The README's job list is `python -m portrait.pipeline`'s output, verbatim."""
    assert pipeline.describe() in (ROOT / "README.md").read_text()


def test_the_readme_lists_what_each_stage_may_touch_from_the_declarations():
    """The README's contract table is `python -m portrait.pipeline --contract`'s output, verbatim:
    the declarations the stages' lakehouses enforce (`io.Lakehouse.scoped`)."""
    assert pipeline.describe_contract() in (ROOT / "README.md").read_text()


def test_every_exit_code_is_in_the_help_the_cli_docstring_and_the_readme(capsys):
    """`portrait.exits` is the one list: --help prints it, the CLI's docstring names every code
    and the README's table is `python -m portrait.exits`'s output, verbatim."""
    top, job = _help(capsys), _help(capsys, "tags")
    doc = " ".join((cli.__doc__ or "").split())
    for code in ExitCode:
        assert re.search(rf"^  {code.value} +\S", top, flags=re.M), code
        assert re.search(rf"^  {code.value} +\S", job, flags=re.M), code
        assert re.search(rf"\b{code.value} [a-z]", doc), code
    assert exits.markdown() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_demo_trains_before_the_first_score_and_runs_the_daily_chain_in_order():
    order = pipeline.demo_order()
    assert [s for s in order if s in pipeline.DAILY_CHAIN] == list(pipeline.DAILY_CHAIN)
    assert order.index("train") < order.index("score") and order.index("tags") < order.index("audience")


# --- backfill planning (pure) -------------------------------------------------------------------

CHAIN = ("ingest", "identity", "score")
DAYS = backfill.dates(D, D + dt.timedelta(days=2))
T0 = dt.datetime(2026, 12, 1, 8, 0)


def _done(day: dt.date, stages=CHAIN, *, start: int = 0, ok: bool = True) -> dict:
    return {(s, day): runlog.Outcome(T0 + dt.timedelta(minutes=start + i), ok) for i, s in enumerate(stages)}


def _plan(outcomes: dict, *, force: bool = False) -> list[tuple[dt.date, tuple[str, ...]]]:
    return [(s.date, s.stages) for s in backfill.plan(DAYS, CHAIN, outcomes, force=force)]


def test_dates_are_inclusive_and_in_order():
    assert DAYS == [D, dt.date(2026, 11, 2), dt.date(2026, 11, 3)]
    assert backfill.dates(D, D) == [D]
    with pytest.raises(ValueError, match="before --from"):
        backfill.dates(D, D - dt.timedelta(days=1))


def test_a_fresh_backfill_runs_every_date_whole():
    assert _plan({}) == [(d, CHAIN) for d in DAYS]


def test_a_complete_range_has_nothing_to_do_unless_forced():
    done = {**_done(DAYS[0]), **_done(DAYS[1], start=10), **_done(DAYS[2], start=20)}
    assert _plan(done) == []
    assert _plan(done, force=True) == [(d, CHAIN) for d in DAYS]


def test_a_rerun_resumes_at_the_first_incomplete_stage_then_runs_later_dates_whole():
    done = {**_done(DAYS[0]), **_done(DAYS[1], stages=CHAIN[:1], start=10), **_done(DAYS[2], start=20)}
    assert _plan(done) == [(DAYS[1], CHAIN[1:]), (DAYS[2], CHAIN)]


def test_a_failed_latest_run_is_incomplete_even_after_an_earlier_success():
    done = {**_done(DAYS[0]), **_done(DAYS[1], start=10), ("identity", DAYS[1]): runlog.Outcome(T0, False)}
    assert _plan(done)[0] == (DAYS[1], CHAIN[1:])


def test_rerunning_an_earlier_stage_makes_the_later_stages_of_that_date_incomplete():
    done = {**_done(DAYS[0]), ("ingest", DAYS[0]): runlog.Outcome(T0 + dt.timedelta(hours=1), True)}
    assert _plan(done)[0] == (DAYS[0], CHAIN[1:])


# --- the run log on a real Delta table ----------------------------------------------------------


def test_the_run_log_returns_the_latest_outcome_per_stage_and_date(spark, tmp_path):
    lake = str(tmp_path / "lake")
    assert runlog.latest(spark, lake, CHAIN, D, D) == {}
    for stage, ok, minute in (("ingest", False, 0), ("ingest", True, 5), ("identity", True, 6), ("score", False, 7)):
        runlog.record(
            spark,
            lake,
            stage,
            D,
            ok=ok,
            started_at=T0 + dt.timedelta(minutes=minute),
            cost=Cost(seconds=30.0, jobs=4, commits={"bronze.clickstream": 1}),
            detail="{}",
        )
    runlog.record(
        spark, lake, "ingest", D + dt.timedelta(days=5), ok=True, started_at=T0, cost=Cost(seconds=1.0), detail=""
    )
    got = runlog.latest(spark, lake, CHAIN, D, D + dt.timedelta(days=1))
    assert {k: v.ok for k, v in got.items()} == {("ingest", D): True, ("identity", D): True, ("score", D): False}
    assert got[("ingest", D)].finished_at == T0 + dt.timedelta(minutes=5, seconds=30)
    assert backfill.plan([D], CHAIN, got) == [backfill.Step(D, ("score",))]
    costs = spark.read.format("delta").load(runlog.path(lake)).where("stage = 'identity'").first()
    assert (costs["elapsed_s"], costs["spark_jobs"], costs["delta_commits"]) == (30.0, 4, 1)


# --- Spark's logging -----------------------------------------------------------------------------


def test_sessions_we_build_log_only_errors_and_drop_the_heartbeat_trace(spark):
    """The session of the tests is built by portrait.spark, so it runs with log4j2.properties."""
    jvm = spark.sparkContext._jvm
    log4j = jvm.org.apache.logging.log4j
    config = log4j.LogManager.getContext(False).getConfiguration()
    assert config.getConfigurationSource().getLocation().endswith("portrait/log4j2.properties")
    assert config.getRootLogger().getLevel().toString() == "ERROR"

    def filtered(message: str) -> bool:
        event = (
            jvm.org.apache.logging.log4j.core.impl.Log4jLogEvent.newBuilder()
            .setLoggerName("org.apache.spark.util.Utils")
            .setLevel(log4j.Level.ERROR)
            .setMessage(log4j.message.SimpleMessage(message))
            .build()
        )
        return config.getLoggerConfig("org.apache.spark.util.Utils").isFiltered(event)

    assert filtered("Uncaught exception in thread executor-heartbeater")
    assert not filtered("Uncaught exception in thread Executor task launch worker")


def test_the_jvm_lines_outside_log4j_are_left_out_and_every_other_line_kept():
    import os

    from portrait.spark import JVM_NOISE, forward_lines

    source, sink = os.pipe()
    out, into = os.pipe()
    kept = [
        b'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n',
        b"netlib-blas: JNI_OnLoad: GetEnv failed\n",  # a broken library, not a missing one: kept
        b"  WARNING: Using incubator modules: indented, so not the launcher's line\n",
        b"a last line without its newline",
    ]
    dropped = [
        b"WARNING: Using incubator modules: jdk.incubator.vector\n",
        b"netlib-blas: JNI_OnLoad: dlopen(libblas.so.3) failed: libblas.so.3: cannot open shared object file\n",
        b"netlib-lapack: JNI_OnLoad: dlopen(liblapack.so.3) failed: no such file\n",
    ]
    os.write(sink, b"".join([dropped[0], kept[0], dropped[1], kept[1], dropped[2], kept[2], kept[3]]))
    os.close(sink)
    forward_lines(source, into, JVM_NOISE)
    os.close(into)
    with os.fdopen(out, "rb") as got:
        assert got.read() == b"".join(kept)
