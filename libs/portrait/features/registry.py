"""Every column of `gold.portrait`, declared once: name, family, definition, window, unit and formula.

The portrait is built from this list and the catalog (`features.catalog`) is printed from it, so
the two cannot disagree. A feature names its inputs instead of reading columns freely:

- `Sum(metric, days)`: a daily metric summed over the `days` days ending at the as-of date. The
  window pass computes exactly the sums some feature asks for, each once.
- `Last(metric)`: the last day (day number) in the history window with the metric > 0.
- `Col(name)`: a column beside the sums: `day_num` (the as-of day number), `as_of_date`,
  `latest_input_day` and the CRM profile columns (see `portrait.person_profile`).

Formulas are plain Column functions, applied only when the portrait is built (building a Column
needs a Spark session; reading the catalog does not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from pyspark.sql import Column
from pyspark.sql import functions as F

from portrait.features.daily import CHANNELS, DAY_PARTS, DEVICES, category_column, spend_column, topic_column

CONSENT_CHANNELS = ("sms", "email", "push", "wechat")
AGE_BANDS = ((0, 25, "under_25"), (25, 35, "25_34"), (35, 45, "35_44"), (45, 55, "45_54"), (55, 200, "55_plus"))
UNKNOWN = "unknown"
NUMERIC_TYPES = ("double", "int", "boolean")
# A placeholder that the catalog prints instead of every configured category.
CATEGORY_PLACEHOLDER = "<category>"


@dataclass(frozen=True)
class Sum:
    metric: str
    days: int

    @property
    def name(self) -> str:
        return f"{self.metric}_{self.days}d"


@dataclass(frozen=True)
class Last:
    metric: str

    @property
    def name(self) -> str:
        return f"last_{self.metric}_day"


@dataclass(frozen=True)
class Col:
    name: str


Input = Union[Sum, Last, Col]  # noqa: UP007 - a runtime alias, not an annotation (py3.10 has no |-union of classes here)


@dataclass(frozen=True)
class Feature:
    """One portrait column.

    `formula(*inputs)` gives its value from its inputs' columns. `point_in_time` is false for a
    value that may postdate the as-of date (consent is current CRM state); models use the numeric
    point-in-time features (`model_input`).
    """

    name: str
    family: str
    definition: str
    unit: str
    window_days: int | None
    inputs: tuple[Input, ...]
    formula: Callable[..., Column]
    dtype: str = "double"
    point_in_time: bool = True

    @property
    def model_input(self) -> bool:
        return self.point_in_time and self.dtype in NUMERIC_TYPES

    def column(self) -> Column:
        return self.formula(*[F.col(i.name) for i in self.inputs]).cast(self.dtype).alias(self.name)

    def catalog_row(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "definition": self.definition,
            "window_days": self.window_days,
            "unit": self.unit,
            "type": self.dtype,
            "model_input": self.model_input,
        }


def ratio(num: Column, den: Column) -> Column:
    """num / den, null when den is 0 (no activity: a share of nothing is unknown, not 0)."""
    return F.when(den > 0, num / den)


def _same(c: Column) -> Column:
    return c


def _window(name: str, family: str, definition: str, unit: str, metric: str, days: int, **kw) -> Feature:
    return Feature(name, family, definition, unit, days, (Sum(metric, days),), _same, **kw)


def _share(name: str, family: str, definition: str, num: str, den: str, days: int) -> Feature:
    return Feature(name, family, definition, "share 0-1", days, (Sum(num, days), Sum(den, days)), ratio)


def _rfm() -> list[Feature]:
    out = []
    for n in (7, 30, 90, 365):
        out.append(_window(f"orders_{n}d", "rfm", f"completed orders in the last {n} days", "orders", "orders", n))
        out.append(
            _window(
                f"revenue_{n}d",
                "rfm",
                f"spend on completed lines (after discounts), last {n} days",
                "currency",
                "revenue",
                n,
            )
        )
    out += [
        _window("items_90d", "rfm", "items bought on completed lines", "items", "items", 90),
        _window("discount_90d", "rfm", "discounts received on completed lines", "currency", "discount", 90),
        _window("returned_lines_90d", "rfm", "order lines returned", "lines", "returned_lines", 90),
        Feature(
            "days_since_last_order",
            "rfm",
            "days from the last completed order to the as-of date; null if none in the history window",
            "days",
            None,
            (Col("day_num"), Last("orders")),
            lambda d, last: d - last,
            dtype="int",
        ),
    ]
    for n in (90, 365):
        out.append(
            Feature(
                f"avg_order_value_{n}d",
                "rfm",
                "revenue per completed order",
                "currency",
                n,
                (Sum("revenue", n), Sum("orders", n)),
                ratio,
            )
        )
    out += [
        _share(
            "coupon_share_90d",
            "rfm",
            "share of completed lines bought with a coupon",
            "coupon_lines",
            "order_lines",
            90,
        ),
        Feature(
            "discount_share_90d",
            "rfm",
            "discount / (revenue + discount): share of list price given away",
            "share 0-1",
            90,
            (Sum("discount", 90), Sum("revenue", 90)),
            lambda d, r: ratio(d, r + d),
        ),
        Feature(
            "return_rate_90d",
            "rfm",
            "returned lines / (completed + returned lines)",
            "share 0-1",
            90,
            (Sum("returned_lines", 90), Sum("order_lines", 90)),
            lambda r, c: ratio(r, c + r),
        ),
    ]
    return out


def _engagement() -> list[Feature]:
    out = [
        _window(f"sessions_{n}d", "engagement", f"sessions in the last {n} days", "sessions", "sessions", n)
        for n in (7, 30, 90)
    ]
    out += [
        _window(f"visit_days_{n}d", "engagement", "days with at least one event", "days", "visit_days", n)
        for n in (30, 90)
    ]
    for metric, what in (
        ("page_views", "page views"),
        ("product_views", "product views"),
        ("searches", "searches"),
        ("cart_adds", "add-to-cart events"),
    ):
        out += [_window(f"{metric}_{n}d", "engagement", what, "events", metric, n) for n in (30, 90)]
    out += [
        _window("events_30d", "engagement", "clickstream events of any type", "events", "events", 30),
        Feature(
            "dwell_seconds_30d",
            "engagement",
            "time spent on pages",
            "seconds",
            30,
            (Sum("dwell_ms", 30),),
            lambda ms: ms / 1000.0,
        ),
        Feature(
            "dwell_seconds_per_session_30d",
            "engagement",
            "time spent on pages per session",
            "seconds",
            30,
            (Sum("dwell_ms", 30), Sum("sessions", 30)),
            lambda ms, s: ratio(ms / 1000.0, s),
        ),
        Feature(
            "days_since_last_visit",
            "engagement",
            "days from the last clickstream event to the as-of date; null if none in the history window",
            "days",
            None,
            (Col("day_num"), Last("events")),
            lambda d, last: d - last,
            dtype="int",
        ),
    ]
    return out


def _funnel() -> list[Feature]:
    return [
        _share(
            "view_to_cart_rate_90d",
            "funnel",
            "sessions with an add-to-cart / sessions with a product view",
            "sessions_with_cart",
            "sessions_with_view",
            90,
        ),
        _share(
            "cart_to_purchase_rate_90d",
            "funnel",
            "sessions with add-to-cart and checkout / sessions with an add-to-cart",
            "sessions_with_cart_checkout",
            "sessions_with_cart",
            90,
        ),
        _share(
            "view_to_purchase_rate_90d",
            "funnel",
            "sessions with add-to-cart and checkout / sessions with a product view",
            "sessions_with_cart_checkout",
            "sessions_with_view",
            90,
        ),
        Feature(
            "cart_abandonment_rate_30d",
            "funnel",
            "share of sessions with an add-to-cart that end without a checkout",
            "share 0-1",
            30,
            (Sum("sessions_with_cart_checkout", 30), Sum("sessions_with_cart", 30)),
            lambda done, carts: 1 - ratio(done, carts),
        ),
        _share(
            "cart_remove_rate_90d", "funnel", "remove-from-cart / add-to-cart events", "cart_removes", "cart_adds", 90
        ),
    ]


def _interest(categories: list[str]) -> list[Feature]:
    views = [Sum(category_column(c), 90) for c in categories]
    spend = [Sum(spend_column(c), 365) for c in categories]
    out = [
        _share(
            f"view_share_{c}_90d",
            "interest",
            f"share of product views in category {c}",
            category_column(c),
            "product_views",
            90,
        )
        for c in categories
    ]
    out += [
        _share(
            f"spend_share_{c}_365d",
            "interest",
            f"share of completed spend in category {c}",
            spend_column(c),
            "revenue",
            365,
        )
        for c in categories
    ]

    def top(*cols: Column) -> Column:  # the category with most views/spend; ties go to the first listed
        best = F.greatest(*cols)
        return F.coalesce(
            *[F.when((c == best) & (best > 0), F.lit(name)) for c, name in zip(cols, categories, strict=False)]
        )

    def top_share(*cols: Column) -> Column:
        return ratio(F.greatest(*cols[:-1]), cols[-1])

    if categories:
        out += [
            Feature(
                "preferred_category_90d",
                "interest",
                "category with the most product views (first configured category on ties); null without views",
                "category",
                90,
                tuple(views),
                top,
                dtype="string",
            ),
            Feature(
                "preferred_category_share_90d",
                "interest",
                "share of product views in the preferred category",
                "share 0-1",
                90,
                (*views, Sum("product_views", 90)),
                top_share,
            ),
            Feature(
                "top_spend_category_365d",
                "interest",
                "category with the most completed spend; null without spend",
                "category",
                365,
                tuple(spend),
                top,
                dtype="string",
            ),
        ]
    return out


def _habits() -> list[Feature]:
    out = [
        _share(
            f"{part}_share_90d",
            "habits",
            f"share of events in the local {part} ({lo:02d}-{hi:02d} h)",
            f"{part}_events",
            "events",
            90,
        )
        for part, (lo, hi) in DAY_PARTS.items()
    ]
    out.append(
        _share(
            "weekend_share_90d",
            "habits",
            "share of events on Saturday or Sunday (local time)",
            "weekend_events",
            "events",
            90,
        )
    )
    out += [
        _share(
            f"channel_share_{c}_90d", "habits", f"share of events from channel {c}", f"channel_{c}_events", "events", 90
        )
        for c in CHANNELS
    ]
    out += [
        _share(
            f"device_share_{d}_90d", "habits", f"share of events from a {d} device", f"device_{d}_events", "events", 90
        )
        for d in DEVICES
    ]
    return out


def _trends() -> list[Feature]:
    def trend(metric: str, what: str, unit: str) -> Feature:
        return Feature(
            f"{metric}_trend_30d",
            "trend",
            f"{what} in the last 30 days minus the 30 days before",
            unit,
            60,
            (Sum(metric, 30), Sum(metric, 60)),
            lambda last, both: last - (both - last),
        )

    return [
        trend("orders", "completed orders", "orders"),
        trend("revenue", "revenue", "currency"),
        trend("sessions", "sessions", "sessions"),
    ]


def _social() -> list[Feature]:
    return [
        _window("posts_90d", "social", "posts, comments and reviews written", "posts", "posts", 90),
        _window("reviews_90d", "social", "reviews written", "posts", "reviews", 90),
        _window("likes_received_90d", "social", "likes received on own posts", "likes", "likes_received", 90),
        _window("shares_received_90d", "social", "shares received on own posts", "shares", "shares_received", 90),
        Feature(
            "avg_review_rating_90d",
            "social",
            "mean rating given (records with a rating)",
            "stars",
            90,
            (Sum("rating_sum", 90), Sum("ratings", 90)),
            ratio,
        ),
        Feature(
            "days_since_last_post",
            "social",
            "days from the last social record to the as-of date; null if none in the history window",
            "days",
            None,
            (Col("day_num"), Last("posts")),
            lambda d, last: d - last,
            dtype="int",
        ),
    ]


def _text(categories: list[str]) -> list[Feature]:
    scored = Sum("scored_posts", 90)
    out = [
        _window(
            "positive_posts_90d",
            "text",
            "social records the text model reads as positive",
            "posts",
            "positive_posts",
            90,
        ),
        _window(
            "negative_posts_90d",
            "text",
            "social records the text model reads as negative",
            "posts",
            "negative_posts",
            90,
        ),
        Feature(
            "avg_sentiment_90d",
            "text",
            "mean of P(positive) - P(negative) over the scored records",
            "score -1..1",
            90,
            (Sum("sentiment_sum", 90), scored),
            ratio,
        ),
    ]
    out += [
        _share(
            f"topic_share_{c}_90d", "text", f"share of scored records about {c}", topic_column(c), "scored_posts", 90
        )
        for c in categories
    ]
    if categories:
        topics = [Sum(topic_column(c), 90) for c in categories]

        def top(*cols: Column) -> Column:
            best = F.greatest(*cols)
            return F.coalesce(
                *[F.when((c == best) & (best > 0), F.lit(name)) for c, name in zip(cols, categories, strict=False)]
            )

        out.append(
            Feature(
                "interest_topic_90d",
                "text",
                "topic the person writes about most (first configured category on ties); null without scored records",
                "category",
                90,
                tuple(topics),
                top,
                dtype="string",
            )
        )
    return out


def _band(value: Column, bands: tuple) -> Column:
    return F.coalesce(*[F.when((value >= lo) & (value < hi), F.lit(name)) for lo, hi, name in bands], F.lit(UNKNOWN))


def _age(as_of: Column, birth_year: Column) -> Column:
    age = F.year(as_of) - birth_year
    return F.when((age >= 0) & (age < 120), age)  # an impossible birth year is as unknown as a missing one


def _profile() -> list[Feature]:
    crm = "from the person's CRM account (most recently updated one); "
    return [
        Feature(
            "gender",
            "profile",
            crm + "F or M; 'unknown' when missing",
            "code",
            None,
            (Col("gender"),),
            lambda g: F.coalesce(F.when(F.trim(g) != "", F.upper(F.trim(g))), F.lit(UNKNOWN)),
            dtype="string",
        ),
        Feature(
            "age",
            "profile",
            crm + "as-of year minus birth year; null when missing or implausible",
            "years",
            None,
            (Col("as_of_date"), Col("birth_year")),
            _age,
            dtype="int",
        ),
        Feature(
            "age_band",
            "profile",
            "age in bands under_25, 25_34, 35_44, 45_54, 55_plus; 'unknown' when age is null",
            "band",
            None,
            (Col("as_of_date"), Col("birth_year")),
            lambda d, b: _band(_age(d, b), AGE_BANDS),
            dtype="string",
        ),
        Feature(
            "city_tier",
            "profile",
            crm + "city tier (1 = the largest cities); null when missing",
            "tier",
            None,
            (Col("city_tier"),),
            _same,
            dtype="int",
        ),
        Feature(
            "city_tier_band",
            "profile",
            "city tier as 'tier_<n>'; 'unknown' when missing",
            "band",
            None,
            (Col("city_tier"),),
            lambda t: F.coalesce(F.concat(F.lit("tier_"), t.cast("string")), F.lit(UNKNOWN)),
            dtype="string",
        ),
        Feature(
            "tenure_days",
            "profile",
            "days since the earliest signup of the person's accounts; null before signup or without an account",
            "days",
            None,
            (Col("as_of_date"), Col("signup_date")),
            lambda d, s: F.when(s <= d, F.datediff(d, s)),
            dtype="int",
        ),
    ]


def _consent() -> list[Feature]:
    return [
        Feature(
            f"consent_{c}",
            "consent",
            f"may be contacted by {c} (current CRM state; false when "
            "unknown). Not a model input: the CRM keeps no history, so it may postdate the as-of date",
            "flag",
            None,
            (Col(f"consent_{c}"),),
            lambda v: F.coalesce(v, F.lit(False)),
            dtype="boolean",
            point_in_time=False,
        )
        for c in CONSENT_CHANNELS
    ]


def _lineage() -> list[Feature]:
    return [
        Feature(
            "latest_input_date",
            "lineage",
            "latest day of silver activity behind this row's features "
            "(point-in-time check: never after as_of_date); null if none in the history window",
            "date",
            None,
            (Col("latest_input_day"),),
            lambda d: F.date_add(F.lit("1970-01-01").cast("date"), d),
            dtype="date",
        )
    ]


KEYS = (
    Feature(
        "person_id",
        "key",
        "pseudonymous person id from identity resolution",
        "id",
        None,
        (Col("person_id"),),
        _same,
        dtype="string",
    ),
    Feature(
        "as_of_date",
        "key",
        "the portrait describes the person at the end of this day (UTC)",
        "date",
        None,
        (Col("as_of_date"),),
        _same,
        dtype="date",
    ),
)


def features(categories: list[str]) -> list[Feature]:
    """Every portrait column, in table order, for the configured product categories."""
    return [
        *KEYS,
        *_rfm(),
        *_engagement(),
        *_funnel(),
        *_interest(list(categories)),
        *_habits(),
        *_trends(),
        *_social(),
        *_text(list(categories)),
        *_profile(),
        *_consent(),
        *_lineage(),
    ]


def window_inputs(feats: list[Feature]) -> tuple[list[Sum], list[Last]]:
    """The distinct window sums and last-day inputs the features need, in first-use order."""
    sums = dict.fromkeys(i for f in feats for i in f.inputs if isinstance(i, Sum))
    lasts = dict.fromkeys(i for f in feats for i in f.inputs if isinstance(i, Last))
    return list(sums), list(lasts)
