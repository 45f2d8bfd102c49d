"""Score's pure parts on tiny data: reasons for every person, the quality gate and what it blocks."""

from __future__ import annotations

import datetime as dt
import math
import random
import re

import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog
from portrait.config_models import GateConfig, ReasonInput
from portrait.io import Lakehouse
from portrait.scoring import GateFailed, gate_checks, publish, with_probability, with_reasons
from portrait.scoring.reasons import points

D = dt.date(2026, 11, 1)
INPUTS = [
    ReasonInput(
        column="days_since_last_order",
        phrase="no purchase for %.0f days",
        phrase_one="no purchase for 1 day",
        when_null="never bought",
    ),
    ReasonInput(column="orders_90d", phrase="%.0f orders in 90 days", phrase_one="1 order in 90 days"),
    ReasonInput(column="not_a_column", phrase="%.0f"),
]


def _logistic_on_recency_and_orders(spark, data: list[tuple], *after) -> PipelineModel:
    """A logistic regression of `label` on recency and orders fitted on `data` rows (person_id,
    days_since_last_order, orders_90d, label), followed by the stages `after`."""
    train = spark.createDataFrame(
        data, "person_id string, days_since_last_order double, orders_90d double, label double"
    )
    stages = [
        VectorAssembler(inputCols=["days_since_last_order", "orders_90d"], outputCol="features"),
        LogisticRegression(maxIter=50),
        *after,
    ]
    return Pipeline(stages=stages).fit(train)


def test_every_scored_person_gets_readable_reasons_led_by_what_moves_their_score(spark):
    # Purchases are driven by recency; orders_90d is noise.
    data = [(f"p{i}", float(i % 50), float(i % 3), 1.0 if i % 50 < 10 else 0.0) for i in range(200)]
    model = _logistic_on_recency_and_orders(spark, data)
    # Recency quantiles of these persons (the background their inputs are compared with): 1, 8, 9, 12, 49 days.
    rows = spark.createDataFrame(
        [("a", 49.0, 1.0), ("b", 1.0, 2.0), ("c", 9.0, 0.0), ("d", 8.0, 1.0), ("e", 12.0, 2.0)],
        "person_id string, days_since_last_order double, orders_90d double",
    )
    scored = with_probability(rows, model, "purchase_propensity")
    got = with_reasons(
        scored, model, probability="purchase_propensity", output="purchase_reasons", inputs=INPUTS
    ).localCheckpoint()
    assert got.count() == 5
    assert got.where(F.size("purchase_reasons") > 2).isEmpty()  # two usable inputs at most
    by_person = {r["person_id"]: r["purchase_reasons"] for r in got.collect()}
    assert by_person["a"][0].startswith("no purchase for 49 days (-")  # long ago: lowers the score
    assert not any(
        r.startswith("no purchase for 1 day") and "(-" in r for r in by_person["b"]
    )  # recent: never lowers it
    assert all(len(rs) >= 1 for rs in by_person.values())
    assert all(not r.endswith("(+0 pts)") for rs in by_person.values() for r in rs)


