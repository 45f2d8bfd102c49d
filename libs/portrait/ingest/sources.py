"""The landing-zone sources: their raw format, typed fields and validation rules.

Each source is read as text lines, parsed to strings, typed with `try_cast`, checked by rules,
and split into kept rows and quarantined rows. A rule is (reason code, condition on the typed
row that marks it invalid); the first failing rule gives the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

EVENT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout", "login")
ORDER_STATUSES = ("completed", "cancelled", "returned")
POST_TYPES = ("post", "comment", "review")


@dataclass(frozen=True)
class Field:
    """A raw field: its name, Spark SQL type, whether it is required, and its PII kind.

    `pii` fields are replaced by `<name>_hash` (HMAC of the normalised value) before any write.
    `free_text` fields (what a person or an upstream operator may type into) are kept with the
    emails, phones and WeChat ids inside them masked (`<email>`, `<phone>`, `<wechat_id>`).
    Identifier and enumerated fields are not free text: an id is kept as written (masking it
    would split or merge keys) and an enumeration is checked against its values.
    """

    name: str
    type: str = "string"
    required: bool = False
    pii: str | None = None
    # timestamp pattern, e.g. "yyyy-MM-dd HH:mm:ss", or patterns tried in order; None: ISO-8601 cast
    format: str | tuple[str, ...] | None = None
    free_text: bool = False

    @property
    def output_name(self) -> str:
        return f"{self.name}_hash" if self.pii else self.name


# A rule gets the typed values by field name and returns "this row is invalid".
Rule = tuple[str, Callable[[dict[str, Column]], Column]]


@dataclass(frozen=True)
class Source:
    name: str
    format: str  # "json" (JSON lines) or "csv" (with a header line)
    fields: tuple[Field, ...]
    id_columns: tuple[str, ...] = ()  # business key: duplicates are dropped or quarantined
    time_column: str | None = None  # checked against the valid range
    id_per_date: bool = False  # ids repeat across days (change extracts): de-duplicate per date
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    header_line: str | None = None  # the CSV header as exported, when the fields are renamed
    delimiter: str = ","  # CSV field separator

    @property
    def header(self) -> str:
        return self.header_line or ",".join(f.name for f in self.fields)


CLICKSTREAM = Source(
    name="clickstream",
    format="json",
    fields=(
        Field("event_id", required=True),
        Field("anonymous_id", required=True),
        Field("user_id"),
        Field("session_id"),
        Field("event_type", required=True),
        Field("ts", "timestamp", required=True),
        Field("product_id"),
        Field("category", free_text=True),
        Field("price", "double"),
        Field("search_query", free_text=True),
        Field("device_type", free_text=True),
        Field("channel", free_text=True),
        Field("dwell_ms", "long"),
        Field("order_id"),  # checkout events: the order placed (order-confirmation tracking)
    ),
    id_columns=("event_id",),
    time_column="ts",
    rules=(
        ("unknown_event_type", lambda c: ~c["event_type"].isin(*EVENT_TYPES)),
        ("negative_price", lambda c: c["price"] < 0),
        ("negative_dwell", lambda c: c["dwell_ms"] < 0),
    ),
)

ORDERS = Source(
    name="orders",
    format="csv",
    fields=(
        Field("order_id", required=True),
        Field("line_no", "int", required=True),
        Field("account_id"),
        Field("phone", pii="phone"),
        Field("email", pii="email"),
        Field("order_ts", "timestamp", required=True),
        Field("product_id", required=True),
        Field("category", free_text=True),
        Field("quantity", "int", required=True),
        Field("unit_price", "decimal(12,2)", required=True),
        Field("discount_amount", "decimal(12,2)"),
        Field("coupon_code", free_text=True),
        Field("channel", free_text=True),
        Field("status", required=True),
        Field("ship_city", free_text=True),
    ),
    id_columns=("order_id", "line_no"),
    time_column="order_ts",
    rules=(
        ("negative_price", lambda c: c["unit_price"] < 0),
        ("invalid_quantity", lambda c: (c["quantity"] == 0) | ((c["quantity"] < 0) & (c["status"] == "completed"))),
        ("unknown_status", lambda c: ~c["status"].isin(*ORDER_STATUSES)),
        ("negative_discount", lambda c: c["discount_amount"] < 0),
        ("discount_exceeds_amount", lambda c: c["discount_amount"] > F.abs(c["unit_price"] * c["quantity"])),
    ),
)

SOCIAL = Source(
    name="social",
    format="json",
    fields=(
        Field("post_id", required=True),
        Field("platform", required=True),
        Field("wechat_id", pii="wechat_id"),
        Field("author_id"),
        Field("account_id"),  # the brand account the author bound on this platform, if any
        Field("post_type", required=True),
        Field("text", free_text=True),
        Field("rating", "int"),
        Field("product_id"),
        Field("likes", "int"),
        Field("shares", "int"),
        Field("ts", "timestamp", required=True),
    ),
    id_columns=("post_id",),
    time_column="ts",
    rules=(
        ("unknown_post_type", lambda c: ~c["post_type"].isin(*POST_TYPES)),
        ("rating_out_of_range", lambda c: (c["rating"] < 1) | (c["rating"] > 5)),
        ("negative_count", lambda c: (c["likes"] < 0) | (c["shares"] < 0)),
    ),
)

CRM = Source(
    name="crm",
    format="csv",
    fields=(
        Field("account_id", required=True),
        Field("name", pii="name"),
        Field("phone", pii="phone"),
        Field("email", pii="email"),
        Field("wechat_id", pii="wechat_id"),
        Field("gender", free_text=True),
        Field("birth_year", "int"),
        Field("city", free_text=True),
        Field("city_tier", "int"),
        Field("signup_date", "date"),
        Field("consent_sms", "boolean"),
        Field("consent_email", "boolean"),
        Field("consent_push", "boolean"),
        Field("consent_wechat", "boolean"),
        Field("consent_updated_at", "timestamp"),
    ),
    id_columns=("account_id",),
    id_per_date=True,
    time_column="consent_updated_at",
    rules=(
        ("birth_year_out_of_range", lambda c: (c["birth_year"] < 1900) | (c["birth_year"] > F.year(F.current_date()))),
        ("city_tier_out_of_range", lambda c: (c["city_tier"] < 1) | (c["city_tier"] > 4)),
    ),
)

SOURCES: dict[str, Source] = {s.name: s for s in (CLICKSTREAM, ORDERS, SOCIAL, CRM)}
