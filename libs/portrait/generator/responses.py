"""Planted treatment effects: the synthetic world answers the actions Portrait sent.

`generate` knows nothing of actions, so its landing zone is unchanged when no effect is planted.
After `score` has written gold.actions_sent, `respond` plays the customers: each contacted person
(never a holdout one) places one extra completed order with probability `effects[action]`, on a
day drawn uniformly in the action's outcome window, as a late file of the order system's export
(`orders/date=D/part-*.csv`, appended next to the day's files). The planted effects are written to
`<truth>/treatment_effects` (Parquet: action, extra_order_prob, outcome_window_days).

A person who would have bought anyway still counts once, so the conversion uplift `evaluate`
should measure is `extra_order_prob x (1 - control conversion)` (`expected_uplift`).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from . import catalog, sink
from .orders import COLUMNS

RESPONSE_PRICE = 59.0
_MODULUS = 1_000_000_007  # a prime: hash -> uniform draw


def _map(values: dict[str, float | int]) -> Column:
    return F.create_map(*[x for k, v in sorted(values.items()) for x in (F.lit(k), F.lit(v))])[F.col("action")]


def response_lines(
    sent: DataFrame,
    accounts: DataFrame,
    effects: dict[str, float],
    windows: dict[str, int],
    *,
    seed: int,
    last_day: dt.date,
) -> DataFrame:
    """The extra order lines (orders.COLUMNS + `date`, all strings) of the persons who respond.

    Args:
        sent: gold.actions_sent rows (date, person_id, action, contacted, ...).
        accounts: (person_id, account_id): the account the order system knows the person by.
        effects: extra-order probability per action (actions not listed have no effect).
        windows: outcome window in days per action.
        seed: the draws' seed.
        last_day: no order after this day (the end of the generated history).
    """
    account = (
        accounts.where(F.col("account_id").isNotNull())
        .groupBy("person_id")
        .agg(F.min("account_id").alias("account_id"))
    )
    contacted = sent.where(F.col("contacted") & F.col("action").isin(list(effects)))

    def draw(salt: str) -> Column:
        """A uniform in [0, 1) per (person, action date, action), reproducible from `seed`."""
        h = F.xxhash64(F.lit(seed), F.lit(salt), F.col("person_id"), F.col("date"), F.col("action"))
        return F.pmod(h, F.lit(_MODULUS)).cast("double") / F.lit(float(_MODULUS))

    offset = (F.lit(1) + F.floor(draw("respond_day") * _map(windows))).cast("int")  # type: ignore[arg-type]
    responders = (
        contacted.where(draw("respond") < _map(effects))
        .withColumn("day", F.date_add(F.col("date"), offset))
        .where(F.col("day") <= F.lit(last_day))
        .join(account, on="person_id", how="inner")
    )
    number = (F.lit(1) + F.floor(draw("respond_product") * 200)).cast("int")
    day = F.date_format("day", "yyyy-MM-dd")
    fields = {
        "order_id": F.concat(
            F.lit("R"),
            F.regexp_replace(day, "-", ""),
            F.lower(F.hex(F.xxhash64(F.lit(seed), F.col("person_id"), F.col("date")))),
        ),
        "line_no": F.lit("1"),
        "account_id": F.col("account_id"),
        "phone": F.lit(None).cast("string"),
        "email": F.lit(None).cast("string"),
        "order_ts": F.concat(day, F.lit(" 12:00:00")),
        "product_id": catalog.product_id(number),
        "category": catalog.product_category(number),
        "quantity": F.lit("1"),
        "unit_price": F.lit(f"{RESPONSE_PRICE:.2f}"),
        "discount_amount": F.lit("0.00"),
        "coupon_code": F.lit(None).cast("string"),
        "channel": F.lit("app"),
        "status": F.lit("completed"),
        "ship_city": F.lit(None).cast("string"),
    }
    return responders.select(*[fields[c].alias(c) for c in COLUMNS], day.alias("date"))


def respond(
    spark: SparkSession,
    *,
    landing: str,
    truth: str,
    sent: DataFrame,
    accounts: DataFrame,
    effects: dict[str, float],
    windows: dict[str, int],
    seed: int,
    last_day: dt.date,
) -> dict[str, int]:
    """Append the responses to the landing zone and the planted effects to the truth; returns counts."""
    lines = response_lines(sent, accounts, effects, windows, seed=seed, last_day=last_day)
    (
        lines.write.mode("append")
        .partitionBy("date")
        .option("header", "true")
        .option("quote", '"')
        .option("escape", '"')
        .csv(f"{landing}/orders")
    )
    planted = spark.createDataFrame(
        [(a, float(p), int(windows[a])) for a, p in sorted(effects.items())],
        "action string, extra_order_prob double, outcome_window_days int",
    )
    sink.write_parquet(planted, f"{truth}/treatment_effects", "treatment_effects")
    return {"actions_planted": len(effects)}


def expected_uplift(extra_order_prob: Column, control_conversion: Column) -> Column:
    """The conversion uplift an extra-order probability gives, given the control conversion."""
    return extra_order_prob * (F.lit(1.0) - control_conversion)
