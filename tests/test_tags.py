"""Tags and audiences: expression and percentile tags, catalog validation, audience queries and writes."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import ROOT, make_config
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import audience, catalog, cli, erase, tags
from portrait.config import ConfigError
from portrait.io import Lakehouse
from portrait.tags import CatalogConf, Percentile, Tag

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 11, 1)
CATS = ["sneakers", "apparel", "beauty", "electronics", "home", "books", "sports", "toys"]
SCHEMA = tags.portrait_schema(CATS)

TIER_1 = Tag(name="city_tier_1", group="basic", description="tier-1 city", when="city_tier = 1")
FEMALE = Tag(name="female", group="basic", description="gender F", when="gender = 'F'")
FREQUENT = Tag(name="frequent_buyer", group="behaviour", description="3+ orders", when="orders_90d >= 3")
SNEAKERS = Tag(
    name="sneaker_lover",
    group="interest",
    description="sneakers",
    when="preferred_category_90d = 'sneakers' or view_share_sneakers_90d >= 0.4",
)
TOP_SPENDER = Tag(
    name="top_spender_20pct",
    group="behaviour",
    description="top 20 % of buyers by spend",
    when="orders_90d > 0",
    percentile=Percentile(feature="revenue_90d", top=0.2),
)
TAG_SCHEMA = "person_id string, as_of_date date, tag string"


def full_portrait(df):
    """A tiny portrait widened to the registry's schema: the columns the test does not give are null."""
    return df.select(
        *[
            F.col(f.name).cast(f.dataType) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
            for f in SCHEMA
        ]
    )


# --- evaluation ------------------------------------------------------------------------------


def test_expression_tags_hold_where_true_and_never_on_null(spark):
    portrait = spark.createDataFrame(
        [
            # person, date, city_tier, gender, orders_90d, preferred_category, view_share_sneakers
            ("a", D2, 1, "F", 3.0, "sneakers", 0.2),  # every tag
            ("b", D2, 2, "M", 2.0, "beauty", 0.5),  # sneakers by view share only
            ("c", D2, None, "unknown", None, None, None),  # all null: no tag
            ("d", D2, 1, "F", 5.0, "beauty", 0.1),  # tier 1, female, frequent
            ("d", D1, 3, "F", 0.0, None, None),  # the same person a month earlier
        ],
        "person_id string, as_of_date date, city_tier int, gender string, orders_90d double, "
        "preferred_category_90d string, view_share_sneakers_90d double",
    )
    got = tags.evaluate(portrait, [TIER_1, FEMALE, FREQUENT, SNEAKERS])
    want = spark.createDataFrame(
        [
            ("a", D2, "city_tier_1"),
            ("a", D2, "female"),
            ("a", D2, "frequent_buyer"),
            ("a", D2, "sneaker_lover"),
            ("b", D2, "sneaker_lover"),
            ("d", D2, "city_tier_1"),
            ("d", D2, "female"),
            ("d", D2, "frequent_buyer"),
            ("d", D1, "female"),
        ],
        TAG_SCHEMA,
    )
    assertDataFrameEqual(got, want)


def test_percentile_tags_are_per_as_of_date_with_ties_in_and_nulls_out(spark):
    d1 = [(p, D1, 1.0, float(v)) for p, v in zip("abcdefghij", range(1, 11), strict=False)]  # 1..10: top 2 -> 9, 10
    d2 = [
        ("a", D2, 1.0, 30.0),
        ("b", D2, 2.0, 30.0),
        ("c", D2, 1.0, 30.0),  # tied at the top: all in
        ("i", D2, 1.0, 9.0),
        ("d", D2, 1.0, 5.0),  # 9 was top on D1, not on D2
        ("x", D2, 0.0, 1000.0),  # fails the `when` filter: not in the population, not tagged
        ("y", D2, 1.0, None),  # null spend: not in the population, not tagged
    ]
    portrait = spark.createDataFrame(
        d1 + d2, "person_id string, as_of_date date, orders_90d double, revenue_90d double"
    )
    got = tags.evaluate(portrait, [TOP_SPENDER])
    want = spark.createDataFrame(
        [
            ("i", D1, "top_spender_20pct"),
            ("j", D1, "top_spender_20pct"),
            ("a", D2, "top_spender_20pct"),
            ("b", D2, "top_spender_20pct"),
            ("c", D2, "top_spender_20pct"),
        ],
        TAG_SCHEMA,
    )
    assertDataFrameEqual(got, want)


