"""Text signals: the sentiment and the interest topic of every social post and review.

Method: a Spark ML pipeline — tokens (English words, single Chinese characters, emoji and `!?`),
their bigrams (so that negations such as `不太好` / `not great` and sarcasm such as `great, another
broken` are features, not a keyword lookup), hashed term frequencies, IDF, and one multinomial
logistic regression per label. Everything is native Spark ML, so it runs distributed, inside the
same session, with no Python UDF and no model download.

Why this and not a lexicon or an embedding model (measured by `bench/text.py`, see README):
a lexicon cannot read negation or sarcasm in mixed Chinese/English text (the unigram-only ablation
already loses accuracy); a small multilingual embedding model installs from PyPI but runs in a
pandas UDF on CPU (typically a few hundred texts per second per core for a MiniLM-size model: an
estimate, not measured here), and its sentence vectors still need a classifier trained on
labelled text. The labels come from a labelled set
(`text.labels_path`: post_id, sentiment, topic — for the generated data, the generator's truth);
held-out posts (a hash of post_id) measure accuracy.

`text.run` (the `text` job, between identity and features) trains when due, registers the model in
MLflow as `text.model_name` with the `champion` alias, and writes `silver.social_signals`;
`score_posts` (here, pure builders only) applies a fitted model to `silver.social` rows and
returns one row per post: `sentiment`, `sentiment_score` = P(positive) − P(negative) in [−1, 1],
`topic`, `topic_confidence`.
"""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, HashingTF, IndexToString, NGram, SQLTransformer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.keys import hash_bucket

SENTIMENTS = ("positive", "neutral", "negative")
# English words and numbers, one Chinese character, one emoji or other symbol, ! and ?.
TOKEN_PATTERN = r"[a-z0-9]+|\\p{IsHan}|[\\p{So}\\p{Sk}]|[!?！？]"


def _label_index(label: Column, values: tuple[str, ...]) -> Column:
    """0-based position of `label` in `values` (null when unknown)."""
    pos = F.array_position(F.array(*[F.lit(v) for v in values]), label)
    return F.when(pos > 0, (pos - 1).cast("double"))


def build_pipeline(
    *, topics: tuple[str, ...], num_features: int, reg_param: float, max_iter: int, bigrams: bool = True
) -> Pipeline:
    """Featurisation and the two classifiers (input `text`, training labels `sentiment_idx`, `topic_idx`).

    `bigrams=False` keeps single tokens only (the ablation `bench/text.py` measures).
    """
    tokens = SQLTransformer(
        statement=(
            "SELECT *, regexp_extract_all(lower(coalesce(text, '')), "
            f"'{TOKEN_PATTERN}', 0) AS text_tokens FROM __THIS__"
        )
    )
    pairs = NGram(n=2, inputCol="text_tokens", outputCol="text_bigrams")
    terms = SQLTransformer(
        statement=(
            "SELECT *, concat(text_tokens, text_bigrams) AS text_terms FROM __THIS__"
            if bigrams
            else "SELECT *, text_tokens AS text_terms FROM __THIS__"
        )
    )
    tf = HashingTF(inputCol="text_terms", outputCol="text_tf", numFeatures=num_features)
    idf = IDF(inputCol="text_tf", outputCol="text_features", minDocFreq=2)

    def classifier(label: str) -> LogisticRegression:
        return LogisticRegression(
            featuresCol="text_features",
            labelCol=f"{label}_idx",
            family="multinomial",
            regParam=reg_param,
            elasticNetParam=0.0,
            maxIter=max_iter,
            predictionCol=f"{label}_pred",
            probabilityCol=f"{label}_prob",
            rawPredictionCol=f"{label}_raw",
        )

    decode = [
        IndexToString(inputCol="sentiment_pred", outputCol="sentiment", labels=list(SENTIMENTS)),
        IndexToString(inputCol="topic_pred", outputCol="topic", labels=list(topics)),
    ]
    return Pipeline(stages=[tokens, pairs, terms, tf, idf, classifier("sentiment"), classifier("topic"), *decode])


def training_rows(social: DataFrame, labels: DataFrame, *, topics: tuple[str, ...]) -> DataFrame:
    """Posts with text joined to their labels (post_id unique on both sides), labels as indices."""
    texts = social.where(F.col("text").isNotNull() & (F.trim("text") != "")).select("post_id", "text")
    labelled = texts.join(
        labels.select("post_id", F.col("sentiment").alias("sentiment_label"), F.col("topic").alias("topic_label")),
        on="post_id",
        how="inner",
    )
    return labelled.select(
        "post_id",
        "text",
        "sentiment_label",
        "topic_label",
        _label_index(F.col("sentiment_label"), SENTIMENTS).alias("sentiment_idx"),
        _label_index(F.col("topic_label"), topics).alias("topic_idx"),
    ).where(F.col("sentiment_idx").isNotNull() & F.col("topic_idx").isNotNull())


