"""Small driver-side lookup tables: categories, products, cities, coupons, channels.

Products are not a table: product number ``p`` (1-based) belongs to category
``(p - 1) % 8`` and has popularity rank ``(p - 1) // 8``, so a product id, its category and
its price are column functions of the number alone.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from . import rand

CATEGORIES = ("sneakers", "apparel", "beauty", "electronics", "home", "books", "sports", "toys")
N_CATEGORIES = len(CATEGORIES)

# Base price range per category (CNY), same order as CATEGORIES.
PRICE_RANGES = (
    (299.0, 1599.0),
    (79.0, 899.0),
    (49.0, 699.0),
    (199.0, 8999.0),
    (29.0, 1299.0),
    (19.0, 199.0),
    (59.0, 2499.0),
    (39.0, 999.0),
)
PRODUCTS_PER_CATEGORY = 250

# Cities with their tier and a weight roughly following online shoppers.
CITIES = (
    ("上海", 1, 9),
    ("北京", 1, 9),
    ("广州", 1, 7),
    ("深圳", 1, 7),
    ("杭州", 2, 5),
    ("成都", 2, 5),
    ("南京", 2, 4),
    ("武汉", 2, 4),
    ("西安", 2, 3),
    ("重庆", 2, 4),
    ("苏州", 2, 3),
    ("天津", 2, 3),
    ("长沙", 2, 3),
    ("郑州", 2, 3),
    ("青岛", 2, 2),
    ("宁波", 2, 2),
    ("无锡", 3, 2),
    ("佛山", 3, 2),
    ("东莞", 3, 2),
    ("合肥", 3, 2),
    ("昆明", 3, 2),
    ("福州", 3, 2),
    ("厦门", 3, 1),
    ("温州", 3, 1),
    ("南昌", 3, 1),
    ("洛阳", 4, 1),
    ("绵阳", 4, 1),
    ("赣州", 4, 1),
    ("桂林", 4, 1),
    ("汕头", 4, 1),
    ("宜昌", 4, 1),
    ("湛江", 4, 1),
)
CITY_NAMES = tuple(c[0] for c in CITIES)
CITY_TIERS = tuple(c[1] for c in CITIES)
CITY_WEIGHTS = tuple(float(c[2]) for c in CITIES)

# Coupon codes and the share of the line value they take off.
COUPONS = (
    ("SAVE10", 0.10),
    ("SAVE20", 0.20),
    ("FLASH30", 0.30),
    ("NEW15", 0.15),
    ("VIP15", 0.15),
    ("MEMBER5", 0.05),
    ("DOUBLE11", 0.25),
    ("SALE618", 0.20),
)
COUPON_CODES = tuple(c[0] for c in COUPONS)
COUPON_RATES = tuple(c[1] for c in COUPONS)

CHANNELS = ("app", "web", "mini_program")
DEVICES = ("mobile", "desktop", "tablet")
PLATFORMS = ("wechat", "weibo", "xiaohongshu")


def pick_product(seed: int, salt: str, category: Column, *keys: str) -> Column:
    """A product number in ``category`` (0-based index), popular products more often."""
    u = rand.uniform(seed, salt + "#rank", *keys)
    rank = F.floor(u * u * F.lit(PRODUCTS_PER_CATEGORY)).cast("int")
    return rank * F.lit(N_CATEGORIES) + category + F.lit(1)


def pick_category(seed: int, salt: str, *keys: str, p_first: float = 0.55, p_second: float = 0.25) -> Column:
    """A category index: mostly the person's ``pref_cat1``/``pref_cat2`` (may be null), sometimes any."""
    u = rand.uniform(seed, salt + "#cat", *keys)
    other = rand.randint(seed, salt + "#anycat", N_CATEGORIES, *keys)
    return (
        F.when(u < F.lit(p_first), F.col("pref_cat1"))
        .when(u < F.lit(p_first + p_second), F.coalesce(F.col("pref_cat2"), F.col("pref_cat1")))
        .otherwise(other)
    )


def product_id(number: Column) -> Column:
    """``P00001``-style id of a product number."""
    return F.format_string("P%05d", number)


def product_category_index(number: Column) -> Column:
    """0-based category index of a product number."""
    return F.pmod(number - F.lit(1), F.lit(N_CATEGORIES))


def product_category(number: Column) -> Column:
    """Category name of a product number."""
    return rand.pick(CATEGORIES, product_category_index(number))


def product_price(seed: int, number: str) -> Column:
    """Base price (double, ending in 9) of the product number in column ``number``."""
    cat = product_category_index(F.col(number))
    lo = rand.pick([r[0] for r in PRICE_RANGES], cat)
    hi = rand.pick([r[1] for r in PRICE_RANGES], cat)
    u = rand.uniform(seed, "product_price", number)
    raw = lo + (hi - lo) * u * u
    return (F.floor(raw / F.lit(10.0)) * F.lit(10.0) + F.lit(9.0)).cast("double")
