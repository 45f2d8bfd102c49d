"""Text signals: held-out accuracy of sentiment and topic, and scoring throughput.

    python -m bench.text                       # the lake and truth of conf/local.yaml (after `make demo`)
    python -m bench.text --conf conf/x.yaml     # another lake with bronze.social and truth/social_labels

Trains `portrait.text` on the labelled posts (truth/social_labels) minus a held-out share, and
reports accuracy and macro-F1 on the held-out posts for the full model and for the unigram-only
ablation, plus scoring throughput (posts / (wall s x cores), median of `--repeats` warm runs,
written to Spark's noop sink). Writes bench/results/text_<n>posts.json and .md and prints them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench.run import RESULTS, ROOT, machine
from portrait import catalog, text
from portrait.config import load_config
from portrait.io import Lakehouse
from portrait.spark import get_session


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    cfg = load_config(args.conf)
    spark = get_session(cfg.spark)
    cores = int(spark.sparkContext.defaultParallelism)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    topics = tuple(cfg.features.categories)
    labels = spark.read.parquet(cfg.text.labels_path or f"{cfg.paths.truth}/social_labels")
    social = lake.read(catalog.BRONZE_SOCIAL)
    rows = text.training_rows(social, labels, topics=topics).cache()
    train_rows, test_rows = text.split(rows, test_fraction=cfg.text.test_fraction)
    # Generated texts are composed from finite phrase lists, so many held-out texts also occur,
    # verbatim, in training. The unseen subset (exact text never trained on) measures generalisation.
    unseen_rows = test_rows.join(train_rows.select("text").distinct(), on="text", how="left_anti")
    n_train, n_test, n_unseen = train_rows.count(), test_rows.count(), unseen_rows.count()

    variants = {}
    for name, bigrams in (("tokens+bigrams", True), ("tokens only", False)):
        pipeline = text.build_pipeline(
            topics=topics,
            num_features=cfg.text.num_features,
            reg_param=cfg.text.reg_param,
            max_iter=cfg.text.max_iter,
            bigrams=bigrams,
        )
        t0 = time.perf_counter()
        model = pipeline.fit(train_rows)
        fit_s = time.perf_counter() - t0
        metrics = text.evaluate(model, test_rows)
        unseen = {f"unseen_{k}": v for k, v in text.evaluate(model, unseen_rows).items()}
        variants[name] = {"fit_seconds": fit_s, **metrics, **unseen, "model": model}

    model = variants["tokens+bigrams"]["model"]
    posts = social.where(social.text.isNotNull()).cache()
    n_posts = posts.count()
    times = []
    for _ in range(args.repeats + 1):  # the first run warms up
        t0 = time.perf_counter()
        text.score_posts(model, posts).write.format("noop").mode("overwrite").save()
        times.append(time.perf_counter() - t0)
    warm = times[1:]
    result = {
        "benchmark": "text",
        "machine": machine(spark),
        "train_posts": n_train,
        "held_out_posts": n_test,
        "unseen_held_out_posts": n_unseen,
        "scored_posts": n_posts,
        "variants": {k: {m: v for m, v in d.items() if m != "model"} for k, d in variants.items()},
        "score_seconds_median": statistics.median(warm),
        "score_seconds_all": warm,
        "score_posts_per_s_per_core": n_posts / (statistics.median(warm) * cores),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / "text"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Text signals benchmark",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Labelled posts: {n_train:,} train, {n_test:,} held out (hash of post_id), of which "
        f'{n_unseen:,} have a text never seen verbatim in training ("unseen").',
        "",
        "| model | held-out | sentiment accuracy | sentiment macro-F1 | topic accuracy | topic macro-F1 | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, v in result["variants"].items():
        for subset, prefix in (("all", ""), ("unseen", "unseen_")):
            lines.append(
                f"| {k} | {subset} | {v[prefix + 'sentiment_accuracy']:.4f} | {v[prefix + 'sentiment_macro_f1']:.4f} "
                f"| {v[prefix + 'topic_accuracy']:.4f} | {v[prefix + 'topic_macro_f1']:.4f} | {v['fit_seconds']:.1f} |"
            )
    lines += [
        "",
        f"Scoring {n_posts:,} posts: median {result['score_seconds_median']:.2f} s "
        f"({', '.join(f'{x:.2f}' for x in warm)}) = "
        f"**{result['score_posts_per_s_per_core']:,.0f} posts/s/core**",
    ]
    Path(f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
