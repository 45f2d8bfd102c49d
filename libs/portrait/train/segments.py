"""The segment model trained in the train stage: fitted, named, logged, registered and made champion.

Segment ids stay stable across versions (`models.segmentation.stable_segment_ids`, against the
current champion's clusters); every new version becomes the champion.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import mlflow
from pyspark.sql import DataFrame

from portrait import registry
from portrait.config import TrainConfig
from portrait.models import plots, segmentation

log = logging.getLogger(__name__)


def train_segments(latest: DataFrame, conf: TrainConfig, *, lineage: dict[str, str], date: dt.date) -> dict:
    """Fit the segment model on the portraits of `date` (`latest`); return its version, names and metrics."""
    with mlflow.start_run(run_name=f"segments-{date}") as seg_run:
        mlflow.set_tags({**lineage, "model": conf.segment_model})
        seg_model, seg_metrics, curve = segmentation.fit_segments(latest, ks=conf.kmeans_ks, seed=conf.seed)
        try:
            previous, prev_version, prev_tags = registry.load_champion(conf.segment_model)
        except LookupError:
            previous, prev_version, prev_tags = None, None, {}
        mapping, mapping_note = segmentation.stable_segment_ids(
            seg_model, previous, json.loads(prev_tags.get("cluster_to_segment", "{}")), previous_version=prev_version
        )
        if mapping_note.startswith("changed"):
            log.warning("segments: cluster -> segment id %s", mapping_note)
        profiles = [r.asDict() for r in segmentation.profile_segments(seg_model, latest, mapping).collect()]  # k rows
        names = segmentation.name_segments(profiles)
        mlflow.log_params(
            {
                "k_range": ",".join(map(str, conf.kmeans_ks)),
                "k": int(seg_metrics["k"]),
                "features": ",".join(segmentation.SEGMENT_FEATURES),
                "inputs": ",".join(segmentation.SEGMENT_INPUTS),
            }
        )
        mlflow.log_metrics(seg_metrics)
        for k, value in curve.items():
            mlflow.log_metric("silhouette_by_k", value, step=k)
        fig = segmentation.silhouette_figure(curve, int(seg_metrics["k"]))
        mlflow.log_figure(fig, "plots/silhouette_by_k.png")
        plots.close(fig)
        described = [{**p, "name": names[int(p["segment_id"])]} for p in profiles]
        mlflow.log_text(json.dumps(described, indent=2, default=str), "segment_profiles.json")
        mlflow.log_text(segmentation.profiles_markdown(profiles, names), "segment_profiles.md")
        mlflow.set_tags({"segment_mapping": mapping_note})
        version = registry.log_and_register(
            seg_model,
            name=conf.segment_model,
            tags={
                "run_id": seg_run.info.run_id,
                "segment_names": registry.segment_names_tag(names),
                "cluster_to_segment": json.dumps({str(c): s for c, s in sorted(mapping.items())}),
                "segment_mapping": mapping_note,
                **lineage,
            },
        )
        registry.set_champion(conf.segment_model, version)
        return {
            "version": version,
            "names": names,
            "cluster_to_segment": mapping,
            "silhouette_by_k": curve,
            **seg_metrics,
        }
