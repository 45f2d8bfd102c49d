"""The orders-only purchase model of a mapped orders export (`portrait orders-model`).

Order features as of the calibration date D (and, for training, as of earlier dates
`training_step_days` apart whose whole label window ends by D: nothing after D is known to
training), labels in (D, D + horizon_days], BG/NBD and Gamma-Gamma fitted at
each as-of date on that date's history alone (their P(alive) and expected purchases are inputs
of the GBT), feature groups kept only when they raise the GBT's validation AUC, then the model
trained exactly as the main pipeline's propensities (`models.labels.training_sets`,
`models.propensity.train_propensity`): the GBT tuned, the family (GBT, regularised logistic
regression or their blend, `models.family`) chosen by validation AUC, calibrated. The references,
and every family fitted on the training rows, are measured on the same held-out persons.
Everything is logged to one MLflow run; the model is registered as `orders_purchase_<source>`
with its `family` tag.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce

import mlflow
from pyspark.sql import DataFrame
from pyspark.storagelevel import StorageLevel

from portrait import registry
from portrait.config import Config, ConfigError, MlflowConfig, OrdersMappingConfig, TrainConfig
from portrait.ingest.mapping import table_of
from portrait.io import Lakehouse
from portrait.models import btyd, labels
from portrait.models.family import FAMILY_TAG
from portrait.models.labels import training_sets
from portrait.orders_model import fallback, fitting
from portrait.orders_model import features as of

log = logging.getLogger(__name__)

# It reads the bronze table of the export it is given (one per orders mapping: `pipeline.RUNS`
# adds them to its inputs) and writes MLflow runs and models only.
INPUTS: tuple = ()
OUTPUTS: tuple = ()


def labelled_rows(lines: DataFrame, *, as_of_dates: list[dt.date], horizon_days: int) -> tuple[DataFrame, dict]:
    """Order features, BTYD predictions (fitted per as-of date) and labels at every date.

    Returns:
        The union of the rows and the BTYD parameters per as-of date (ISO date -> params).
    """
    days = of.purchase_days(lines).persist(StorageLevel.MEMORY_AND_DISK)
    parts, fitted = [], {}
    for d in as_of_dates:
        stats = btyd.purchase_stats(days, as_of=d)
        params = btyd.fit(stats)  # aggregated statistics only
        fitted[d.isoformat()] = params.as_dict()
        rows = of.with_order_features(lines, as_of=d, horizon_days=horizon_days).transform(
            btyd.with_clv, stats, params=params, horizon_days=horizon_days
        )
        parts.append(of.with_purchase_label(rows, lines, as_of=d, horizon_days=horizon_days))
    return reduce(DataFrame.unionByName, parts), fitted


def _training_rows(
    lines: DataFrame, conf: TrainConfig, *, calibration_date: dt.date, horizon_days: int, first_day: dt.date | None
) -> tuple[DataFrame, dict, list[dt.date]]:
    """Labelled rows at D and at the training as-of dates, the BTYD parameters per date, the dates.

    Training dates not after the export's first purchase day are left out: no customer has a
    history there (and BG/NBD nothing to fit on).
    """
    # Training as-of dates whose whole label window ends by D: what a model trained on D could know.
    # (Training on dates closer to D would label them with purchases after D, the test's own period.)
    training = labels.as_of_dates(
        calibration_date, window_days=horizon_days, count=conf.training_dates - 1, step_days=conf.training_step_days
    )
    dates = [calibration_date, *(d for d in training if first_day is None or d > first_day)]
    rows, fitted = labelled_rows(lines, as_of_dates=sorted(dates), horizon_days=horizon_days)
    return rows.persist(StorageLevel.MEMORY_AND_DISK), fitted, dates


@dataclass(frozen=True)
class RunConf:
    """What the orders-only model takes from the configuration (`RunConf.of(cfg)`)."""

    train: TrainConfig  # tuning space and budget, training dates and step, fractions, seed
    mlflow: MlflowConfig  # where the run is logged and the model registered
    mappings: Mapping[str, OrdersMappingConfig]  # the mapped exports (`ingest.mappings`)
    conf_file: str  # the conf file, named when a source is not one of its mappings

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.train, cfg.mlflow, dict(cfg.ingest.mappings), cfg.source_file)

    def mapping(self, source: str) -> OrdersMappingConfig:
        """The mapping of the export `source`; a name the conf does not map is a `ConfigError`."""
        if source not in self.mappings:
            raise ConfigError(
                f"{self.conf_file}: ingest.mappings has no '{source}' (known: "
                f"{', '.join(sorted(self.mappings)) or 'none'})"
            )
        return self.mappings[source]


def run(
    lake: Lakehouse,
    conf: RunConf,
    date: dt.date,
    *,
    source: str,
    horizon_days: int,
    select: bool = True,
    register: bool = True,
) -> dict:
    """Train and evaluate the orders-only purchase model of the mapped export `source`.

    Args:
        lake: the lakehouse holding the export's bronze table.
        conf: the `train` and `mlflow` sections and the mapped exports.
        date: the calibration date D: features as of D, labels in (D, D + horizon_days].
        source: the mapping's name in `ingest.mappings`.
        horizon_days: the label horizon.
        select: choose feature groups by validation AUC (else use them all).
        register: log and register the Spark model (`orders_purchase_<source>`, tagged with its `family`).

    When the horizon leaves no training as-of date after the export's first purchase day, nothing
    can be learned from labels: BG/NBD fitted at D is the model (`fallback`), and the result says
    why in `no_training_row` (one line), with `latest_as_of_date`, `first_day`, `auc`.

    Returns:
        `auc` (held-out, published calibrated probability of the chosen family), `auc_uncalibrated`,
        `references` (name -> held-out AUC on the same persons), `family` (the chosen one, its
        logistic weight, every family's validation AUC, the blend's at every weight, and every
        family's held-out AUC, uncalibrated, for the record), `feature_sets` (validation AUC per set),
        `features`, `params`, `btyd` (parameters at D), `clv_deciles`, row counts and base rates.
    """
    calibration_date, settings, mlflow_conf = date, conf.train, conf.mlflow
    lines = of.customer_lines(lake.read(table_of(source, conf.mapping(source)))).persist(StorageLevel.MEMORY_AND_DISK)
    first_day = fallback.first_purchase_day(lines)
    impossible = fallback.no_training_row(calibration_date, horizon_days, first_day)
    try:
        if impossible is not None:
            rows, fitted = labelled_rows(lines, as_of_dates=[calibration_date], horizon_days=horizon_days)
            return fallback.run(
                rows,
                fitted[calibration_date.isoformat()],
                settings,
                mlflow_conf,
                source=source,
                calibration_date=calibration_date,
                horizon_days=horizon_days,
                latest=impossible[0],
                first_day=impossible[1],
                register=register,
            )
        return _trained(
            lines,
            settings,
            mlflow_conf,
            source=source,
            calibration_date=calibration_date,
            horizon_days=horizon_days,
            first_day=first_day,
            select=select,
            register=register,
        )
    finally:
        lines.unpersist()


def _trained(
    lines: DataFrame,
    conf: TrainConfig,
    mlflow_conf: MlflowConfig,
    *,
    source: str,
    calibration_date: dt.date,
    horizon_days: int,
    first_day: dt.date | None,
    select: bool,
    register: bool,
) -> dict:
    """The model trained on labelled rows (see `run`), logged and registered."""
    rows, fitted, dates = _training_rows(
        lines, conf, calibration_date=calibration_date, horizon_days=horizon_days, first_day=first_day
    )
    sets = training_sets(
        rows,
        oot_dates=[calibration_date],
        test_fraction=conf.test_fraction,
        calibration_fraction=conf.calibration_fraction,
    )
    registry.configure(mlflow_conf)
    with mlflow.start_run(run_name=f"orders-model-{source}-{calibration_date}"):
        mlflow.set_tags({"model": f"orders_purchase_{source}", "source": source})
        mlflow.log_params(
            {
                "calibration_date": calibration_date.isoformat(),
                "horizon_days": horizon_days,
                "as_of_dates": len(dates),
                "step_days": conf.training_step_days,
            }
        )
        fit = fitting.fit(sets, conf, select=select)
        result = fitting.result_of(fit, sets, rows, calibration_date=calibration_date, seed=conf.seed)
        result["btyd"] = fitted[calibration_date.isoformat()]
        fitting.log_result(result)
        if register:
            result["model_version"] = registry.log_and_register(
                fit.trained.model, name=f"orders_purchase_{source}", tags={FAMILY_TAG: fit.trained.family.label}
            )
    rows.unpersist()
    log.info(
        "orders-model %s at %s: %s, AUC %.4f, references %s",
        source,
        calibration_date,
        result[FAMILY_TAG]["chosen"],
        result["auc"],
        result["references"],
    )
    return result


def summary_line(result: dict, *, source: str, short: Callable[..., str], **_: object) -> str:
    """What `portrait orders-model` prints (`fallback.summary_line`)."""
    return fallback.summary_line(source, result, short=short)
