"""Propensity models: labels, training sets, evaluation, calibration, gated promotion, lineage."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait.models import evaluation, family, labels, plots, promotion, propensity
from portrait.models.labels import TrainingSets
from portrait.train.promotion import gate

D = dt.date(2026, 6, 30)
FEATURES = ["f_signal", "f_noise"]


def _d(days: int) -> dt.date:
    return D + dt.timedelta(days=days)


DAILY_SCHEMA = "person_id string, day date, orders double, visit_days double"
PORTRAIT_SCHEMA = "person_id string, as_of_date date"


def test_as_of_dates_end_their_label_window_by_the_run_date():
    assert labels.as_of_dates(D, window_days=30, count=3, step_days=7) == [_d(-30), _d(-37), _d(-44)]


def test_purchase_label_counts_orders_in_the_window_only(spark):
    portraits = spark.createDataFrame([("a", D), ("b", D), ("c", D), ("d", D), ("e", D)], PORTRAIT_SCHEMA)
    daily = spark.createDataFrame(
        [
            ("a", _d(0), 1.0, 1.0),  # on the as-of day: a feature, not a label
            ("b", _d(1), 2.0, 1.0),  # first day of the window
            ("c", _d(30), 1.0, 0.0),  # last day of the window
            ("d", _d(31), 1.0, 1.0),  # one day too late
            ("d", _d(5), 0.0, 1.0),  # a visit without an order
            ("x", _d(3), 1.0, 1.0),  # someone without a portrait row
        ],
        DAILY_SCHEMA,
    )
    got = labels.with_purchase_label(portraits, daily, horizon_days=30)
    expected = spark.createDataFrame(
        [("a", D, 0.0), ("b", D, 1.0), ("c", D, 1.0), ("d", D, 0.0), ("e", D, 0.0)],
        "person_id string, as_of_date date, label double",
    )
    assertDataFrameEqual(got, expected)


def test_churn_label_needs_recent_activity_and_then_silence(spark):
    portraits = spark.createDataFrame(
        [(p, D) for p in ("quiet", "visits", "orders", "edge_in", "edge_out", "late", "gone", "never")]
        + [("quiet", _d(-7))],
        PORTRAIT_SCHEMA,
    )
    daily = spark.createDataFrame(
        [
            ("quiet", _d(-10), 0.0, 1.0),  # active, then nothing: churned
            ("visits", _d(-1), 0.0, 1.0),
            ("visits", _d(60), 0.0, 1.0),  # visit on the window's last day
            ("orders", _d(0), 1.0, 0.0),
            ("orders", _d(1), 1.0, 0.0),  # an order (no session) counts
            ("edge_in", _d(-89), 0.0, 1.0),  # oldest day of the 90-day lookback
            ("edge_out", _d(-90), 0.0, 1.0),  # one day before it: not active
            ("late", _d(-3), 0.0, 1.0),
            ("late", _d(61), 0.0, 1.0),  # back after the window: churned
            ("gone", _d(-200), 1.0, 1.0),
        ],
        DAILY_SCHEMA,
    )
    got = labels.with_churn_label(portraits, daily, churn_days=60, lookback_days=90)
    expected = spark.createDataFrame(
        [
            ("quiet", D, 1.0),
            ("visits", D, 0.0),
            ("orders", D, 0.0),
            ("edge_in", D, 1.0),
            ("late", D, 1.0),
            ("quiet", _d(-7), 1.0),  # as of a week earlier: active on day -10, silent for the next 60 days
        ],
        "person_id string, as_of_date date, label double",
    )
    assertDataFrameEqual(got, expected)


def _rows(spark, persons: int, dates: list[dt.date], *, seed: int = 3, signal: float = 4.0):
    """Portrait-like rows: the label depends on f_signal (strength `signal`), not on f_noise."""
    ids = spark.range(persons).select(F.format_string("p%05d", "id").alias("person_id"))
    as_of = spark.createDataFrame([(d,) for d in dates], "as_of_date date")
    rows = ids.crossJoin(as_of).withColumns(
        {
            "f_signal": F.rand(seed),
            "f_noise": F.rand(seed + 1),
        }
    )
    p = 1 / (1 + F.exp(-(F.lit(signal) * F.col("f_signal") - F.lit(signal / 2 + 1.0))))
    return rows.withColumn("label", (F.rand(seed + 2) < p).cast("double"))


def test_training_sets_keep_persons_and_dates_apart(spark):
    dates = [_d(-30), _d(-37), _d(-44)]
    sets = labels.training_sets(
        _rows(spark, 400, dates), oot_dates=dates[:1], test_fraction=0.25, calibration_fraction=0.2
    )
    persons = {
        name: {r.person_id for r in getattr(sets, name).select("person_id").distinct().collect()}
        for name in ("train", "calibration", "test")
    }
    assert not persons["train"] & persons["test"]
    assert not persons["train"] & persons["calibration"]
    assert not persons["calibration"] & persons["test"]
    assert 60 < len(persons["test"]) < 140 and 40 < len(persons["calibration"]) < 120
    assert len(persons["train"]) + len(persons["calibration"]) + len(persons["test"]) == 400
    dates_of = {
        name: {r.as_of_date for r in getattr(sets, name).select("as_of_date").distinct().collect()}
        for name in ("train", "calibration", "test")
    }
    # Trained before the out-of-time date; calibrated and tested at it, on different persons.
    assert dates_of == {"train": {_d(-37), _d(-44)}, "calibration": {_d(-30)}, "test": {_d(-30)}}


def test_training_sets_come_in_as_many_partitions_as_the_session_has_cores(spark):
    """A fit's jobs cost per task: rows spread over many partitions are read in one per core."""
    dates = [_d(-30), _d(-37), _d(-44)]
    rows = _rows(spark, 400, dates).repartition(16)
    sets = labels.training_sets(rows, oot_dates=dates[:1], test_fraction=0.25, calibration_fraction=0.2)
    cores = spark.sparkContext.defaultParallelism
    assert {name: getattr(sets, name).rdd.getNumPartitions() for name in ("train", "calibration", "test")} == {
        "train": cores,
        "calibration": cores,
        "test": cores,
    }


