"""Latent persons: archetype, behavioural multipliers, habits, tastes and demographics.

Every column is a pure function of ``person_key`` and the seed, so any frame that carries
``person_key`` (persons, person-days, sessions...) gets a person's attributes without a
join; Spark prunes the columns a frame does not use. The columns come as *stages* (dicts
applied with ``withColumns`` in order, later ones reading earlier ones), built once per
generator run and reused on every frame.
"""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

from . import catalog, names, rand

ARCHETYPES = ("loyal_high_value", "bargain_hunter", "window_shopper", "new_customer", "drifting_away", "dormant")
ARCHETYPE_SHARES = (0.15, 0.20, 0.25, 0.10, 0.15, 0.15)
LOYAL, BARGAIN, WINDOW, NEW, DRIFTING, DORMANT = range(6)

# Habitual session hours in UTC: 08:00, 12:00, 19:00, 21:00 and 23:00 China time.
HABIT_HOURS_UTC = (0, 4, 11, 13, 15)
HABIT_WEIGHTS = (0.15, 0.2, 0.25, 0.3, 0.1)


def person_partitions(n_persons: int) -> int:
    """Partitions of a one-row-per-person frame: at least 2, about 50k persons each."""
    return max(2, math.ceil(n_persons / 50_000))


def by_archetype(values) -> Column:
    """A per-archetype parameter (a list in ARCHETYPES order) for the row's ``arch``."""
    return rand.pick(values, "arch")


def _lognormal(z: Column, sigma: float) -> Column:
    """exp(sigma z - sigma^2 / 2): a multiplier with mean 1."""
    return F.exp(F.lit(sigma) * z - F.lit(sigma * sigma / 2.0))


def latent_stages(*, seed: int, days: int, end_year: int) -> list[dict[str, Column]]:
    """Column stages adding the latent person columns to a frame with ``person_key``.

    Args:
        seed: generator seed.
        days: length of the history window. New customers arrive on a uniform day of it and
            drifting persons start to fade on a uniform day in [-days/2, days/2), so that every
            day of the window has recent arrivals and persons at every stage of fading, as a
            real customer base does (a model trained on earlier days then sees the kind of
            persons it scores); the time scale of the fading is proportional to ``days``.
        end_year: year of the window's last day (birth years are relative to it).

    Returns:
        Stages adding ``arch`` (0-5), ``archetype``, rate multipliers ``mult_p`` (purchases),
        ``mult_v`` (visits), ``mult_s`` (social), ``start_day`` (first day index the person
        exists), ``drift_day`` (day index a drifting person starts to fade, may be negative),
        ``tau`` (decay time of drifting persons, days), ``habit_hour`` (UTC),
        ``pref_cat1``/``pref_cat2`` (category indexes, the second may be null),
        ``preferred_categories``, ``gender``, ``birth_year``, ``city``, ``city_tier``,
        ``pref_channel``, ``primary_device``, ``pref_platform``, ``name`` and ``name_pinyin``.
    """
    return [_latent_draws(seed, days), _latent_indexes(), _latent_attributes(days, end_year)]


def _latent_draws(seed: int, days: int) -> dict[str, Column]:
    """Stage 1: the person's random draws (uniforms for the weighted picks, noises, offsets)."""
    pk = "person_key"
    z_p = rand.normal(seed, "noise_purchase", pk)
    draws = {
        f"u_{name}": rand.uniform(seed, name, pk)
        for name in ("archetype", "habit", "city", "surname", "pref_channel", "pref_platform")
    }
    draws.update(
        {
            "z_p": z_p,
            "z_v": rand.normal(seed, "noise_visit", pk),
            "mult_s": _lognormal(rand.normal(seed, "noise_social", pk), 0.8),
            "pref_cat1": rand.randint(seed, "pref_cat1", catalog.N_CATEGORIES, pk),
            "pref_cat2_offset": rand.randint(seed, "pref_cat2", catalog.N_CATEGORIES - 1, pk),
            "has_second_cat": rand.uniform(seed, "n_pref", pk) < F.lit(0.55),
            "is_male": rand.uniform(seed, "gender", pk) < F.lit(0.5),
            "given1": rand.randint(seed, "given1", len(names.GIVEN_MALE), pk),
            "given2": rand.randint(seed, "given2", len(names.GIVEN_MALE), pk),
            "two_given": rand.uniform(seed, "given_len", pk) < F.lit(0.7),
            "age": F.lit(18) + F.floor(F.lit(52.0) * F.pow(rand.uniform(seed, "age", pk), F.lit(1.7))).cast("int"),
            "start_offset": rand.randint(seed, "start_day", days, pk),
            "drift_offset": rand.randint(seed, "drift_day", days, pk),
            "tau": F.lit(float(days)) * (F.lit(0.2) + F.lit(0.25) * rand.uniform(seed, "tau", pk)),
            "is_mobile_first": rand.uniform(seed, "primary_device", pk) < F.lit(0.75),
        }
    )
    return draws


