"""The generate job: a synthetic landing zone and its truth, for the run date (`portrait generate`).

It writes files outside the lakehouse (`paths.landing`, `paths.truth`), so it declares no table:
its lakehouse gives it the session and refuses every table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portrait.config import Config, GeneratorConfig
from portrait.generator.build import generate
from portrait.io import Lakehouse

INPUTS: tuple = ()
OUTPUTS: tuple = ()  # the landing zone and the truth are files, not tables


@dataclass(frozen=True)
class RunConf:
    """What generation takes from the configuration (`RunConf.of(cfg)`)."""

    generator: GeneratorConfig  # the `generator` section: scale, seed, days, dirty fraction
    landing: str  # where the landing files go (`paths.landing`)
    truth: str  # where the truth behind them goes (`paths.truth`)
    horizon_days: int  # the label horizon the truth's outcomes cover (`train.horizon_days`)

    @classmethod
    def of(cls, cfg: Config) -> RunConf:
        return cls(cfg.generator, cfg.paths.landing, cfg.paths.truth, cfg.train.horizon_days)


def run(
    lake: Lakehouse, conf: RunConf, date: dt.date, *, scale: float | None = None, seed: int | None = None
) -> dict[str, int]:
    """Generate the landing zone whose last day is `date`; `scale` and `seed` override the conf's.

    Returns:
        The rows written per landing source and truth table (`generator.generate`).
    """
    g = conf.generator
    return generate(
        lake.spark,
        landing=conf.landing,
        truth=conf.truth,
        scale=scale or g.scale,
        seed=seed if seed is not None else g.seed,
        end_date=date,
        days=g.days,
        horizon_days=conf.horizon_days,
        dirty_fraction=g.dirty_fraction,
    )