def test_the_tuner_stops_after_patience_trials_without_a_better_loss():
    """hyperopt's `no_progress_loss`: a flat objective is tried `patience` times (the first trial
    counts as one without progress), not `max_evals`; a loss that keeps falling, or no patience,
    runs every trial."""
    from portrait import tuning

    calls: list[dict] = []

    def flat(params: dict) -> float:
        calls.append(params)
        return 1.0

    space = {"depth": tuning.IntRange(2, 6)}
    tuning.minimise(flat, space, max_evals=20, seed=1, patience=3)
    stopped = len(calls)
    calls.clear()
    tuning.minimise(flat, space, max_evals=20, seed=1)
    unpatient = len(calls)
    calls.clear()
    tuning.minimise(lambda p: flat(p) - len(calls), space, max_evals=20, seed=1, patience=3)
    assert (stopped, unpatient, len(calls)) == (3, 20, 20)


def _serial_and_two_at_a_time(patience: int) -> tuple[tuple, tuple]:
    """(hyperopt's serial fmin, `tuning.minimise(parallel=2)`) on one space and loss: each as (the
    parameters tried in order, the best), the second also with every call made from either thread."""
    import math
    import threading

    import numpy as np
    from hyperopt import Trials, fmin, hp, tpe
    from hyperopt.early_stop import no_progress_loss

    from portrait import tuning

    def loss(p: dict) -> float:
        return (p["depth"] - 4) ** 2 + abs(math.log(p["rate"] / 0.1)) + ((p["trees"] - 30) / 10) ** 2

    def typed(q: dict) -> dict:
        return {"depth": int(round(q["depth"])), "rate": float(q["rate"]), "trees": int(round(q["trees"]))}

    serial: list[dict] = []

    def in_order(q: dict) -> float:
        serial.append(typed(q))
        return loss(typed(q))

    best = fmin(
        in_order,
        {
            "depth": hp.quniform("depth", 2, 6, 1),
            "rate": hp.loguniform("rate", math.log(0.01), math.log(0.3)),
            "trees": hp.quniform("trees", 10, 60, 5),
        },
        algo=tpe.suggest,
        max_evals=12,
        trials=Trials(),
        rstate=np.random.default_rng(7),
        show_progressbar=False,
        early_stop_fn=no_progress_loss(patience) if patience else None,
    )
    lock, called, logged = threading.Lock(), [], []

    def tried(p: dict) -> float:
        with lock:
            called.append(p)
        return loss(p)

    space: dict[str, tuning.IntRange | tuning.LogRange] = {
        "depth": tuning.IntRange(2, 6),
        "rate": tuning.LogRange(0.01, 0.3),
        "trees": tuning.IntRange(10, 60, 5),
    }
    got, _ = tuning.minimise(
        tried, space, max_evals=12, seed=7, patience=patience, parallel=2, on_trial=lambda p, _: logged.append(p)
    )
    assert sorted(map(repr, called)) == sorted(map(repr, logged))
    return (serial, typed(best)), (logged, got)


