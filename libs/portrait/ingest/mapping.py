"""Orders exports in their own layout, ingested through a mapping in conf (`ingest.mappings`).

An export is one file (e.g. the UCI "Online Retail" CSV), not landing-date folders. It is read as
text lines stamped with the ingest date, validated by the shared rules (`validate.classify`) under
a `Source` built from the mapping, and the kept lines are mapped onto the bronze orders columns
(`ORDERS_COLUMNS`) of the mapping's own table (`table_of`):

- roles the file lacks are derived: `unit_price` from `line_total` / `quantity` or `line_total`
  from `quantity * unit_price`; `order_id`, when not mapped, is the customer and the second of the
  line (`<account_id>@<yyyyMMddHHmmss>`, `guest@...` without a customer); `product_id` stays null;
  `country`, `channel`, `description` may be constants, `currency` a column or a constant.
- `line_no`: not in the file; the rank of the line in its order by its own content, so it is the
  same on every run and partitioning (kept lines are unique, exact repeats are dropped before).
- `account_id`: the customer number cut out of the raw id and prefixed (17850.0 -> OR17850); a
  blank id is a guest order (null account), kept.
- `status` and `line_class`: by the mapping's `rules` (`OrdersRules`): `returned` for an order id
  starting with `return_prefix` (or a negative quantity with `negative_quantity_is_return`), else
  `completed`; the first `line_classes` pattern matching the product code, else `product`, or at
  price 0 `zero_price_guest_class` (no customer) / `zero_price_class`.
- `original_order_id`: for a return of a known customer, the latest non-returned order of that
  customer at or before it with the same product and at least the returned quantity (null when
  there is none, and always null without products).
"""

from __future__ import annotations

import datetime as dt

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from portrait import catalog
from portrait.config import OrdersMappingConfig
from portrait.ingest import landing
from portrait.ingest.sources import Field, Source

PRODUCT, STOCK_ADJUSTMENT, FREE_ITEM = "product", "stock_adjustment", "free_item"
COMPLETED, RETURNED = "completed", "returned"  # of sources.ORDER_STATUSES

# Typed fields of a mapped orders export. Prices keep 3 decimals: real exports have 0.001.
_ROLE_TYPES = {
    "order_id": "string",
    "product_id": "string",
    "description": "string",
    "quantity": "int",
    "order_ts": "timestamp",
    "unit_price": "decimal(12,3)",
    "line_total": "decimal(14,3)",
    "account_id": "string",
    "country": "string",
    "currency": "string",
}
# A mapped role whose value is blank is quarantined as `missing_<role>`.
_REQUIRED = ("order_id", "product_id", "quantity", "order_ts", "unit_price", "line_total")

# bronze.orders columns, then what only a mapped export has.
ORDERS_COLUMNS = (
    ("order_id", "string"),
    ("line_no", "int"),
    ("account_id", "string"),
    ("phone_hash", "string"),
    ("email_hash", "string"),
    ("order_ts", "timestamp"),
    ("product_id", "string"),
    ("category", "string"),
    ("quantity", "int"),
    ("unit_price", "decimal(12,3)"),
    ("discount_amount", "decimal(12,2)"),
    ("coupon_code", "string"),
    ("channel", "string"),
    ("status", "string"),
    ("ship_city", "string"),
    ("line_class", "string"),
    ("original_order_id", "string"),
    ("description", "string"),
    ("country", "string"),
    ("currency", "string"),
    ("source_file", "string"),
    ("date", "date"),
    ("line_total", "decimal(14,3)"),
)


def table_of(name: str, mapping: OrdersMappingConfig) -> catalog.Table:
    """The bronze table of a mapped export (`table`, default `orders_<name>`): one per mapping."""
    return catalog.mapped_orders(mapping.target, name, table=mapping.table)


def source(name: str, mapping: OrdersMappingConfig) -> Source:
    """The `Source` that validates an export: fields named by their role, in file order.

    Header columns that no role maps are kept as string fields under their own name.
    """
    role_of = {col: role for role, col in mapping.columns.model_dump().items() if col is not None}
    clash = sorted(set(mapping.header) & set(_ROLE_TYPES) - set(role_of))
    if clash:  # an unmapped column named like a role would be read as that role
        raise ValueError(f"ingest.mappings.{name}.header: unmapped column(s) {clash} are named like roles")
    fields = []
    for col in mapping.header:
        role = role_of.get(col, col)
        fields.append(
            Field(
                role,
                _ROLE_TYPES.get(role, "string"),
                required=role in _REQUIRED,
                format=tuple(mapping.timestamp_formats) if role == "order_ts" else None,
            )
        )
    roles = [f.name for f in fields if f.name in _ROLE_TYPES]
    return Source(
        name=name,
        format=mapping.format,
        fields=tuple(fields),
        # No line key in the file: a line repeated exactly is a duplicate, whatever it holds.
        id_columns=tuple(roles),
        time_column="order_ts",
        rules=_rules(mapping),
        header_line=mapping.delimiter.join(mapping.header),
        delimiter=mapping.delimiter,
    )