def test_reasons_read_the_raw_score_so_a_step_calibration_silences_none(spark):
    # Recency lowers and orders raise the purchase score; the pipeline ends in the step-shaped
    # isotonic calibration that used to be published, which is flat over most of the scores.
    rng = random.Random(1)
    odds = lambda r, o: math.exp(0.1 * (10 + 5 * o - r))  # noqa: E731 - the true odds of a purchase
    data = [
        (f"p{i}", float(i % 50), float(i % 4), float(rng.random() < odds(i % 50, i % 4) / (1 + odds(i % 50, i % 4))))
        for i in range(400)
    ]
    model = _logistic_on_recency_and_orders(
        spark,
        data,
        IsotonicRegression(featuresCol="probability", featureIndex=1, predictionCol="calibrated_probability"),
    )
    # Medians: 9 days, 2 orders; "c" sits at both, and is still explained against the spread of typical values.
    rows = spark.createDataFrame(
        [("a", 49.0, 1.0), ("b", 1.0, 3.0), ("c", 9.0, 2.0), ("d", 8.0, 2.0), ("e", 12.0, 0.0), ("m", 10.0, 2.0)],
        "person_id string, days_since_last_order double, orders_90d double",
    )
    scored = with_probability(rows, model, "purchase_propensity")
    got = with_reasons(scored, model, probability="purchase_propensity", output="purchase_reasons", inputs=INPUTS)
    by_person = {r["person_id"]: r["purchase_reasons"] for r in got.collect()}
    assert all(len(by_person[p]) >= 1 for p in "abcdem"), by_person
    size = r"(\d+ pts?|\d\.\d pts|<0\.1 pts)"
    assert all(re.fullmatch(rf".+ \((\+|-){size}\)", r) for rs in by_person.values() for r in rs), by_person
    assert re.fullmatch(rf"no purchase for 49 days \(-{size}\)", by_person["a"][0])  # the largest change first
    assert re.fullmatch(rf"1 order in 90 days \(-{size}\)", by_person["a"][1])  # singular; fewer orders: lower
    assert {r.split(" (")[0] for r in by_person["b"]} == {"no purchase for 1 day", "3 orders in 90 days"}
    assert all("(+" in r for r in by_person["b"])  # recent and frequent: both raise the score
    assert all(len(rs) == 2 for rs in by_person.values())  # both inputs move every score here


def test_points_are_signed_and_readable(spark):
    deltas = spark.createDataFrame([(0.12,), (-0.01,), (0.0096,), (0.0094,), (0.004,), (-0.0004,)], "d double")
    got = deltas.select("d", points(F.col("d")).alias("text"))
    expected = spark.createDataFrame(
        [(0.12, "+12 pts"), (-0.01, "-1 pt"), (0.0096, "+1 pt"), (0.0094, "+0.9 pts"), (0.004, "+0.4 pts")]
        + [(-0.0004, "-<0.1 pts")],
        "d double, text string",
    )
    assertDataFrameEqual(got, expected)


def test_reasons_are_null_where_the_score_is(spark):
    rows = spark.createDataFrame([("a", 1.0, None)], "person_id string, orders_90d double, churn_propensity double")
    got = with_reasons(rows, None, probability="churn_propensity", output="churn_reasons", inputs=INPUTS)
    assert got.first()["churn_reasons"] is None


def _scores(spark, values, *, seg=1):
    return spark.createDataFrame(
        [(f"p{i}", v, seg) for i, v in enumerate(values)],
        "person_id string, purchase_propensity double, segment_id int",
    ).withColumn("action", F.lit("none"))


def test_gate_checks_row_count_nulls_and_psi(spark):
    conf = GateConfig(max_row_change=0.2, max_null_rate={"purchase_propensity": 0.1}, max_psi=0.25)
    previous = _scores(spark, [i / 100 for i in range(100)])
    same = _scores(spark, [i / 100 for i in range(100)])
    got = gate_checks(same, previous, conf).select("check", "value", "passed")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                ("row_count_change", 0.0, True),
                ("null_rate:purchase_propensity", 0.0, True),
                ("psi:purchase_propensity", 0.0, True),
                ("rows", 0.0, True),
            ],
            "check string, value double, passed boolean",
        ),
    )
    bad = _scores(spark, [0.95] * 50 + [None] * 10)
    checks = {r["check"]: r for r in gate_checks(bad, previous, conf).collect()}
    assert checks["row_count_change"]["value"] == pytest.approx(0.4) and not checks["row_count_change"]["passed"]
    assert checks["null_rate:purchase_propensity"]["value"] == pytest.approx(10 / 60)
    assert not checks["null_rate:purchase_propensity"]["passed"]
    assert checks["psi:purchase_propensity"]["value"] > 1 and not checks["psi:purchase_propensity"]["passed"]
    first_day = {r["check"]: r["passed"] for r in gate_checks(bad, previous.limit(0), conf).collect()}
    assert first_day["row_count_change"] and first_day["psi:purchase_propensity"]  # nothing to compare with

    # A new champion shifts the scores by design: PSI compares days of the same model only.
    version = lambda df, v: df.withColumn("propensity_model_version", F.lit(v))  # noqa: E731
    shifted = _scores(spark, [0.95] * 100)
    psi = lambda b, p: {r["check"]: r for r in gate_checks(b, p, conf).collect()}["psi:purchase_propensity"]  # noqa: E731
    assert not psi(version(shifted, "3"), version(previous, "3"))["passed"]
    new_model = psi(version(shifted, "4"), version(previous, "3"))
    assert new_model["passed"] and new_model["value"] is None