def test_trials_fitted_two_at_a_time_are_the_serial_search_and_its_answer():
    """`parallel=2` runs two trials at once (a barrier only two concurrent calls pass), each wrapped
    by `in_thread` in the caller's thread, and, while TPE
    draws at random, tries the same parameters in the same order as hyperopt's own serial `fmin`,
    stops where its `no_progress_loss` stops, and returns the same best."""
    import threading

    from portrait import tuning

    for patience in (0, 2, 4):
        serial, two_at_a_time = _serial_and_two_at_a_time(patience)
        assert two_at_a_time == serial, patience

    together = threading.Barrier(2, timeout=60)  # broken unless two trials run at the same time

    def paired(p: dict) -> float:
        together.wait()
        return float(p["depth"])

    wrapped_in: list[threading.Thread] = []  # `in_thread` runs in the caller's thread, once per trial

    def in_thread(call):
        wrapped_in.append(threading.current_thread())
        return call

    tuning.minimise(paired, {"depth": tuning.IntRange(2, 6)}, max_evals=4, seed=7, parallel=2, in_thread=in_thread)
    assert wrapped_in == [threading.current_thread()] * 4


def test_the_tuner_refuses_no_threads_counts_an_infinite_loss_as_hyperopt_and_logs_before_a_failure():
    """`parallel=0` is an error, not a search that never ends; an infinite first loss stops the search
    where hyperopt's `no_progress_loss` stops (its threshold is NaN, never beaten); a trial that fails
    raises after the trials before it in its batch were passed to `on_trial`."""
    import math

    import numpy as np
    from hyperopt import Trials, fmin, hp, tpe
    from hyperopt.early_stop import no_progress_loss

    from portrait import tuning

    space: dict[str, tuning.IntRange | tuning.LogRange] = {"depth": tuning.IntRange(2, 6)}
    with pytest.raises(ValueError, match="parallel must be at least 1"):
        tuning.minimise(lambda p: 1.0, space, max_evals=4, seed=7, parallel=0)

    ours: list[dict] = []
    tuning.minimise(lambda p: (ours.append(p), math.inf)[1], space, max_evals=12, seed=7, patience=3, parallel=2)
    theirs: list[dict] = []
    fmin(
        lambda q: (theirs.append(q), math.inf)[1],
        {"depth": hp.quniform("depth", 2, 6, 1)},
        algo=tpe.suggest,
        max_evals=12,
        trials=Trials(),
        rstate=np.random.default_rng(7),
        show_progressbar=False,
        early_stop_fn=no_progress_loss(3),
    )
    assert len(ours) == len(theirs) < 12

    logged: list[dict] = []

    def second_fails(p: dict) -> float:
        if p == second:
            raise RuntimeError("the fit failed")
        return 1.0

    first_two: list[dict] = []
    tuning.minimise(lambda p: (first_two.append(p), 1.0)[1], space, max_evals=2, seed=7)
    second = first_two[1]
    with pytest.raises(RuntimeError, match="the fit failed"):
        tuning.minimise(second_fails, space, max_evals=2, seed=7, parallel=2, on_trial=lambda p, _: logged.append(p))
    assert logged == first_two[:1]