def _unit_price(c: dict[str, Column]) -> Column:
    """The unit price, from the line total where the export has no price (null at quantity 0)."""
    if "unit_price" in c:
        return c["unit_price"]
    return F.try_divide(c["line_total"], c["quantity"]).cast("decimal(12,3)")


def _is_return(c: dict[str, Column], mapping: OrdersMappingConfig) -> Column:
    rules = mapping.rules
    by_prefix = c["order_id"].startswith(rules.return_prefix) if rules.return_prefix else F.lit(False)
    by_sign = (c["quantity"] < 0) if rules.negative_quantity_is_return else F.lit(False)
    return by_prefix | by_sign


def _rules(mapping: OrdersMappingConfig):
    def invalid_quantity(c: dict[str, Column]) -> Column:
        is_return = _is_return(c, mapping)
        guest = c["account_id"].isNull() if "account_id" in c else F.lit(True)
        # stock taken out of the books, not a sale: a negative quantity is allowed
        write_off = (_unit_price(c) == 0) & guest & F.lit(mapping.rules.zero_price_guest_class == STOCK_ADJUSTMENT)
        return (
            (c["quantity"] == 0) | (is_return & (c["quantity"] > 0)) | (~is_return & (c["quantity"] < 0) & ~write_off)
        )

    rules = [
        # A credit is a return line (negative quantity), never a negative price: the two
        # "Adjust bad debt" reversals of Online Retail are quarantined here. With line totals,
        # a total of the other sign than its quantity.
        ("negative_price", lambda c: _unit_price(c) < 0),
        ("invalid_quantity", invalid_quantity),
    ]
    if mapping.latest_date:
        after = dt.date.fromisoformat(mapping.latest_date) + dt.timedelta(days=1)
        rules.append(("timestamp_after_latest", lambda c: c["order_ts"] >= F.lit(after).cast("timestamp")))
    if mapping.columns.account_id:
        rules.append(("bad_account_id", lambda c: ~c["account_id"].rlike(mapping.account_id_pattern)))
    return tuple(rules)


def read_export(spark: SparkSession, path: str, date: dt.date) -> DataFrame:
    """Text lines of an export file (gzip is read as text) stamped with the ingest date.

    Returns:
        `value`, `source_file`, `date` and `line_number` (1-based; the header is line 1).
    """
    try:
        lines = spark.read.text(path)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" not in str(exc) and "Path does not exist" not in str(exc):
            raise
        raise FileNotFoundError(f"export file not found: {path} (set the mapping's path or path_env)") from None
    scan = lines.select(
        "value",
        F.col("_metadata.file_path").alias("source_file"),
        F.lit(date).cast("date").alias("date"),
        F.col("_metadata.file_block_start").alias("_block_start"),
        F.spark_partition_id().alias("_pid"),
        F.monotonically_increasing_id().alias("_row_id"),
        F.lit(True).alias("_ends_with_newline"),
    )
    # Line numbers come from the file's splits (a gzip file is one), which are the same on every
    # evaluation of this scan. Then spread the lines (by content, so deterministically) before parsing.
    return landing.with_line_numbers(scan).drop("_unterminated").repartition("value")


def with_line_class(orders: DataFrame, *, mapping: OrdersMappingConfig) -> DataFrame:
    """Add `line_class`: the first `rules.line_classes` class whose product-code patterns match,
    else `product`, or at price 0 the mapping's zero-price class (guest or customer)."""
    rules = mapping.rules
    code = F.col("product_id")
    expr = None
    for name, patterns in rules.line_classes.items():
        if patterns:
            matches = code.rlike(f"(?i)^(?:{'|'.join(patterns)})$")
            expr = F.when(matches, name) if expr is None else expr.when(matches, name)
    zero_price = F.col("unit_price") == 0
    derived = (
        F.when(zero_price & F.col("account_id").isNull(), F.lit(rules.zero_price_guest_class))
        .when(zero_price, F.lit(rules.zero_price_class))
        .otherwise(F.lit(PRODUCT))
    )
    return orders.withColumn("line_class", derived if expr is None else expr.otherwise(derived))


def with_line_no(orders: DataFrame) -> DataFrame:
    """Add `line_no` (1, 2, ...) per order, ordered by the line's whole content.

    Kept lines are unique on these columns (exact repeats were dropped), so the order is total
    and the numbers do not depend on how the file was split or on the run.
    """
    w = Window.partitionBy("order_id").orderBy(
        "product_id", "quantity", "unit_price", "line_total", "description", "order_ts", "account_id", "country"
    )
    return orders.withColumn("line_no", F.row_number().over(w))