def _batch(spark, date, values):
    """A scored batch with every column the published tables and gold.actions_sent take."""
    base = _scores(spark, values).withColumns(
        {"date": F.lit(date), "holdout": F.lit(False), "intended_action": F.lit("none")}
    )
    needed = {c.name: c.type for t in (*catalog.PUBLISHED, catalog.GOLD_ACTIONS_SENT) for c in t.columns}
    return base.withColumns({c: F.lit(None).cast(t) for c, t in needed.items() if c not in base.columns})


def test_a_failing_batch_is_not_published_and_readers_keep_the_previous_day(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    gate = GateConfig()
    day0, day1 = D - dt.timedelta(days=1), D
    counts = publish(lake, _batch(spark, day0, [i / 100 for i in range(100)]), gate, day0)
    assert counts["propensity_daily"] == 100
    before = {t: lake.read(t).localCheckpoint() for t in catalog.PUBLISHED}
    bad = _batch(spark, day1, [0.99] * 100)  # the score distribution collapsed
    with pytest.raises(GateFailed, match=r"psi:purchase_propensity = .* > 0\.25"):
        publish(lake, bad, gate, day1)
    for table in catalog.PUBLISHED:
        assertDataFrameEqual(lake.read(table), before[table])
        assert lake.read(table).agg(F.max("date")).first()[0] == day0
    with pytest.raises(GateFailed, match=r"row_count_change = 1 > 0\.2; null_rate:purchase_propensity = 0\.25 > 0"):
        publish(lake, _batch(spark, day1, [0.5] * 50 + [None] * 50 + [0.3] * 100), gate, day1)
    good = _batch(spark, day1, [(i + 1) / 101 for i in range(100)])
    assert publish(lake, good, gate, day1)["next_actions_daily"] == 100
    assert lake.read(catalog.GOLD_NEXT_ACTIONS_DAILY).agg(F.max("date")).first()[0] == day1


def _recency_sets(spark):
    """Train, calibration and test persons (6:2:2) whose purchases fall with recency and rise with orders."""
    from portrait.models.labels import TrainingSets

    rng = random.Random(5)
    odds = lambda r, o: math.exp(0.1 * (10 + 5 * o - r))  # noqa: E731 - the true odds of a purchase
    data = [
        (f"p{i:04d}", i % 10, float(r), float(o), float(rng.random() < odds(r, o) / (1 + odds(r, o))))
        for i, (r, o) in enumerate((rng.randrange(50), rng.randrange(4)) for _ in range(900))
    ]
    rows = spark.createDataFrame(
        data, "person_id string, part int, days_since_last_order double, orders_90d double, label double"
    )
    return TrainingSets(
        train=rows.where("part < 6"), calibration=rows.where("part in (6, 7)"), test=rows.where("part >= 8")
    )


def test_a_champion_is_loaded_once_per_version_and_again_when_the_alias_moves(spark, mlflow_store):
    import mlflow

    from portrait import costs, registry

    assembler = VectorAssembler(inputCols=["x"], outputCol="features")
    rows = spark.createDataFrame([(float(i), float(i % 2)) for i in range(20)], "x double, label double")
    model = Pipeline(stages=[assembler, LogisticRegression(maxIter=3)]).fit(rows)
    with mlflow.start_run():
        first = registry.log_and_register(model, name="test_once")
        second = registry.log_and_register(model, name="test_once")
    registry.set_champion("test_once", first)
    loaded, version, _ = registry.load_champion("test_once")
    with costs.meter(spark) as again:
        reloaded, same_version, _ = registry.load_champion("test_once")
    assert (reloaded is loaded, str(same_version), again.jobs) == (True, first, 0)
    registry.set_version_tags("test_once", first, {"note": "tags are read on every call"})
    assert registry.load_champion("test_once")[2] == {"note": "tags are read on every call"}

    registry.set_champion("test_once", second)  # the alias moves: the new version is loaded
    moved, moved_version, _ = registry.load_champion("test_once")
    assert (moved is loaded, str(moved_version)) == (False, second)
    assertDataFrameEqual(moved.transform(rows).select("prediction"), model.transform(rows).select("prediction"))


@pytest.mark.parametrize("name", ["logistic", "blend"])
def test_a_day_scores_with_a_logistic_or_a_blend_champion(spark, mlflow_store, name):
    import mlflow

    from portrait import registry
    from portrait.models import evaluation, propensity
    from portrait.models.deciles import with_decile
    from portrait.models.family import Family

    cols = ["days_since_last_order", "orders_90d"]
    chosen = Family(name, 1.0 if name == "logistic" else 0.5)
    params = {"max_depth": 2, "max_iter": 10, "step_size": 0.3}
    trained = propensity.fit_calibrated(_recency_sets(spark), cols, params, seed=3, family=chosen)
    with mlflow.start_run():
        version = registry.log_and_register(trained.model, name="test_purchase", tags={"family": chosen.label})
    registry.set_champion("test_purchase", version)
    champion, loaded_version, tags = registry.load_champion("test_purchase")
    assert (str(loaded_version), tags["family"]) == (version, chosen.label)  # an int on some stores

    rows = spark.createDataFrame(
        [(f"q{i}", float(i % 50), float(i % 4)) for i in range(200)],
        "person_id string, days_since_last_order double, orders_90d double",
    )
    scored = with_probability(rows, champion, "purchase_propensity")
    # The logged and reloaded champion publishes what the trained pipeline does.
    assertDataFrameEqual(scored, with_probability(rows, trained.model, "purchase_propensity"))
    assert scored.where("purchase_propensity <= 0 or purchase_propensity >= 1").isEmpty()
    deciles = with_decile(scored, "purchase_propensity", output="propensity_decile", key="person_id")
    sizes = {r["propensity_decile"]: r["count"] for r in deciles.groupBy("propensity_decile").count().collect()}
    assert set(sizes) == set(range(1, 11)) and set(sizes.values()) == {20}

    # The reasons read the family's uncalibrated P(1): the logistic regression's sigmoid of its margin,
    # or the blend's weighted mean of the two models' P(1).
    out = champion.transform(rows)
    raw = evaluation.raw_probability(out)
    if name == "logistic":
        margin = vector_to_array(out["rawPrediction"])[1]
        assert out.where(F.abs(raw - 1 / (1 + F.exp(-margin))) > 1e-9).isEmpty()
    else:
        mean = 0.5 * vector_to_array(out["probability_gbt"])[1] + 0.5 * vector_to_array(out["probability_logistic"])[1]
        assert out.where(F.abs(raw - mean) > 1e-12).isEmpty()
    got = with_reasons(scored, champion, probability="purchase_propensity", output="purchase_reasons", inputs=INPUTS)
    by_person = {r["person_id"]: r["purchase_reasons"] for r in got.collect()}
    assert len(by_person) == 200 and all(len(rs) >= 1 for rs in by_person.values())
    assert by_person["q49"][0].startswith("no purchase for 49 days (-")  # long ago: lowers the score most
    assert all("(-" not in r for r in by_person["q1"] if r.startswith("no purchase"))  # recent: never lowers it