def test_ece_lift_and_gain_by_hand(spark):
    # 20 rows: scores 0.05 .. 0.95 twice; positives at the top.
    data = [(i / 10 + 0.05, 1.0 if i >= 7 else 0.0) for i in range(10)] * 2
    scored = spark.createDataFrame(data, "p double, label double")
    table = evaluation.calibration_table(scored)
    assert [r["bin"] for r in table] == list(range(10))
    # Each bin: 2 rows, mean_p = bin + 0.05, rate 0 or 1 -> |gap| = 0.05..0.65 and 0.25, 0.15, 0.05.
    gaps = [b / 10 + 0.05 for b in range(7)] + [1 - (b / 10 + 0.05) for b in range(7, 10)]
    assert evaluation.expected_calibration_error(table) == pytest.approx(sum(gaps) / 10)
    deciles = evaluation.decile_table(scored)
    assert [d["decile"] for d in deciles] == list(range(1, 11))
    assert [d["lift"] for d in deciles[:3]] == pytest.approx([1 / 0.3] * 3)
    assert [d["gain"] for d in deciles] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1, 1])
    roc = evaluation.roc_curve(scored)
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0} and roc[-1] == {"fpr": 1.0, "tpr": 1.0}
    assert evaluation.auc(scored) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def synthetic_sets(spark):
    dates = [_d(-30), _d(-37), _d(-44)]
    rows = _rows(spark, 1500, dates).persist()
    sets = labels.training_sets(rows, oot_dates=dates[:1], test_fraction=0.25, calibration_fraction=0.2)
    yield sets
    rows.unpersist()


SMALL_SPACE = {"max_depth": (2, 3), "max_iter": (5, 10), "step_size": (0.1, 0.3), "subsampling_rate": (0.7, 1.0)}


def _space():
    from portrait import tuning

    return {
        "max_depth": tuning.IntRange(2, 3),
        "max_iter": tuning.IntRange(5, 10, 5),
        "step_size": tuning.LogRange(0.1, 0.3),
        "subsampling_rate": tuning.LogRange(0.7, 1.0),
    }


def test_trained_model_is_tuned_calibrated_and_reported(spark, synthetic_sets, tmp_path):
    from portrait import tuning

    trials = []
    trained = propensity.train_propensity(
        synthetic_sets,
        FEATURES,
        minimise=tuning.minimise,
        space=_space(),
        max_evals=2,
        seed=7,
        on_trial=lambda p, m: trials.append((p, m)),
    )
    assert len(trials) == 2 and set(trials[0][0]) == set(SMALL_SPACE)
    assert isinstance(trials[0][0]["max_depth"], int) and 0.7 <= trials[0][0]["subsampling_rate"] <= 1.0
    m = trained.test.metrics
    assert m["auc"] > 0.7 and m["auc_uncalibrated"] >= m["auc"] - 0.02
    assert 0.0 <= m["ece"] < 0.1 and 0.0 < m["brier"] < m["base_rate"]
    assert m["gain_decile_10"] == pytest.approx(1.0) and m["top_decile_lift"] > 1.5
    assert trained.test.importances[0]["feature"] == "f_signal"
    # The logged pipeline publishes a calibrated probability, monotone in the GBT's.
    out = trained.model.transform(synthetic_sets.test)
    pairs = out.select(evaluation.raw_probability(out).alias("raw"), "calibrated_probability").collect()
    ordered = [c for _, c in sorted((r.raw, r.calibrated_probability) for r in pairs)]
    assert ordered == sorted(ordered) and 0.0 <= ordered[0] <= ordered[-1] <= 1.0
    assert "prediction" in out.columns  # the GBT's, which the MLflow pyfunc wrapper reads
    for name, fig in plots.all_figures(trained.test, "test").items():
        fig.savefig(tmp_path / name)
        plots.close(fig)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decision_rule_floors_and_margin():
    policy = promotion.PromotionPolicy(margin=0.005, min_auc=0.6, max_ece=0.1)
    assert promotion.decide(auc=0.7, ece=0.05, champion_auc=None, policy=policy).promote
    low = promotion.decide(auc=0.55, ece=0.05, champion_auc=None, policy=policy)
    assert not low.promote and "auc 0.550 < floor 0.600" in low.reason
    assert not promotion.decide(auc=0.7, ece=0.2, champion_auc=None, policy=policy).promote
    close = promotion.decide(auc=0.744, ece=0.05, champion_auc=0.741, policy=policy, champion_version="3")
    assert not close.promote and close.reason == "auc 0.744 < champion v3 0.741 + margin 0.005"
    assert promotion.decide(auc=0.75, ece=0.05, champion_auc=0.741, policy=policy).promote
    assert not promotion.decide(auc=float("nan"), ece=0.05, champion_auc=None, policy=policy).promote