def split(rows: DataFrame, *, test_fraction: float) -> tuple[DataFrame, DataFrame]:
    """Train / held-out posts by a hash of post_id (stable across runs and partitionings)."""
    bucket = hash_bucket("text-holdout", "post_id", 10_000) / 10_000.0
    return rows.where(bucket >= test_fraction), rows.where(bucket < test_fraction)


def score_posts(model: PipelineModel, social: DataFrame) -> DataFrame:
    """One row per post with text: `post_id`, `sentiment`, `sentiment_score`, `topic`, `topic_confidence`."""
    with_text = social.where(F.col("text").isNotNull() & (F.trim("text") != ""))
    scored = model.transform(with_text.select("post_id", "text"))
    sentiment_p = vector_to_array("sentiment_prob")  # type: ignore[arg-type]
    topic_p = vector_to_array("topic_prob")  # type: ignore[arg-type]
    return scored.select(
        "post_id",
        "sentiment",
        (sentiment_p[0] - sentiment_p[2]).alias("sentiment_score"),
        "topic",
        F.array_max(topic_p).alias("topic_confidence"),
    )


def evaluate(model: PipelineModel, rows: DataFrame) -> dict[str, float]:
    """Accuracy and macro-F1 of both labels on labelled rows (from `training_rows`)."""
    scored = model.transform(rows)
    metrics: dict[str, float] = {}
    for label in ("sentiment", "topic"):
        truth, pred = F.col(f"{label}_label"), F.col(label)
        per_class = (
            scored.groupBy(truth.alias("c"))
            .agg(
                F.count(F.lit(1)).alias("support"),
                F.sum((pred == truth).cast("long")).alias("tp"),
            )
            .join(
                scored.groupBy(pred.alias("c")).agg(F.count(F.lit(1)).alias("predicted")),
                on="c",
                how="full",
            )
            .select(
                F.coalesce("tp", F.lit(0)).alias("tp"),
                F.coalesce("support", F.lit(0)).alias("support"),
                F.coalesce("predicted", F.lit(0)).alias("predicted"),
            )
            .select(
                "tp",
                "support",
                F.when(
                    F.col("support") + F.col("predicted") > 0,
                    2.0 * F.col("tp") / (F.col("support") + F.col("predicted")),
                )
                .otherwise(0.0)
                .alias("f1"),
            )
        )
        agg = per_class.agg(F.sum("tp").alias("tp"), F.sum("support").alias("n"), F.avg("f1").alias("f1")).first()
        metrics[f"{label}_accuracy"] = float(agg["tp"]) / max(int(agg["n"]), 1)
        metrics[f"{label}_macro_f1"] = float(agg["f1"] or 0.0)
    metrics["held_out_posts"] = float(rows.count())
    return metrics


def quality(metrics: dict[str, float]) -> float:
    """The one number two text models are compared by: the mean macro-F1 of both labels."""
    return (metrics["sentiment_macro_f1"] + metrics["topic_macro_f1"]) / 2


def decide(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    *,
    min_accuracy: float,
    margin: float,
    champion_version: str | None = None,
) -> tuple[bool, str]:
    """(promote, reason): the text model's gate, without MLflow.

    Args:
        candidate: `evaluate` of the new model on the held-out posts.
        champion: `evaluate` of the current champion on the same posts (None: no champion, or one
            that cannot score them).
        min_accuracy: the floor on both labels' accuracy.
        margin: the candidate's `quality` must be at least the champion's plus this.

    With no held-out post nothing can be measured: the first model becomes champion (something must
    score the posts) and says so; a later one does not replace a champion it cannot be compared with.
    """
    if candidate["held_out_posts"] == 0:
        if champion is None:
            return True, "first champion, unmeasured: no held-out posts"
        return False, f"no held-out posts to compare with champion v{champion_version}"
    failed = [
        f"{label} accuracy {candidate[f'{label}_accuracy']:.3f} < floor {min_accuracy:.3f}"
        for label in ("sentiment", "topic")
        if not candidate[f"{label}_accuracy"] >= min_accuracy  # `not >=`: a NaN fails
    ]
    mine = quality(candidate)
    if champion is not None and not mine >= quality(champion) + margin:
        failed.append(f"macro-F1 {mine:.3f} < champion v{champion_version} {quality(champion):.3f} + margin {margin:g}")
    if failed:
        return False, "; ".join(failed)
    versus = (
        "first champion (none before it)"
        if champion is None
        else f"macro-F1 {mine:.3f} >= champion v{champion_version} {quality(champion):.3f} + margin {margin:g}"
    )
    return True, f"{versus}; both accuracies >= floor {min_accuracy:.3f}"
