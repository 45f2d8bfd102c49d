"""The hyperparameter tuner, behind one small module so that replacing hyperopt touches one file.

hyperopt 0.3.0 is no longer maintained upstream; TPE with plain `Trials` works with Spark ML
(each trial is already a distributed fit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe
from hyperopt.early_stop import no_progress_loss


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1


@dataclass(frozen=True)
class LogRange:
    low: float
    high: float


def minimise(
    objective: Callable[[dict], float],
    space: dict[str, IntRange | LogRange],
    *,
    max_evals: int,
    seed: int,
    patience: int = 0,
) -> tuple[dict, float]:
    """Minimise `objective` over `space` with TPE; integers arrive as ints. With `patience`, stop
    before `max_evals` once `patience` trials in a row, the first trial counted as one, have not
    lowered the best loss (hyperopt's `no_progress_loss`: patience 4 stops three trials after a
    first trial that stays best): each trial is a model fit. TPE draws its first 20 trials at
    random, so with fewer `max_evals` the patience cuts short a random search whose best has not
    been beaten for a while.

    Returns:
        The best parameters and their loss. Errors in a trial propagate: a failed fit is a bug to
        see, not a trial to skip.
    """
    hp_space = {}
    for name, r in space.items():
        if isinstance(r, IntRange):
            hp_space[name] = hp.quniform(name, r.low, r.high, r.step)
        else:
            hp_space[name] = hp.loguniform(name, math.log(r.low), math.log(r.high))

    def typed(params: dict) -> dict:
        return {k: int(round(v)) if isinstance(space[k], IntRange) else float(v) for k, v in params.items()}

    def wrapped(params: dict) -> dict:
        return {"loss": objective(typed(params)), "status": STATUS_OK}

    trials = Trials()
    best = fmin(
        wrapped,
        hp_space,
        algo=tpe.suggest,
        max_evals=max_evals,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
        early_stop_fn=no_progress_loss(patience) if patience > 0 else None,
    )
    return typed(best), min(trials.losses())