def with_original_order(orders: DataFrame) -> DataFrame:
    """Add `original_order_id` to returned lines: the latest completed invoice line of the same
    account and stock code at or before the return with at least the returned quantity.

    Guest returns (no account) and returns with no such line get null. `orders` must be unique
    on (order_id, line_no); the result has exactly its rows.
    """
    returns = orders.where((F.col("status") == RETURNED) & F.col("account_id").isNotNull()).select(
        "order_id", "line_no", "account_id", "product_id", "order_ts", "quantity"
    )
    originals = orders.where((F.col("status") == COMPLETED) & F.col("account_id").isNotNull()).select(
        "account_id",
        "product_id",
        F.col("order_id").alias("o_order_id"),
        F.col("line_no").alias("o_line_no"),
        F.col("order_ts").alias("o_order_ts"),
        F.col("quantity").alias("o_quantity"),
    )
    candidates = returns.join(originals, on=["account_id", "product_id"], how="inner").where(
        (F.col("o_order_ts") <= F.col("order_ts")) & (F.col("o_quantity") >= -F.col("quantity"))
    )
    latest_first = Window.partitionBy("order_id", "line_no").orderBy(
        F.col("o_order_ts").desc(), F.col("o_order_id").desc(), F.col("o_line_no").desc()
    )
    best = (
        candidates.withColumn("_rank", F.row_number().over(latest_first))
        .where(F.col("_rank") == 1)
        .select("order_id", "line_no", F.col("o_order_id").alias("original_order_id"))
    )  # one row per return line: (order_id, line_no) is unique here
    # Join the few returns, not every line, to their link; the other lines have none.
    linked = orders.where(F.col("status") == RETURNED).join(best, on=["order_id", "line_no"], how="left")
    others = orders.where(F.col("status") != RETURNED).withColumn("original_order_id", F.lit(None).cast("string"))
    return others.unionByName(linked)


def _derived_order_id(account_id: Column, order_ts: Column) -> Column:
    """One order per customer and second, for exports without an order id."""
    return F.concat(F.coalesce(account_id, F.lit("guest")), F.lit("@"), F.date_format(order_ts, "yyyyMMddHHmmss"))


def to_orders(kept: DataFrame, *, mapping: OrdersMappingConfig) -> DataFrame:
    """Map kept lines of `validate.classify` (role-named typed columns) onto the orders columns.

    Args:
        kept: the rows of `validate.classify` with status kept.
        mapping: the export's mapping.

    Returns:
        One row per kept line with the columns of `ORDERS_COLUMNS`.
    """

    def col_or(name: str, default: Column | None = None) -> Column:
        return F.col(name) if name in kept.columns else (F.lit(None) if default is None else default)

    c = {name: F.col(name) for name in kept.columns}
    account = F.when(
        col_or("account_id").isNotNull(),
        F.concat(
            F.lit(mapping.account_id_prefix), F.regexp_extract(col_or("account_id"), mapping.account_id_pattern, 1)
        ),
    )
    unit_price = _unit_price(c)
    line_total = c["line_total"] if "line_total" in c else (c["quantity"] * c["unit_price"]).cast("decimal(14,3)")
    constants = {k: F.lit(v) for k, v in mapping.constants.items()}
    mapped = kept.select(
        col_or("order_id", _derived_order_id(account, F.col("order_ts"))).alias("order_id"),
        account.alias("account_id"),
        "order_ts",
        col_or("product_id").cast("string").alias("product_id"),
        "quantity",
        unit_price.alias("unit_price"),
        line_total.alias("line_total"),
        F.when(_is_return(c, mapping), F.lit(RETURNED)).otherwise(F.lit(COMPLETED)).alias("status"),
        *[col_or(role, constants.get(role)).cast("string").alias(role) for role in ("description", "country")],
        col_or("currency", F.lit(mapping.currency)).alias("currency"),
        constants.get("channel", F.lit(None)).alias("channel"),
        "source_file",
        "date",
    )
    out = mapped.transform(with_line_class, mapping=mapping).transform(with_line_no).transform(with_original_order)
    return out.select(
        *[(F.col(name) if name in out.columns else F.lit(None)).cast(t).alias(name) for name, t in ORDERS_COLUMNS]
    )


def summary(orders: DataFrame) -> DataFrame:
    """Counts of kept lines per class, status, guest or not, and linked or not (for the audit log)."""
    return orders.groupBy(
        "line_class",
        "status",
        F.col("account_id").isNull().alias("guest"),
        F.col("original_order_id").isNotNull().alias("linked"),
    ).agg(F.count(F.lit(1)).alias("n"))
