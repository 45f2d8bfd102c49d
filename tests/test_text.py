"""Text signals: tokens of mixed Chinese/English text, the held-out split, the metrics and a fitted model."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import text

TOPICS = ("sneakers", "beauty")


def _labelled(spark, rows):
    return spark.createDataFrame(rows, "post_id string, text string, sentiment_label string, topic_label string")


def test_tokens_split_chinese_characters_english_words_and_emoji(spark):
    df = spark.createDataFrame(
        [
            (
                "p1",
                "这双Sneakers 不太好!! 😤 10/10",
            )
        ],
        "post_id string, text string",
    )
    stage = text.build_pipeline(topics=TOPICS, num_features=64, reg_param=0.1, max_iter=1).getStages()[0]
    got = stage.transform(df).select("text_tokens").first()[0]
    assert got == ["这", "双", "sneakers", "不", "太", "好", "!", "!", "😤", "10", "10"]


def test_training_rows_keep_labelled_posts_with_known_labels_only(spark):
    social = spark.createDataFrame(
        [("a", "好"), ("b", "差"), ("c", None), ("d", "ok"), ("e", "meh")], "post_id string, text string"
    )
    labels = spark.createDataFrame(
        [
            ("a", "positive", "beauty"),
            ("b", "negative", "sneakers"),
            ("c", "neutral", "beauty"),
            ("d", "furious", "beauty"),
            ("x", "neutral", "beauty"),
        ],
        "post_id string, sentiment string, topic string",
    )
    got = text.training_rows(social, labels, topics=TOPICS)
    want = spark.createDataFrame(
        [("a", "好", "positive", "beauty", 0.0, 1.0), ("b", "差", "negative", "sneakers", 2.0, 0.0)],
        "post_id string, text string, sentiment_label string, topic_label string, "
        "sentiment_idx double, topic_idx double",
    )
    assertDataFrameEqual(got, want)


def test_split_is_a_stable_partition_by_post_id(spark):
    rows = spark.range(2000).select(F.concat(F.lit("p"), F.col("id").cast("string")).alias("post_id"))
    train, test = text.split(rows, test_fraction=0.2)
    train_ids = {r[0] for r in train.collect()}
    test_ids = {r[0] for r in test.collect()}
    assert not train_ids & test_ids and len(train_ids | test_ids) == 2000
    assert 300 < len(test_ids) < 500
    _, again = text.split(rows.repartition(7), test_fraction=0.2)
    assert {r[0] for r in again.collect()} == test_ids


@pytest.fixture(scope="module")
def fitted(spark):
    words = {
        ("positive", "sneakers"): ["这双球鞋超级舒服", "great sneakers love it", "球鞋质量很好"],
        ("negative", "sneakers"): ["这双球鞋质量很差", "sneakers broke, not great", "球鞋不太好"],
        ("neutral", "sneakers"): ["这双球鞋还行吧", "sneakers are ok", "球鞋一般般"],
        ("positive", "beauty"): ["这支口红超级舒服", "lipstick love it", "口红质量很好"],
        ("negative", "beauty"): ["这支口红质量很差", "lipstick not great", "口红不太好"],
        ("neutral", "beauty"): ["这支口红还行吧", "lipstick is ok", "口红一般般"],
    }
    rows = [
        (f"{s}-{t}-{i}-{k}", phrase, s, t)
        for (s, t), phrases in words.items()
        for i, phrase in enumerate(phrases)
        for k in range(4)
    ]
    social = _labelled(spark, rows).select("post_id", "text")
    labels = _labelled(spark, rows).select(
        "post_id", F.col("sentiment_label").alias("sentiment"), F.col("topic_label").alias("topic")
    )
    train_rows = text.training_rows(social, labels, topics=TOPICS)
    model = text.build_pipeline(topics=TOPICS, num_features=1024, reg_param=0.01, max_iter=50).fit(train_rows)
    return model


def test_a_fitted_model_reads_negation_and_topic_in_new_texts(spark, fitted):
    new = spark.createDataFrame(
        [("n1", "口红不太好, 差"), ("n2", "love these sneakers, 超级舒服"), ("n3", None)], "post_id string, text string"
    )
    got = text.score_posts(fitted, new).select("post_id", "sentiment", "topic")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [("n1", "negative", "beauty"), ("n2", "positive", "sneakers")],
            "post_id string, sentiment string, topic string",
        ),
    )
    scores = {r["post_id"]: r["sentiment_score"] for r in text.score_posts(fitted, new).collect()}
    assert scores["n1"] < 0 < scores["n2"]


def test_evaluate_counts_accuracy_and_macro_f1(spark, fitted):
    rows = _labelled(
        spark,
        [
            ("a", "口红不太好", "positive", "beauty"),  # wrong sentiment, right topic
            ("b", "这双球鞋超级舒服", "positive", "sneakers"),
        ],
    )  # both right
    rows = rows.select("*", F.lit(0.0).alias("sentiment_idx"), F.lit(0.0).alias("topic_idx"))
    m = text.evaluate(fitted, rows)
    assert m["sentiment_accuracy"] == 0.5 and m["topic_accuracy"] == 1.0
    # sentiment: positive F1 = 2*1/(2+1) = 2/3, negative F1 = 0 (predicted once, never true) -> mean 1/3
    assert m["sentiment_macro_f1"] == pytest.approx(1 / 3)
    assert m["topic_macro_f1"] == 1.0


def test_only_posts_the_champion_has_not_scored_and_the_moved_persons_are_new_work(spark):
    social = spark.createDataFrame(
        [("a", "好", "p1"), ("b", "差", "p9"), ("c", "ok", "p3")], "post_id string, text string, person_id string"
    )
    signals = spark.createDataFrame(
        [("a", "p1", "3"), ("b", "p2", "3"), ("c", "p3", "2")], "post_id string, person_id string, model_version string"
    )
    # c was scored by version 2 only; b's author is now person p9 (a merge).
    assertDataFrameEqual(
        text.unscored(social, signals, "3").select("post_id"), spark.createDataFrame([("c",)], "post_id string")
    )
    assertDataFrameEqual(
        text.moved(social, signals), spark.createDataFrame([("b", "p9")], "post_id string, person_id string")
    )


def _metrics(sentiment: float, topic: float, *, f1: float | None = None, held_out: float = 10.0) -> dict[str, float]:
    return {
        "sentiment_accuracy": sentiment,
        "topic_accuracy": topic,
        "sentiment_macro_f1": sentiment if f1 is None else f1,
        "topic_macro_f1": topic if f1 is None else f1,
        "held_out_posts": held_out,
    }


def test_the_text_gate_checks_both_floors_then_the_champion_on_the_same_posts():
    from portrait.text.model import decide

    gate = {"min_accuracy": 0.6, "margin": 0.01, "champion_version": "3"}
    assert decide(_metrics(0.9, 0.8), None, **gate) == (
        True,
        "first champion (none before it); both accuracies >= floor 0.600",
    )
    promote, reason = decide(_metrics(0.9, 0.5), None, **gate)
    assert (promote, reason) == (False, "topic accuracy 0.500 < floor 0.600")
    promote, reason = decide(_metrics(0.9, 0.9, f1=0.80), _metrics(0.9, 0.9, f1=0.795), **gate)
    assert not promote and reason == "macro-F1 0.800 < champion v3 0.795 + margin 0.01"
    assert decide(_metrics(0.9, 0.9, f1=0.81), _metrics(0.9, 0.9, f1=0.795), **gate)[0]
    assert not decide(_metrics(float("nan"), 0.9), None, **gate)[0]  # a NaN fails
    # Nothing held out: the first model scores (something must), a later one keeps the champion.
    assert decide(_metrics(0.0, 0.0, held_out=0), None, **gate) == (
        True,
        "first champion, unmeasured: no held-out posts",
    )
    assert decide(_metrics(0.0, 0.0, held_out=0), _metrics(0.9, 0.9), **gate) == (
        False,
        "no held-out posts to compare with champion v3",
    )


def test_a_text_model_the_gate_turns_down_stays_challenger_and_the_champion_keeps_scoring(spark, tiny_base, tmp_path):
    import tinylake

    from portrait import catalog, registry
    from portrait.config import load_config
    from portrait.io import Lakehouse
    from portrait.models.promotion import DECISION_TAG
    from portrait.pipeline import run_stage

    tinylake.copy_lake(tiny_base, tmp_path / "lake")
    # Retrained on D (the base's model is a day old) against a margin over the champion no model reaches.
    cfg = load_config(tmp_path / "lake" / "conf.yaml", overrides={"text.retrain_days": 1, "text.margin": 1.0})
    registry.configure(cfg.mlflow)
    before, _ = registry.champion_info(cfg.text.model_name)
    result = run_stage("text", spark, cfg, tinylake.D)
    assert (result["trained"], result["promoted"]) == (True, False)
    champion, _ = registry.champion_info(cfg.text.model_name)
    challenger, tags = registry.alias_info(cfg.text.model_name, registry.CHALLENGER)
    assert (str(champion), int(challenger) > int(before)) == (str(before), True)
    assert tags[DECISION_TAG].startswith("not promoted: ") and f"< champion v{before} " in tags[DECISION_TAG]
    assert tags["trained_on"] == tinylake.D.isoformat()
    versions = Lakehouse(spark, cfg.paths.lakehouse).read(catalog.SILVER_SOCIAL_SIGNALS).select("model_version")
    assert {r["model_version"] for r in versions.distinct().collect()} == {str(before)}
    # A rerun does not retrain: the newest model, turned down or not, was trained on D (the champion on D-1).
    assert "trained" not in run_stage("text", spark, cfg, tinylake.D)
