"""Purchase propensity on the real Online Retail orders (no clickstream): 13 weeks ahead.

The export's customers are `account_id`s of `bronze.orders_online_retail`; only `product`
lines count (postage, fees, manual adjustments, stock write-offs are not purchases). The
portrait is a focused order-derived feature set computed here rather than the feature
registry's: the registry's windows stop at 365 days and most of its families (clickstream,
social, text, CRM profile) are empty for this source, while what predicts a repeat purchase
in a wholesale-like shop is in the order history itself (frequency, recency against the
customer's own rhythm, spend, breadth of the basket, returns, trend, seasonality of the last
weeks). Every feature uses order lines on or before the as-of date only.

Population: customers with at least one purchase on or before the as-of date (as the BG/NBD
and RFM references). Label: a purchase in (as_of, as_of + horizon_days].
"""
from __future__ import annotations

import datetime as dt

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import StandardScaler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from portrait.models import evaluation, propensity
from portrait.models.inputs import input_stages

CALIBRATION_DATE = dt.date(2011, 9, 9)
HORIZON_DAYS = 91  # 13 weeks: (2011-09-09, 2011-12-09]
WINDOWS = (30, 60, 90, 180, 365)



def is_return() -> Column:
    return F.col("status") == F.lit("returned")


def is_product() -> Column:
    return F.col("line_class") == F.lit("product")


def customer_lines(orders: DataFrame) -> DataFrame:
    """Product lines of known customers: (`person_id`, `order_id`, `day`, `product_id`, `quantity`,
    `amount`, `is_return`, `is_uk`). Returns keep their negative quantity and amount."""
    return orders.where(F.col("account_id").isNotNull() & is_product()).select(
        F.col("account_id").alias("person_id"),
        "order_id",
        F.to_date("order_ts").alias("day"),
        "product_id",
        F.col("quantity").cast("long").alias("quantity"),
        (F.col("quantity") * F.col("unit_price").cast("double")).alias("amount"),
        is_return().alias("is_return"),
        (F.col("country") == F.lit("United Kingdom")).alias("is_uk"),
    )


def _days_before(as_of: dt.date) -> Column:
    return F.datediff(F.lit(as_of), F.col("day"))


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den)


def with_order_features(lines: DataFrame, *, as_of: dt.date) -> DataFrame:
    """One row per customer with a purchase on or before `as_of`: RFM, rhythm, basket, returns, trend.

    Returns:
        `person_id`, `as_of_date` and the numeric features (see FEATURES); nulls mean "not
        defined" (e.g. no interval with a single order) and are imputed by the model's inputs.
    """
    past = lines.where(F.col("day") <= F.lit(as_of))
    purchases = past.where(~F.col("is_return") & (F.col("quantity") > 0))
    orders = purchases.groupBy("person_id", "order_id").agg(
        F.min("day").alias("day"), F.sum("amount").alias("amount"), F.sum("quantity").alias("items"),
        F.count("*").alias("lines"))
    ago = _days_before(as_of)
    in_days = lambda n: ago < F.lit(n)  # noqa: E731 - the last n days, as_of included
    per_order = orders.groupBy("person_id").agg(
        F.count("*").alias("orders_ever"),
        F.countDistinct("day").alias("purchase_days_ever"),
        F.min("day").alias("first_day"), F.max("day").alias("last_day"),
        F.sum("amount").alias("revenue_ever"),
        F.avg("amount").alias("avg_order_value"),
        F.expr("percentile_approx(amount, 0.5)").alias("median_order_value"),
        F.avg("items").alias("items_per_order"),
        F.avg("lines").alias("lines_per_order"),
        F.countDistinct(F.date_trunc("month", F.col("day"))).alias("active_months"),
        *[F.count(F.when(in_days(n), True)).alias(f"orders_{n}d") for n in WINDOWS],
        *[F.sum(F.when(in_days(n), F.col("amount")).otherwise(0.0)).alias(f"revenue_{n}d") for n in (90, 365)],
        F.count(F.when((ago >= 90) & (ago < 180), True)).alias("orders_prev_90d"),
    )
    per_line = past.groupBy("person_id").agg(
        F.countDistinct(F.when(~F.col("is_return"), F.col("product_id"))).alias("distinct_products"),
        F.count(F.when(F.col("is_return"), True)).alias("returned_lines"),
        F.count(F.when(~F.col("is_return"), True)).alias("bought_lines"),
        F.sum(F.when(F.col("is_return"), -F.col("amount")).otherwise(0.0)).alias("returned_amount"),
        F.max(F.col("is_uk").cast("int")).alias("is_uk"),
    )
    recency = F.datediff(F.lit(as_of), F.col("last_day"))
    age = F.datediff(F.lit(as_of), F.col("first_day"))
    span = F.datediff(F.col("last_day"), F.col("first_day"))
    interval = _ratio(span.cast("double"), F.col("purchase_days_ever") - 1)
    return per_order.join(per_line, on="person_id", how="left").select(
        "person_id",
        F.lit(as_of).alias("as_of_date"),
        F.col("orders_ever").cast("double"),
        F.col("purchase_days_ever").cast("double"),
        recency.cast("double").alias("days_since_last_order"),
        age.cast("double").alias("days_since_first_order"),
        interval.alias("mean_days_between_orders"),
        _ratio(recency.cast("double"), interval).alias("recency_over_interval"),
        _ratio(F.col("purchase_days_ever") - 1, age.cast("double")).alias("repeat_rate_per_day"),
        F.col("active_months").cast("double"),
        *[F.col(f"orders_{n}d").cast("double") for n in WINDOWS],
        (F.col("orders_90d") - F.col("orders_prev_90d")).cast("double").alias("orders_trend_90d"),
        F.col("revenue_ever"), F.col("revenue_90d"), F.col("revenue_365d"),
        "avg_order_value", "median_order_value", "items_per_order", "lines_per_order",
        F.col("distinct_products").cast("double"),
        _ratio(F.col("returned_lines").cast("double"), F.col("returned_lines") + F.col("bought_lines"))
        .alias("return_line_share"),
        _ratio(F.col("returned_amount"), F.col("revenue_ever")).alias("return_amount_share"),
        F.col("is_uk").cast("double"),
    )


