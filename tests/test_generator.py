"""The synthetic generator: contract of the landing zone, determinism, truth, behaviour."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from portrait.generator import generate

END = dt.date(2026, 10, 31)
DAYS = 21
SCALE = 0.003  # 300 persons
DIRTY = 0.02
DATES = [(END - dt.timedelta(days=d)).isoformat() for d in range(DAYS)]

CLICK_FIELDS = [
    "event_id",
    "anonymous_id",
    "user_id",
    "session_id",
    "event_type",
    "ts",
    "product_id",
    "category",
    "price",
    "search_query",
    "device_type",
    "channel",
    "dwell_ms",
    "order_id",
]
ORDER_HEADER = (
    "order_id,line_no,account_id,phone,email,order_ts,product_id,category,quantity,unit_price,"
    "discount_amount,coupon_code,channel,status,ship_city"
)
SOCIAL_FIELDS = [
    "post_id",
    "platform",
    "wechat_id",
    "author_id",
    "account_id",
    "post_type",
    "text",
    "rating",
    "product_id",
    "likes",
    "shares",
    "ts",
]
CRM_HEADER = (
    "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
    "consent_email,consent_push,consent_wechat,consent_updated_at"
)
EVENT_TYPES = ["page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout", "login"]


@dataclass(frozen=True)
class Lake:
    landing: Path
    truth: Path
    counts: dict


def _generate(spark, root: Path, seed: int) -> Lake:
    counts = generate(
        spark,
        landing=str(root / "landing"),
        truth=str(root / "truth"),
        scale=SCALE,
        seed=seed,
        end_date=END,
        days=DAYS,
        dirty_fraction=DIRTY,
    )
    return Lake(root / "landing", root / "truth", counts)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> Lake:
    return _generate(spark, tmp_path_factory.mktemp("lake_a"), seed=7)


@pytest.fixture(scope="module")
def lake_again(spark, tmp_path_factory) -> Lake:
    return _generate(spark, tmp_path_factory.mktemp("lake_a_again"), seed=7)


@pytest.fixture(scope="module")
def lake_other(spark, tmp_path_factory) -> Lake:
    return _generate(spark, tmp_path_factory.mktemp("lake_b"), seed=8)


CLICK_SCHEMA = (
    "event_id string, anonymous_id string, user_id string, session_id string, event_type string, "
    "ts string, product_id string, category string, price double, search_query string, "
    "device_type string, channel string, dwell_ms long, _corrupt_record string"
)
SOCIAL_SCHEMA = (
    "post_id string, platform string, wechat_id string, author_id string, account_id string, "
    "post_type string, "
    "text string, rating long, product_id string, likes long, shares long, ts string, "
    "_corrupt_record string"
)


def _json(spark, lake: Lake, source: str) -> DataFrame:
    """JSON lines with a fixed schema: unparseable lines land in `_corrupt_record`."""
    schema = CLICK_SCHEMA if source == "clickstream" else SOCIAL_SCHEMA
    return spark.read.schema(schema).json(str(lake.landing / source))


def _lines(spark, lake: Lake, source: str) -> DataFrame:
    return spark.read.text(str(lake.landing / source))


def _sorted_lines(spark, lake: Lake, source: str) -> list[tuple[str, str]]:
    return sorted((str(r["date"]), r["value"]) for r in _lines(spark, lake, source).collect())


def _csv(spark, lake: Lake, source: str) -> DataFrame:
    return (
        spark.read.option("header", True)
        .option("inferSchema", False)
        .option("quote", '"')
        .option("escape", '"')
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .csv(str(lake.landing / source))
    )


def _persons(spark, lake: Lake) -> DataFrame:
    return spark.read.parquet(str(lake.truth / "persons"))


def _canonical_phone(c):
    digits = F.regexp_replace(c, "[^0-9]", "")
    return F.when((F.length(digits) == 13) & digits.startswith("86"), F.substring(digits, 3, 11)).otherwise(digits)


def _canonical_email(c):
    return F.lower(F.trim(c))


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_truth(spark, lake, lake_again):
    for source in ("clickstream", "orders", "social", "crm"):
        first = _sorted_lines(spark, lake, source)
        assert first, source
        assert first == _sorted_lines(spark, lake_again, source), source
    persons = sorted(_persons(spark, lake).collect())
    assert persons == sorted(_persons(spark, lake_again).collect())
    assert lake.counts == lake_again.counts


def test_other_seed_gives_other_content(spark, lake, lake_other):
    a = {v for _, v in _sorted_lines(spark, lake, "clickstream")}
    b = {v for _, v in _sorted_lines(spark, lake_other, "clickstream")}
    assert len(a & b) < 0.01 * len(a)
    arch_a = [r["archetype"] for r in _persons(spark, lake).orderBy("person_key").collect()]
    arch_b = [r["archetype"] for r in _persons(spark, lake_other).orderBy("person_key").collect()]
    assert sum(x != y for x, y in zip(arch_a, arch_b, strict=False)) > len(arch_a) / 2


# --- landing contract --------------------------------------------------------------------------


def _part_files(folder: Path, ext: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"part-*{ext}"))


def test_every_day_has_files_with_the_contracted_extension(lake):
    for source, ext in (("clickstream", ".json"), ("orders", ".csv")):
        folders = sorted(p.name for p in (lake.landing / source).glob("date=*"))
        assert folders == sorted(f"date={d}" for d in DATES), source
        for folder in (lake.landing / source).glob("date=*"):
            files = _part_files(folder, ext)
            assert 1 <= len(files) <= 3, folder
            assert not list(folder.glob("part-*.txt")), folder
    for source, ext in (("social", ".json"), ("crm", ".csv")):
        folders = list((lake.landing / source).glob("date=*"))
        assert folders and all(_part_files(f, ext) for f in folders), source
        assert {f.name[len("date=") :] for f in folders} <= set(DATES)


def test_csv_files_start_with_the_header_line(lake):
    for source, header in (("orders", ORDER_HEADER), ("crm", CRM_HEADER)):
        for path in (lake.landing / source).glob("date=*/part-*.csv"):
            with path.open(encoding="utf-8") as f:
                assert f.readline().rstrip("\n") == header, path


def test_json_lines_carry_exactly_the_contracted_fields(spark, lake):
    for source, fields in (("clickstream", CLICK_FIELDS), ("social", SOCIAL_FIELDS)):
        parsed = 0
        for row in _lines(spark, lake, source).collect():
            try:
                record = json.loads(row["value"])
            except json.JSONDecodeError:
                continue
            parsed += 1
            keys = list(record)
            id_field = fields[0]
            # A dirty record may lack its id; every other record has every field, in order.
            assert keys == fields or keys == [f for f in fields if f != id_field], keys
        assert parsed > 0, source


def test_clickstream_values_follow_the_contract(spark, lake):
    events = _json(spark, lake, "clickstream").where(
        F.col("_corrupt_record").isNull() & F.col("event_type").isin(*EVENT_TYPES)
    )
    with_product = F.col("event_type").isin("product_view", "add_to_cart", "remove_from_cart", "checkout")
    bad = events.where(
        (with_product != F.col("product_id").isNotNull())
        | (with_product != F.col("price").isNotNull())
        | ((F.col("event_type") == "search") != F.col("search_query").isNotNull())
        | ((F.col("event_type") == "login") & F.col("user_id").isNull())
        | ~F.col("device_type").isin("mobile", "desktop", "tablet")
        | ~F.col("channel").isin("app", "web", "mini_program")
        | ~F.col("ts").rlike(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        | (F.col("dwell_ms") <= 0)
    )
    assert bad.count() == 0
    in_window = events.where(F.substring("ts", 1, 10) == F.col("date").cast("string"))
    assert in_window.count() > 0.95 * events.count()
    # Events of a session are in time order and the session lies within one day.
    spans = events.groupBy("session_id").agg(F.countDistinct("date").alias("days"))
    assert spans.where("days > 1").count() == 0


def test_orders_values_follow_the_contract(spark, lake):
    orders = _csv(spark, lake, "orders").where(F.col("order_id").isNotNull())
    assert orders.count() > 0
    bad = orders.where(
        ~F.col("order_ts").rlike(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        | ~F.col("status").isin("completed", "cancelled", "returned")
        | ~F.col("unit_price").rlike(r"^-?\d+\.\d\d$")
        | ~F.col("discount_amount").rlike(r"^\d+\.\d\d$")
        | ~F.col("category").isin("sneakers", "apparel", "beauty", "electronics", "home", "books", "sports", "toys")
        | ~F.col("product_id").rlike(r"^P\d{5}$")
        | (F.substring("order_ts", 1, 10) != F.col("date").cast("string"))
    )
    assert bad.count() == 0
    guests = orders.where(F.col("account_id").isNull())
    assert guests.count() > 0
    assert guests.where(F.col("phone").isNull() & F.col("email").isNull()).count() == 0


def test_raw_identifiers_come_in_several_spellings(spark, lake):
    rows = _csv(spark, lake, "orders").select("phone", "email").union(_csv(spark, lake, "crm").select("phone", "email"))
    phones = [r["phone"] for r in rows.where(F.col("phone").isNotNull()).collect()]
    assert any(p.startswith("+86 ") for p in phones)
    assert any(p.count("-") == 2 for p in phones)
    assert any(p.isdigit() and len(p) == 11 for p in phones)
    emails = [r["email"] for r in rows.where(F.col("email").isNotNull()).collect()]
    assert any(e != e.strip() for e in emails)
    assert any(e != e.lower() for e in emails)


# --- identifiers map to the truth ---------------------------------------------------------------


def test_raw_identifiers_all_map_to_truth_or_shared_values(spark, lake):
    persons = _persons(spark, lake)
    shared = spark.read.parquet(str(lake.truth / "shared_identifiers"))
    accounts = persons.where(F.col("account_id").isNotNull()).select(F.col("account_id").alias("v"))
    phones = (
        persons.select(F.col("phone").alias("v"))
        .union(shared.where("id_type = 'phone'").select(F.col("value").alias("v")))
        .where(F.col("v").isNotNull())
    )
    emails = (
        persons.select(F.col("email").alias("v"))
        .union(shared.where("id_type = 'email'").select(F.col("value").alias("v")))
        .where(F.col("v").isNotNull())
    )
    cookies = persons.select(F.explode("cookies").alias("v"))

    def unmatched(values: DataFrame, known: DataFrame) -> int:
        return values.where(F.col("v").isNotNull()).join(known.distinct(), "v", "left_anti").count()

    orders = _csv(spark, lake, "orders")
    assert unmatched(orders.select(F.col("account_id").alias("v")), accounts) == 0
    assert unmatched(orders.select(_canonical_phone(F.col("phone")).alias("v")), phones) == 0
    assert unmatched(orders.select(_canonical_email(F.col("email")).alias("v")), emails) == 0
    events = _json(spark, lake, "clickstream").where(F.col("_corrupt_record").isNull())
    assert unmatched(events.select(F.col("anonymous_id").alias("v")), cookies) == 0
    assert unmatched(events.select(F.col("user_id").alias("v")), accounts) == 0
    crm = _csv(spark, lake, "crm")
    assert unmatched(crm.select(F.col("account_id").alias("v")), accounts) == 0
    assert unmatched(crm.select(_canonical_phone(F.col("phone")).alias("v")), phones) == 0
    posts = _json(spark, lake, "social").where(F.col("_corrupt_record").isNull())
    assert unmatched(posts.select(F.col("wechat_id").alias("v")), persons.select(F.col("wechat_id").alias("v"))) == 0
    assert (
        unmatched(
            posts.select(F.col("author_id").alias("v")), persons.select(F.explode("social_author_ids").alias("v"))
        )
        == 0
    )
    assert unmatched(posts.select(F.col("account_id").alias("v")), accounts) == 0


def test_shared_identifiers_are_really_shared(spark, lake):
    shared = spark.read.parquet(str(lake.truth / "shared_identifiers"))
    kinds = {r["kind"] for r in shared.select("kind").distinct().collect()}
    assert kinds == {"family_device", "kiosk", "placeholder", "call_centre"}
    kiosk = shared.where("kind = 'kiosk'").collect()
    assert len(kiosk) >= 1 and all(r["n_persons"] >= 10 for r in kiosk)
    family = shared.where("kind = 'family_device'").collect()
    assert family and all(2 <= r["n_persons"] <= 4 for r in family)
    # Each shared cookie is in the truth cookies of exactly n_persons persons.
    holders = _persons(spark, lake).select(F.explode("cookies").alias("value")).groupBy("value").count()
    joined = shared.where("id_type = 'anonymous_id'").join(holders, "value", "left")
    assert joined.where(F.col("count") != F.col("n_persons")).count() == 0
    # ... and no other cookie is held by two persons.
    assert holders.where("count > 1").join(shared, "value", "left_anti").count() == 0
    # Placeholders are used by several persons' orders.
    orders = _csv(spark, lake, "orders")
    placeholder_rows = orders.where(
        _canonical_phone(F.col("phone")).isin("00000000000", "13800138000", "15900001234")
        | _canonical_email(F.col("email")).isin("test@test.com", "none@none.com", "noemail@example.com")
    )
    assert placeholder_rows.count() >= 2


# --- dirty rows ---------------------------------------------------------------------------------


def test_dirty_clickstream_lines_are_invalid_in_the_counted_number(spark, lake):
    lines = _json(spark, lake, "clickstream")
    invalid = lines.where(
        F.col("_corrupt_record").isNotNull()
        | F.col("event_id").isNull()
        | ~F.coalesce(F.col("event_type").isin(*EVENT_TYPES), F.lit(False))
        | (F.col("ts") < "2000")
        | (F.col("ts") > (END + dt.timedelta(days=2)).isoformat())
    )
    total, n_invalid = lines.count(), invalid.count()
    assert total == lake.counts["clickstream"]
    assert n_invalid == lake.counts["clickstream_dirty"]
    assert 0.5 * DIRTY < n_invalid / total < 1.6 * DIRTY
    texts = _lines(spark, lake, "clickstream").groupBy("value").count()
    duplicated = texts.where("count > 1").agg(F.sum(F.col("count") - 1)).first()[0] or 0
    assert duplicated == lake.counts["clickstream_duplicates"] > 0


def test_dirty_orders_are_invalid_in_realistic_ways(spark, lake, lake_other):
    for one in (lake, lake_other):
        orders = _csv(spark, one, "orders")
        invalid = orders.where(
            F.col("order_id").isNull() | F.col("unit_price").startswith("-") | ~F.col("quantity").rlike(r"^\d+$")
        )
        assert invalid.count() == one.counts["orders_dirty"]
    both = _csv(spark, lake, "orders").union(_csv(spark, lake_other, "orders"))
    assert (
        both.where(
            F.col("order_id").isNull() | F.col("unit_price").startswith("-") | ~F.col("quantity").rlike(r"^\d+$")
        ).count()
        > 0
    )


# --- behaviour follows the archetypes ----------------------------------------------------------


def _per_archetype(spark, lake: Lake, df: DataFrame, value: str) -> dict[str, float]:
    persons = _persons(spark, lake).select("person_key", "archetype", "account_id")
    rows = (
        persons.join(df, "account_id", "left")
        .groupBy("person_key", "archetype")
        .agg(F.coalesce(F.sum(value), F.lit(0)).alias("v"))
        .groupBy("archetype")
        .agg(F.avg("v").alias("v"))
        .collect()
    )
    return {r["archetype"]: r["v"] for r in rows}


def test_archetypes_differ_in_buying(spark, lake):
    orders = _csv(spark, lake, "orders").where(F.col("account_id").isNotNull() & F.col("order_id").isNotNull())
    completed = (
        orders.where("status = 'completed'").select("account_id", "order_id").distinct().withColumn("n", F.lit(1))
    )
    per_person = _per_archetype(spark, lake, completed, "n")
    assert per_person["loyal_high_value"] > 2 * per_person["bargain_hunter"] > 0
    assert per_person["bargain_hunter"] > per_person["window_shopper"] >= per_person["dormant"]
    coupon = orders.withColumn("n", F.col("coupon_code").isNotNull().cast("int"))
    lines = orders.withColumn("n", F.lit(1))
    share_bargain = (
        _per_archetype(spark, lake, coupon, "n")["bargain_hunter"]
        / _per_archetype(spark, lake, lines, "n")["bargain_hunter"]
    )
    share_loyal = (
        _per_archetype(spark, lake, coupon, "n")["loyal_high_value"]
        / _per_archetype(spark, lake, lines, "n")["loyal_high_value"]
    )
    assert share_bargain > 2 * share_loyal


def test_window_shoppers_browse_and_drop_carts(spark, lake):
    persons = _persons(spark, lake)
    own = persons.select("archetype", F.explode("cookies").alias("anonymous_id"))
    shared = spark.read.parquet(str(lake.truth / "shared_identifiers")).select(F.col("value").alias("anonymous_id"))
    own = own.join(shared, "anonymous_id", "left_anti")
    events = _json(spark, lake, "clickstream").where(F.col("_corrupt_record").isNull())
    stats = {
        r["archetype"]: r
        for r in events.join(own, "anonymous_id")
        .groupBy("archetype")
        .agg(
            F.sum((F.col("event_type") == "add_to_cart").cast("int")).alias("carts"),
            F.sum((F.col("event_type") == "checkout").cast("int")).alias("checkouts"),
            F.count(F.lit(1)).alias("events"),
        )
        .collect()
    }
    n = {r["archetype"]: r["count"] for r in persons.groupBy("archetype").count().collect()}

    def cart_per_checkout(a):
        return stats[a]["carts"] / max(stats[a]["checkouts"], 1)

    assert cart_per_checkout("window_shopper") > 2 * cart_per_checkout("loyal_high_value")
    assert stats["window_shopper"]["events"] / n["window_shopper"] > 10 * stats["dormant"]["events"] / n["dormant"]


def test_drifting_persons_fade_and_new_customers_arrive_through_the_window(spark, lake):
    events = _json(spark, lake, "clickstream").where(F.col("_corrupt_record").isNull() & F.col("user_id").isNotNull())
    persons = _persons(spark, lake).select("archetype", F.col("account_id").alias("user_id"))
    first_half = F.col("date") < F.lit(DATES[DAYS // 2])
    rows = {
        r["archetype"]: r
        for r in events.join(persons, "user_id")
        .groupBy("archetype")
        .agg(F.sum(first_half.cast("int")).alias("early"), F.sum((~first_half).cast("int")).alias("late"))
        .collect()
    }
    assert rows["drifting_away"]["early"] > 2 * rows["drifting_away"]["late"]
    assert 0.6 < rows["loyal_high_value"]["early"] / rows["loyal_high_value"]["late"] < 1.6
    # New customers arrive all through the window and exist only from their signup on.
    new = (
        _persons(spark, lake)
        .where("archetype = 'new_customer'")
        .select(F.col("account_id").alias("user_id"), "signup_date")
    )
    assert new.where(F.col("signup_date") < F.lit(DATES[-1])).count() == 0
    assert new.where(first_half_signup := F.col("signup_date") < F.lit(DATES[DAYS // 2])).count() > 0
    assert new.where(~first_half_signup).count() > 0
    assert events.join(new, "user_id").where(F.col("date") < F.col("signup_date")).count() == 0
    assert events.join(new, "user_id").count() > 0


def test_social_sentiment_and_ratings_follow_the_persons(spark, lake, lake_other):
    shares = {}
    ratings = {}
    for one in (lake, lake_other):
        labels = spark.read.parquet(str(one.truth / "social_labels"))
        posts = _json(spark, one, "social").where(F.col("_corrupt_record").isNull())
        persons = _persons(spark, one).select("archetype", F.explode("social_author_ids").alias("author_id"))
        joined = posts.join(labels, "post_id").join(persons, "author_id")
        for r in (
            joined.groupBy("archetype")
            .agg(F.avg((F.col("sentiment") == "negative").cast("int")).alias("neg"), F.count(F.lit(1)).alias("n"))
            .collect()
        ):
            shares.setdefault(r["archetype"], []).append((r["neg"], r["n"]))
        for r in joined.where("rating between 1 and 5").groupBy("sentiment").agg(F.avg("rating").alias("r")).collect():
            ratings.setdefault(r["sentiment"], []).append(r["r"])

    def neg_share(a):
        return sum(s * n for s, n in shares[a]) / sum(n for _, n in shares[a])

    assert neg_share("drifting_away") > 2 * neg_share("loyal_high_value")
    assert min(ratings["positive"]) > 4 > 2 > max(ratings["negative"])
    labels = spark.read.parquet(str(lake.truth / "social_labels"))
    assert labels.count() == lake.counts["social_labels"]
    assert {r["topic"] for r in labels.select("topic").distinct().collect()} <= {
        "sneakers",
        "apparel",
        "beauty",
        "electronics",
        "home",
        "books",
        "sports",
        "toys",
    }


def test_crm_holds_a_full_extract_then_changes(spark, lake):
    crm = _csv(spark, lake, "crm").where(F.col("account_id").isNotNull())
    persons = _persons(spark, lake)
    start = DATES[-1]
    first_day = crm.where(F.col("date") == F.lit(start))
    established = persons.where(F.col("signup_date") < F.lit(start))
    assert established.count() > 0
    # Every established account is in it, but for rows damaged on purpose (account_id blanked).
    assert established.join(first_day, "account_id", "left_anti").count() <= lake.counts["crm_dirty"]
    later = crm.where(F.col("date") > F.lit(start))
    assert later.count() < 0.5 * first_day.count()
    assert later.where(F.col("signup_date").cast("string") == F.col("date").cast("string")).count() > 0
    # An account has at most one row per day (exact duplicate lines aside).
    assert crm.distinct().groupBy("date", "account_id").count().where("count > 1").count() == 0


# --- identity evidence --------------------------------------------------------------------------


def test_social_records_carry_the_bound_account_and_wechat_ids_only_on_wechat(spark, lake):
    posts = _json(spark, lake, "social").where(F.col("_corrupt_record").isNull())
    authors = _persons(spark, lake).select(
        F.col("account_id").alias("true_account"),
        F.col("wechat_id").alias("true_wechat"),
        F.posexplode("social_author_ids").alias("platform_idx", "author_id"),
    )
    joined = posts.join(authors, "author_id", "inner")
    assert joined.count() > 0  # every author is a true person's (test_raw_identifiers_all_map_...)
    # Each record's account and WeChat id are its author's own.
    assert joined.where(F.col("account_id").isNotNull() & (F.col("account_id") != F.col("true_account"))).count() == 0
    assert joined.where(F.col("wechat_id").isNotNull() & (F.col("wechat_id") != F.col("true_wechat"))).count() == 0
    # WeChat ids come with WeChat records only, and with every WeChat record of a person who has one.
    on_wechat = F.col("platform") == "wechat"
    assert joined.where(F.col("wechat_id").isNotNull() & ~on_wechat).count() == 0
    assert joined.where(on_wechat & F.col("true_wechat").isNotNull() & F.col("wechat_id").isNull()).count() == 0
    # Most, not all, members' records carry their account; binding holds per author and platform.
    members = joined.where(F.col("true_account").isNotNull())
    bound = members.agg(F.avg(F.col("account_id").isNotNull().cast("double"))).first()[0]
    assert 0.6 < bound < 0.98
    per_author = members.groupBy("author_id").agg(F.countDistinct(F.col("account_id").isNotNull()).alias("states"))
    assert per_author.where("states > 1").count() == 0
    assert joined.where(F.col("true_account").isNull() & F.col("account_id").isNotNull()).count() == 0


def test_account_holders_show_their_account_on_nearly_every_own_cookie(spark, lake):
    events = _json(spark, lake, "clickstream").where(F.col("_corrupt_record").isNull())
    shared = spark.read.parquet(str(lake.truth / "shared_identifiers")).select(F.col("value").alias("anonymous_id"))
    persons = _persons(spark, lake).select(
        F.col("account_id").isNotNull().alias("member"), F.explode("cookies").alias("anonymous_id")
    )
    cookies = (
        events.join(shared, "anonymous_id", "left_anti")
        .groupBy("anonymous_id")
        .agg(F.max(F.col("user_id").isNotNull().cast("int")).alias("signed"))
        .join(persons, "anonymous_id", "inner")
    )
    shares = cookies.groupBy("member").agg(F.avg("signed").alias("signed")).collect()
    by_member = {r["member"]: r["signed"] for r in shares}
    assert by_member[True] > 0.9
    assert by_member[False] == 0.0
    # Remembered devices carry the account on every event of a session, with no login event.
    sessions = (
        events.where(F.col("session_id").isNotNull())
        .groupBy("session_id")
        .agg(
            F.min(F.col("user_id").isNotNull().cast("int")).alias("all_signed"),
            F.max((F.col("event_type") == "login").cast("int")).alias("login"),
        )
    )
    assert sessions.where("all_signed = 1 AND login = 0").count() > 0


# --- truth --------------------------------------------------------------------------------------


def test_truth_probabilities_are_coherent(spark, lake):
    persons = _persons(spark, lake)
    assert persons.count() == lake.counts["persons"] == round(SCALE * 100_000)
    assert (
        persons.where(
            (F.col("purchase_prob") < 0)
            | (F.col("purchase_prob") > 1)
            | (F.col("churn_prob") < 0)
            | (F.col("churn_prob") > 1)
        ).count()
        == 0
    )
    by = {
        r["archetype"]: r
        for r in persons.groupBy("archetype")
        .agg(
            F.avg("purchase_prob").alias("p"),
            F.avg(F.col("purchased_in_horizon").cast("int")).alias("bought"),
            F.avg("churn_prob").alias("c"),
        )
        .collect()
    }
    assert set(by) == {
        "loyal_high_value",
        "bargain_hunter",
        "window_shopper",
        "new_customer",
        "drifting_away",
        "dormant",
    }
    assert by["loyal_high_value"]["p"] > 0.5 > 0.1 > by["dormant"]["p"]
    assert by["loyal_high_value"]["bought"] > by["dormant"]["bought"]
    assert by["drifting_away"]["c"] > by["loyal_high_value"]["c"]
    # Churned persons were active and, the churn window covering the horizon, bought nothing.
    assert persons.where(F.col("churned") & (~F.col("active_in_history") | F.col("purchased_in_horizon"))).count() == 0
    assert persons.where(F.col("phone").isNotNull() & ~F.col("phone").rlike(r"^1\d{10}$")).count() == 0
    assert persons.where(F.col("email") != F.lower(F.trim("email"))).count() == 0
    meta = json.loads((lake.truth / "meta.json").read_text())
    assert (meta["seed"], meta["days"], meta["end_date"]) == (7, DAYS, END.isoformat())


def test_invalid_arguments_fail_with_a_message(spark, tmp_path):
    with pytest.raises(ValueError, match="scale"):
        generate(spark, landing=str(tmp_path / "l"), truth=str(tmp_path / "t"), scale=0, seed=1, end_date=END)
    with pytest.raises(ValueError, match="dirty_fraction"):
        generate(
            spark,
            landing=str(tmp_path / "l"),
            truth=str(tmp_path / "t"),
            scale=0.001,
            seed=1,
            end_date=END,
            dirty_fraction=0.9,
        )