def test_worse_challenger_is_not_promoted_and_the_champion_stays(spark, synthetic_sets, mlflow_store):
    import mlflow
    from mlflow.tracking import MlflowClient

    from portrait import registry

    name = "test_purchase_propensity"
    # No floors here: only the comparison with the champion can keep the challenger out.
    policy = promotion.PromotionPolicy(margin=0.005, min_auc=0.0, max_ece=1.0)
    params = {"max_depth": 3, "max_iter": 10, "step_size": 0.2}
    good = propensity.fit_calibrated(synthetic_sets, FEATURES, params, seed=7)
    with mlflow.start_run():
        v1 = registry.log_and_register(good.model, name=name)
        first = gate(name, v1, metrics=good.test.metrics, oot_rows=synthetic_sets.test, policy=policy)
    assert first.promote and first.reason.startswith("first champion")

    # A challenger trained on shuffled labels: same rows, no signal left to learn.
    shuffled = synthetic_sets.train.withColumn("label", (F.rand(99) < 0.3).cast("double"))
    worse_sets = TrainingSets(train=shuffled, calibration=synthetic_sets.calibration, test=synthetic_sets.test)
    worse = propensity.fit_calibrated(worse_sets, FEATURES, params, seed=7)
    with mlflow.start_run():
        v2 = registry.log_and_register(worse.model, name=name)
        second = gate(name, v2, metrics=worse.test.metrics, oot_rows=synthetic_sets.test, policy=policy)

    assert not second.promote
    assert second.champion_version == v1
    assert second.champion_auc == pytest.approx(good.test.metrics["auc"])  # the champion, re-scored on the same rows
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(name, registry.CHAMPION).version) == v1
    assert str(client.get_model_version_by_alias(name, registry.CHALLENGER).version) == v2
    tag = client.get_model_version(name, v2).tags[promotion.DECISION_TAG]
    assert re.fullmatch(rf"not promoted: auc 0\.\d{{3}} < champion v{v1} 0\.\d{{3}} \+ margin 0\.005", tag), tag
    assert good.test.metrics["auc"] > 0.75 and worse.test.metrics["auc"] < good.test.metrics["auc"] - 0.1
    assert client.get_model_version(name, v1).tags[promotion.DECISION_TAG].startswith("promoted: first champion")


def test_the_best_of_three_validation_aucs_wins_and_a_tie_goes_to_the_simpler_family():
    from portrait.models.family import best_family

    blend_wins = best_family({0.0: 0.70, 0.25: 0.74, 0.5: 0.78, 0.75: 0.77, 1.0: 0.76})
    assert blend_wins.family == family.Family("blend", 0.5) and blend_wins.family.label == "blend (logistic weight 0.5)"
    assert blend_wins.valid_auc == {"gbt": 0.70, "logistic": 0.76, "blend": 0.78} and blend_wins.auc == 0.78
    logistic_wins = best_family({0.0: 0.70, 0.25: 0.71, 0.5: 0.72, 0.75: 0.74, 1.0: 0.75})
    assert logistic_wins.family == family.Family("logistic", 1.0) and logistic_wins.blend_weight == 0.75
    tie = best_family({0.0: 0.75, 0.25: 0.75, 0.5: 0.75, 0.75: 0.70, 1.0: 0.75})
    assert tie.family == family.Family("gbt", 0.0)  # on a tie the simpler family: gbt, then logistic, then blend
    with pytest.raises(ValueError, match="unknown model family 'forest'"):
        family.Family("forest")