FEATURES = [
    "orders_ever", "purchase_days_ever", "days_since_last_order", "days_since_first_order",
    "mean_days_between_orders", "recency_over_interval", "repeat_rate_per_day", "active_months",
    *[f"orders_{n}d" for n in WINDOWS], "orders_trend_90d", "revenue_ever", "revenue_90d", "revenue_365d",
    "avg_order_value", "median_order_value", "items_per_order", "lines_per_order", "distinct_products",
    "return_line_share", "return_amount_share", "is_uk",
]
RFM_FEATURES = ["days_since_last_order", "orders_ever", "revenue_ever"]
SIGNED = ["orders_trend_90d"]  # may be negative: left out of the log-scaled logistic baseline


def with_purchase_label(features: DataFrame, lines: DataFrame, *, as_of: dt.date, horizon_days: int) -> DataFrame:
    """`label` 1.0 when the customer buys (a product line, not a return) in (as_of, as_of + horizon]."""
    end = as_of + dt.timedelta(days=horizon_days)
    buyers = (lines.where(~F.col("is_return") & (F.col("quantity") > 0)
                          & (F.col("day") > F.lit(as_of)) & (F.col("day") <= F.lit(end)))
              .select("person_id").distinct().withColumn("bought", F.lit(1.0)))
    return features.join(buyers, on="person_id", how="left").withColumn(
        "label", F.coalesce(F.col("bought"), F.lit(0.0))).drop("bought")


def logistic(train: DataFrame, columns: list[str]) -> PipelineModel:
    """Logistic regression on log-scaled, standardised `columns` (non-negative ones: log1p clips at 0).

    With RFM_FEATURES it has the shape of the RFM reference; with all non-negative FEATURES it is
    the linear baseline of the GBT."""
    stages = input_stages(columns, output="raw", log_scale=True)
    return Pipeline(stages=[*stages, StandardScaler(inputCol="raw", outputCol="features", withMean=True),
                            LogisticRegression(labelCol="label", featuresCol="features")]).fit(train)


def fit_gbt(train: DataFrame, *, params: dict, seed: int) -> PipelineModel:
    """The GBT of the portrait's propensity models on FEATURES (same input stages, same classifier)."""
    return propensity.build_pipeline(FEATURES, params, seed=seed).fit(train)


def test_auc(model: PipelineModel, test: DataFrame) -> float:
    return evaluation.model_auc(model, test)


def training_rows(lines: DataFrame, *, as_of: dt.date, horizon_days: int, earlier: int = 0) -> DataFrame:
    """Labelled customer rows at `as_of` and, for training only, at `earlier` dates one horizon apart
    before it (their label windows end by `as_of`, so they never look past the test rows' as-of)."""
    dates = [as_of - dt.timedelta(days=horizon_days * i) for i in range(earlier + 1)]
    out = None
    for d in dates:
        rows = with_purchase_label(with_order_features(lines, as_of=d), lines, as_of=d, horizon_days=horizon_days)
        out = rows if out is None else out.unionByName(rows)
    return out


def train(rows: DataFrame, *, as_of: dt.date, test_fraction: float, space: dict, max_evals: int, seed: int,
          minimise, on_trial=lambda params, metrics: None) -> tuple[PipelineModel, dict]:
    """Tune and fit the GBT on the training persons; AUC on the held-out persons at `as_of`.

    Persons are split by a hash of person_id (salt "test"): a held-out person has no row in
    training at any date. Two logistic regressions (log RFM; all non-negative features) are
    fitted on the same rows as baselines.

    Returns:
        The GBT and its metrics: `test_auc`, `test_auc_rfm_logistic`, `best_valid_auc`, the best
        parameters (`param_*`) and the row counts and base rates.
    """
    train_rows, held_out = propensity.split_by_person(rows, fraction=test_fraction, salt="test")
    test_rows = held_out.where(F.col("as_of_date") == F.lit(as_of))
    params, loss = propensity.tune(train_rows, FEATURES, minimise=minimise, space=space, max_evals=max_evals,
                                   seed=seed, on_trial=on_trial)
    model = fit_gbt(train_rows, params=params, seed=seed)
    sizes = {name: df.agg(F.count("*").alias("rows"), F.avg("label").alias("rate")).first()
             for name, df in (("train", train_rows), ("test", test_rows))}
    metrics = {
        "test_auc": test_auc(model, test_rows),
        "test_auc_rfm_logistic": test_auc(logistic(train_rows, RFM_FEATURES), test_rows),
        "test_auc_logistic_all": test_auc(logistic(train_rows, [c for c in FEATURES if c not in SIGNED]), test_rows),
        "best_valid_auc": -loss,
        **{f"param_{k}": float(v) for k, v in params.items()},
        **{f"{name}_rows": float(r["rows"]) for name, r in sizes.items()},
        **{f"{name}_positive_rate": r["rate"] for name, r in sizes.items()},
    }
    return model, metrics