def test_percentile_without_filter_and_integer_feature(spark):
    top = Tag(
        name="long_tenure_40pct",
        group="basic",
        description="longest tenure",
        percentile=Percentile(feature="tenure_days", top=0.4),
    )
    portrait = spark.createDataFrame(
        [("a", D2, 10), ("b", D2, 400), ("c", D2, 300), ("d", D2, 20), ("e", D2, 5)],
        "person_id string, as_of_date date, tenure_days int",
    )
    got = tags.evaluate(portrait, [top, Tag(name="tier_x", group="basic", description="x", when="tenure_days < 6")])
    want = spark.createDataFrame(
        [("b", D2, "long_tenure_40pct"), ("c", D2, "long_tenure_40pct"), ("e", D2, "tier_x")], TAG_SCHEMA
    )
    assertDataFrameEqual(got, want)


# --- the catalog -----------------------------------------------------------------------------


def test_the_shipped_catalog_loads_against_the_registry(spark, tmp_path):
    cfg = make_config(tmp_path)
    loaded = tags.configured_tags(spark, cfg.tags, features_conf=cfg.features, conf_dir=cfg.conf_dir)
    names = [t.name for t in loaded]
    assert {"city_tier_1", "sneaker_lover", "frequent_buyer", "top_spender_20pct", "positive_reviewer"} <= set(names)
    assert {t.group for t in loaded} == set(tags.GROUPS)
    assert 15 <= len(loaded) <= 25


def test_the_committed_tag_catalog_is_the_generated_one():
    committed = (ROOT / "docs" / "tag_catalog.md").read_text(encoding="utf-8")
    generated = tags.to_markdown(tags.parse_tags(ROOT / "conf" / "tags.yaml", SCHEMA.fieldNames()))
    assert committed == generated, "regenerate: python -m portrait.tags --out docs/tag_catalog.md"