def _latent_indexes() -> dict[str, Column]:
    """Stage 2: the weighted picks (archetype, habit, city, surname, channel, platform), the rate
    multipliers and the second preferred category, from the draws."""
    return {
        "arch": rand.weighted_index("u_archetype", ARCHETYPE_SHARES),
        "habit_idx": rand.weighted_index("u_habit", HABIT_WEIGHTS),
        "city_idx": rand.weighted_index("u_city", catalog.CITY_WEIGHTS),
        "surname_idx": rand.weighted_index("u_surname", names.SURNAME_WEIGHTS),
        "channel_idx": rand.weighted_index("u_pref_channel", (0.45, 0.25, 0.30)),
        "pref_platform": rand.weighted_index("u_pref_platform", (0.4, 0.3, 0.3)),
        # Visits are correlated with purchases: busy buyers browse more.
        "mult_p": _lognormal(F.col("z_p"), 0.55),
        "mult_v": _lognormal(F.lit(0.6) * F.col("z_p") + F.lit(0.8) * F.col("z_v"), 0.45),
        "pref_cat2": F.when(
            F.col("has_second_cat"),
            F.pmod(F.col("pref_cat1") + F.lit(1) + F.col("pref_cat2_offset"), F.lit(catalog.N_CATEGORIES)),
        ).cast("int"),
    }


def _latent_attributes(days: int, end_year: int) -> dict[str, Column]:
    """Stage 3: the person's attributes as the other modules read them (archetype name, days,
    habit hour, demographics, channel, device, names, preferred categories)."""

    def given(male_values, female_values, idx: str) -> Column:
        return F.when(F.col("is_male"), rand.pick(male_values, idx)).otherwise(rand.pick(female_values, idx))

    def given_name(male_values, female_values) -> Column:
        second = F.when(F.col("two_given"), given(male_values, female_values, "given2")).otherwise(F.lit(""))
        return F.concat(given(male_values, female_values, "given1"), second)

    first_category = rand.pick(catalog.CATEGORIES, "pref_cat1")
    return {
        "archetype": rand.pick(ARCHETYPES, "arch"),
        "start_day": F.when(F.col("arch") == F.lit(NEW), F.col("start_offset")).otherwise(F.lit(0)),
        "drift_day": F.col("drift_offset") - F.lit(days // 2),
        "habit_hour": rand.pick(HABIT_HOURS_UTC, "habit_idx"),
        "gender": F.when(F.col("is_male"), F.lit("M")).otherwise(F.lit("F")),
        "birth_year": (F.lit(end_year) - F.col("age")).cast("int"),
        "city": rand.pick(catalog.CITY_NAMES, "city_idx"),
        "city_tier": rand.pick(catalog.CITY_TIERS, "city_idx"),
        "pref_channel": rand.pick(catalog.CHANNELS, "channel_idx"),
        "primary_device": F.when(F.col("is_mobile_first"), F.lit("mobile")).otherwise(F.lit("desktop")),
        "name": F.concat(
            rand.pick(names.SURNAME_CHARS, "surname_idx"), given_name(names.GIVEN_MALE_CHARS, names.GIVEN_FEMALE_CHARS)
        ),
        "name_pinyin": F.concat(
            given_name(names.GIVEN_MALE_PINYIN, names.GIVEN_FEMALE_PINYIN),
            rand.pick(names.SURNAME_PINYIN, "surname_idx"),
        ),
        "preferred_categories": F.when(F.col("pref_cat2").isNull(), F.array(first_category)).otherwise(
            F.array(first_category, rand.pick(catalog.CATEGORIES, "pref_cat2"))
        ),
    }