def test_the_family_trained_is_the_one_with_the_best_validation_auc(spark, synthetic_sets):
    from portrait import tuning

    trained = propensity.train_propensity(
        synthetic_sets,
        FEATURES,
        minimise=tuning.minimise,
        space=_space(),
        max_evals=1,
        seed=7,
        on_trial=lambda p, m: None,
    )
    choice = trained.choice
    assert choice is not None and set(choice.valid_auc) == set(family.FAMILIES)
    # Each candidate measured again on its own: its pipeline fitted on the tuner's fit persons and
    # scored on its validation persons (never on the test rows).
    fit_part, valid = propensity.validation_split(synthetic_sets.train)
    candidates = {
        "gbt": family.Family("gbt"),
        "logistic": family.Family("logistic", 1.0),
        "blend": family.Family("blend", choice.blend_weight),
    }
    measured = {
        name: evaluation.model_auc(family.pipeline(f, FEATURES, FEATURES, trained.params, seed=7).fit(fit_part), valid)
        for name, f in candidates.items()
    }
    assert measured == pytest.approx(choice.valid_auc, abs=1e-9)
    assert choice.valid_auc["blend"] == max(v for w, v in choice.weight_auc.items() if 0 < w < 1)
    best = max(measured.values())
    assert measured[trained.family.name] == pytest.approx(best, abs=1e-9) and trained.valid_auc == choice.auc
    assert trained.family == candidates[trained.family.name]
    # The model is that family's pipeline, calibrated, and its report names every input.
    kinds = {type(s).__name__ for s in trained.model.stages} & {
        "GBTClassificationModel",
        "LogisticRegressionModel",
        "ProbabilityBlend",
    }
    assert (
        kinds
        == {
            "gbt": {"GBTClassificationModel"},
            "logistic": {"LogisticRegressionModel"},
            "blend": {"GBTClassificationModel", "LogisticRegressionModel", "ProbabilityBlend"},
        }[trained.family.name]
    )
    assert type(trained.model.stages[-1]).__name__ == "ScoreCalibrator"
    importances = trained.test.importances
    assert [r["feature"] for r in importances] == ["f_signal", "f_noise"]  # the label depends on f_signal only
    assert sum(r["importance"] for r in importances) == pytest.approx(1.0)


def test_lineage_hashes_the_resolved_config(tmp_path):
    from helpers import make_config

    from portrait import train

    cfg = make_config(tmp_path)
    assert train.config_sha256(cfg) == train.config_sha256(make_config(tmp_path))
    from portrait.config import replace

    changed = replace(cfg, train=replace(cfg.train, min_auc=0.61))
    assert train.config_sha256(changed) != train.config_sha256(cfg)
    version = train.code_version()
    assert re.fullmatch(r"[0-9a-f]{40}", version["code_version"]) and version["code_dirty"] in ("true", "false")


def test_the_family_report_of_a_chosen_blend_equals_a_refit(spark, synthetic_sets):
    """`family_aucs(fitted_blend=...)` (orders-model passes the chosen, calibrated blend) gives what
    fitting the blend again on the same rows gives."""
    params = {"max_depth": 3, "max_iter": 10, "step_size": 0.2}
    chosen = propensity.fit_calibrated(synthetic_sets, FEATURES, params, seed=7, family=family.Family("blend", 0.5))
    args = (synthetic_sets.train, synthetic_sets.test, FEATURES, FEATURES, params)
    reused = family.family_aucs(*args, seed=7, blend_weight=0.5, fitted_blend=chosen.model)
    assert reused == pytest.approx(family.family_aucs(*args, seed=7, blend_weight=0.5), abs=1e-12)
    assert set(reused) == set(family.FAMILIES) and reused["blend"] == pytest.approx(
        chosen.test.metrics["auc_uncalibrated"]
    )