GOOD = "  - {name: ok_tag, group: basic, description: fine, when: 'city_tier = 1'}\n"


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            "  - {name: t1, group: basic, description: d, when: 'city_tier = 1', colour: red}\n",
            r"tags\.yaml: tags\[1\]\.colour: unknown key \(allowed: description, group, name, percentile, when\) \(name 't1'\)$",
        ),
        (
            "  - {name: t1, group: lifestyle, description: d, when: 'city_tier = 1'}\n",
            r"tags\.yaml: tags\[1\]\.group: must be one of 'basic', 'behaviour' or 'interest', got 'lifestyle' \(name 't1'\)",
        ),
        (
            "  - {name: ok_tag, group: basic, description: d, when: 'city_tier = 2'}\n",
            r"tags\.yaml: tags: 'ok_tag' names both tags\[0\] and tags\[1\]",
        ),
        (
            "  - {name: orders_90d, group: behaviour, description: d, when: 'orders_90d > 1'}\n",
            r"tags\.yaml: tags\[1\]\.name: is a gold\.portrait column.* \(name 'orders_90d'\)",
        ),
        (
            "  - {name: Bad-Name, group: basic, description: d, when: 'true'}\n",
            r"tags\.yaml: tags\[1\]\.name: must match \^\[a-z\]\[a-z0-9_\]\{0,62\}\$, got 'Bad-Name'",
        ),
        ("  - {name: t1, group: basic, description: d}\n", r"tags\.yaml: tags\[1\]: needs 'when' .* \(name 't1'\)"),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: revenue_90d, top: 1.5}}\n",
            r"tags\.yaml: tags\[1\]\.percentile\.top: must be < 1, got 1\.5 \(name 't1'\)",
        ),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: revenue_90d, top: 0}}\n",
            r"tags\.yaml: tags\[1\]\.percentile\.top: must be > 0, got 0 \(name 't1'\)",
        ),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: revenue_90d, top: 0.2, by: x}}\n",
            r"tags\.yaml: tags\[1\]\.percentile\.by: unknown key \(allowed: feature, top\) \(name 't1'\)",
        ),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: revenue_91d, top: 0.2}}\n",
            r"tags\.yaml: tags\[1\]\.percentile\.feature: 'revenue_91d' is not a gold\.portrait column \(name 't1'\)",
        ),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: gender, top: 0.2}}\n",
            r"tag 't1': 'percentile.feature' 'gender' is string, not a number",
        ),
        (
            "  - {name: t1, group: basic, description: d, when: 'orders_90d >= '}\n",
            r"tag 't1': 'when' 'orders_90d >= ' is not a valid expression: .*PARSE_SYNTAX_ERROR",
        ),
        (
            "  - {name: t1, group: basic, description: d, when: 'order_90d >= 3'}\n",
            r"tag 't1': 'when' 'order_90d >= 3' is not a valid expression: .*order_90d",
        ),
        (
            "  - {name: t1, group: basic, description: d, when: 'orders_90d + 1'}\n",
            r"tag 't1': 'when' 'orders_90d \+ 1' must be true/false, but it is double",
        ),
        (
            "  - {name: t1, group: basic, description: d, when: 'sum(orders_90d) > 3'}\n",
            r"tag 't1': 'when' 'sum\(orders_90d\) > 3' is not a valid expression",
        ),
        (
            "  - {name: t1, group: basic, description: d, percentile: {feature: revenue_90d, top: 0.2}, when: 'x > 1'}\n",
            r"tag 't1': 'when' 'x > 1' is not a valid expression",
        ),
    ],
)
def test_bad_catalog_entries_fail_naming_the_tag_and_key(spark, tmp_path, entry, message):
    path = tmp_path / "tags.yaml"
    path.write_text("tags:\n" + GOOD + entry, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        tags.load_tags(path, SCHEMA, spark=spark)


def test_catalog_with_unknown_top_level_key_fails(tmp_path, spark):
    path = tmp_path / "tags.yaml"
    path.write_text("version: 1\ntags:\n" + GOOD, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tags\.yaml: version: unknown key \(allowed: tags\)"):
        tags.load_tags(path, SCHEMA, spark=spark)


# --- audiences -------------------------------------------------------------------------------


@pytest.fixture
def portrait_and_tags(spark):
    portrait = spark.createDataFrame(
        [
            ("a", D2, 1, 4.0),
            ("b", D2, 1, 1.0),
            ("c", D2, 2, 5.0),
            ("d", D2, None, 3.0),
            ("e", D2, 1, 3.0),
        ],
        "person_id string, as_of_date date, city_tier int, orders_90d double",
    )
    tag_rows = spark.createDataFrame(
        [
            ("a", D2, "sneaker_lover"),
            ("a", D2, "frequent_buyer"),
            ("b", D2, "sneaker_lover"),
            ("c", D2, "sneaker_lover"),
            ("c", D2, "frequent_buyer"),
            ("d", D2, "sneaker_lover"),
            ("d", D2, "frequent_buyer"),
            ("e", D2, "frequent_buyer"),
        ],
        TAG_SCHEMA,
    )
    return portrait, tag_rows


def test_audience_combines_tags_and_features(spark, portrait_and_tags):
    portrait, tag_rows = portrait_and_tags
    names = ["sneaker_lover", "frequent_buyer", "deal_seeker"]
    got = audience.build(portrait, tag_rows, "city_tier = 1 and sneaker_lover and frequent_buyer", tag_names=names)
    want = spark.createDataFrame(
        [("a", D2, 1, 4.0, True, True, False)],
        "person_id string, as_of_date date, city_tier int, orders_90d double, "
        "sneaker_lover boolean, frequent_buyer boolean, deal_seeker boolean",
    )
    assertDataFrameEqual(got, want)
    # A tag nobody has is a column of false, and a person without tags is kept (all false).
    others = audience.build(
        portrait, tag_rows, "not deal_seeker and not sneaker_lover and orders_90d >= 3", tag_names=names
    )
    assertDataFrameEqual(
        others.select("person_id", "frequent_buyer"),
        spark.createDataFrame([("e", True)], "person_id string, frequent_buyer boolean"),
    )


@pytest.mark.parametrize(
    "where, reason",
    [
        ("city_tier = 1 and sneaker_lovr", "sneaker_lovr"),
        ("city_tier = = 1", "PARSE_SYNTAX_ERROR"),
        ("orders_90d", "must be true/false, but it is double"),
        ("count(*) > 1", "not a valid expression"),
    ],
)
def test_bad_audience_expression_names_the_expression(portrait_and_tags, where, reason):
    portrait, tag_rows = portrait_and_tags
    with pytest.raises(ValueError, match="audience expression") as info:
        audience.build(portrait, tag_rows, where, tag_names=["sneaker_lover"])
    assert where in str(info.value) and reason in str(info.value)


def test_audience_name_must_be_snake_case():
    for bad in ("Tier1", "1st", "a-b", "a" * 64, "x'; drop", ""):
        with pytest.raises(ValueError, match="audience name must match"):
            audience.check_name(bad)
    assert audience.check_name("tier1_sneakers") == "tier1_sneakers"


def test_audience_job_needs_name_and_where(capsys):
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["audience", "--conf", "conf/local.yaml", "--date", "2026-11-01", "--name", "x"])
    assert "required: --where" in capsys.readouterr().err
    args = cli._parser().parse_args(["audience", "--conf", "c", "--date", "2026-11-01", "--name", "x", "--where", "y"])
    assert (args.name, args.where) == ("x", "y")


def test_erase_covers_tags_and_audiences():
    for name in (catalog.GOLD_TAGS, catalog.GOLD_AUDIENCES):
        assert name not in erase.NO_PERSON_DATA
    assert erase.person_rows(["name", "date", "person_id", "definition", "created_at"], {}, ["p_1"]) is not None


# --- the jobs on a tmp lakehouse -------------------------------------------------------------


@pytest.mark.slow
def test_tags_and_audience_jobs_write_and_replace(spark, tmp_path):
    cfg = make_config(tmp_path)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    portrait = full_portrait(
        spark.createDataFrame(
            [
                ("p_a", D2, 1, 4.0, "sneakers"),
                ("p_b", D2, 1, 1.0, "sneakers"),
                ("p_c", D2, 2, 5.0, "beauty"),
                ("p_d", D2, 1, 3.0, None),
            ],
            "person_id string, as_of_date date, city_tier int, orders_90d double, preferred_category_90d string",
        )
    )
    lake.replace_range(portrait, catalog.GOLD_PORTRAIT, start=D2)

    conf = CatalogConf.of(cfg)
    summary = tags.run(lake, conf, D2)
    assert tags.run(lake, conf, D2) == summary  # a rerun replaces the date
    catalog_size = len(tags.configured_tags(spark, cfg.tags, features_conf=cfg.features, conf_dir=cfg.conf_dir))
    assert summary == {"date": D2.isoformat(), "tags": catalog_size, "rows": 9}  # rows: from the commit's metrics
    counts = {r["tag"]: r["count"] for r in lake.read(catalog.GOLD_TAGS).groupBy("tag").count().collect()}
    assert counts == {"city_tier_1": 3, "frequent_buyer": 3, "sneaker_lover": 2, "beauty_lover": 1}

    first = audience.run(lake, conf, D2, name="tier1_frequent", where="city_tier_1 and frequent_buyer")
    assert first == {"name": "tier1_frequent", "date": D2.isoformat(), "persons": 2}
    audience.run(lake, conf, D2, name="sneaker_fans", where="sneaker_lover")
    again = audience.run(
        lake,
        conf,
        D2,
        name="tier1_frequent",
        where="city_tier = 1 and sneaker_lover and frequent_buyer",
    )
    assert again["persons"] == 1
    got = lake.read(catalog.GOLD_AUDIENCES).drop("created_at")
    want = spark.createDataFrame(
        [
            ("tier1_frequent", D2, "p_a", "city_tier = 1 and sneaker_lover and frequent_buyer"),
            ("sneaker_fans", D2, "p_a", "sneaker_lover"),
            ("sneaker_fans", D2, "p_b", "sneaker_lover"),
        ],
        "name string, date date, person_id string, definition string",
    )
    assertDataFrameEqual(got, want)
    with pytest.raises(ValueError, match="run `portrait tags --date 2026-10-01` first"):
        audience.run(lake, conf, D1, name="x", where="true")


@pytest.mark.slow
def test_tags_job_on_a_portrait_older_than_the_registry_says_to_rebuild_it(spark, tmp_path):
    cfg = make_config(tmp_path)
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    stale = full_portrait(spark.createDataFrame([("p_a", D2, 1)], "person_id string, as_of_date date, city_tier int"))
    lake.replace_range(stale.drop("age_band"), catalog.GOLD_PORTRAIT, start=D2)
    with pytest.raises(ValueError, match=r"(?s)tag 'age_under_25'.*age_band.*rebuild it with `portrait features"):
        tags.run(lake, CatalogConf.of(cfg), D2)
    assert not lake.exists(catalog.GOLD_TAGS)
