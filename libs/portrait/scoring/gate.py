"""The quality gate a scored day passes before it is published: row count against the previous
published day, null rates, and the shift of the purchase propensity distribution (PSI).

The PSI compares days scored by the same propensity model: it watches the data drifting under a
fixed model. A new champion shifts the distribution by design, and whether it is better is the
training gate's judgement (champion against challenger on the same rows). Compared with the last
day of the old model, every day of a new one failed, and publication stopped for good.

`gate_checks` is a pure builder (one small DataFrame of checks); `run` reads it and refuses to
publish a batch with a failed check (`GateFailed` names them).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.config_models import GateConfig

BINS = 10
SCORE = "purchase_propensity"
MODEL_VERSION = "propensity_model_version"  # the model that scored a row
_EPS = 1e-4  # share given to an empty bin, so that PSI stays finite


class GateFailed(RuntimeError):
    """A scored batch failed the quality gate and was not published."""


def _bin(score: Column) -> Column:
    return F.least(F.floor(score * BINS), F.lit(BINS - 1)).cast("int")


def _profile(df: DataFrame, prefix: str, null_columns: list[str]) -> DataFrame:
    """One row: rows, null counts of `null_columns`, and counts of the score per bin."""
    version = F.max(MODEL_VERSION) if MODEL_VERSION in df.columns else F.lit(None).cast("string")
    return df.agg(
        version.alias(f"{prefix}model_version"),
        F.count(F.lit(1)).alias(f"{prefix}rows"),
        *[F.count(F.when(F.col(c).isNull(), True)).alias(f"{prefix}null_{c}") for c in null_columns],
        *[F.count(F.when(_bin(F.col(SCORE)) == b, True)).alias(f"{prefix}bin_{b}") for b in range(BINS)],
    )


def _psi() -> Column:
    def share(prefix: str, b: int) -> Column:
        total = F.greatest(F.col(f"{prefix}rows"), F.lit(1))
        return F.greatest(F.col(f"{prefix}bin_{b}") / total, F.lit(_EPS))

    terms = [(share("", b) - share("p_", b)) * F.log(share("", b) / share("p_", b)) for b in range(BINS)]
    return sum(terms[1:], terms[0])


def gate_checks(batch: DataFrame, previous: DataFrame, conf: GateConfig) -> DataFrame:
    """The checks of `batch` against `previous` (the previous published day; may be empty).

    Returns:
        One row per check: check, value, threshold, passed. Row count and PSI pass when there is
        no previous day (value null); PSI also when another propensity model scored it.
    """
    nulls = list(conf.max_null_rate)
    both = _profile(batch, "", nulls).crossJoin(_profile(previous, "p_", []))
    has_previous = F.col("p_rows") > 0
    same_model = F.col("model_version").eqNullSafe(F.col("p_model_version"))
    change = F.abs(F.col("rows") - F.col("p_rows")) / F.col("p_rows")

    def check(name: str, value: Column, threshold: float, applies: Column | None = None) -> Column:
        v = F.when(F.lit(True) if applies is None else applies, value).cast("double")
        return F.struct(
            F.lit(name).alias("check"),
            v.alias("value"),
            F.lit(float(threshold)).alias("threshold"),
            F.coalesce(v <= F.lit(threshold), F.lit(True)).alias("passed"),
        )

    rate = lambda c: F.col(f"null_{c}") / F.greatest(F.col("rows"), F.lit(1))  # noqa: E731
    checks = [
        check("row_count_change", change, conf.max_row_change, has_previous),
        *[check(f"null_rate:{c}", rate(c), t) for c, t in conf.max_null_rate.items()],
        check(f"psi:{SCORE}", _psi(), conf.max_psi, has_previous & same_model),
        check("rows", F.when(F.col("rows") == 0, F.lit(1.0)).otherwise(F.lit(0.0)), 0.0),  # an empty batch fails
    ]
    return both.select(F.explode(F.array(*checks)).alias("c")).select("c.*")
