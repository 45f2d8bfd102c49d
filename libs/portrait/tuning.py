"""The hyperparameter tuner, behind one small module so that replacing hyperopt touches one file.

hyperopt 0.3.0 is no longer maintained upstream; TPE with plain `Trials` works with Spark ML
(each trial is already a distributed fit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_OK, Trials, hp, tpe
from hyperopt.base import Domain, spec_from_misc
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


class _Patience:
    """hyperopt's own `no_progress_loss(patience)`, fed one trial at a time (it reads the last trial
    of what it is given): the first trial counts as one without progress and never stops the
    search; a loss below the best resets the count; the search stops once the count reaches
    `patience` (0: never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.rule = no_progress_loss(patience) if patience > 0 else None
        self.state: list = []  # the rule's [best loss, trials without progress]; empty before a trial

    def stops_after(self, loss: float) -> bool:
        if self.rule is None:
            return False
        stop, self.state = self.rule(SimpleNamespace(trials=[{"result": {"loss": loss}}]), *self.state)
        return bool(stop)

    def trials_that_cannot_stop(self, most: int) -> int:
        """How many more trials can run before one of them may stop the search (the last of them
        may), at most `most`: a batch this long holds no trial a serial search would not have run."""
        if self.rule is None:
            return most
        if not self.state:
            return min(most, max(2, self.patience))
        return min(most, max(1, self.patience - self.state[1]))


def minimise(
    objective: Callable[[dict], float],
    space: dict[str, IntRange | LogRange],
    *,
    max_evals: int,
    seed: int,
    patience: int = 0,
    parallel: int = 1,
    on_trial: Callable[[dict, float], None] | None = None,
    in_thread: Callable[[Callable[[], float]], Callable[[], float]] | None = None,
) -> tuple[dict, float]:
    """Minimise `objective` over `space` with TPE; integers arrive as ints. With `patience`, stop
    before `max_evals` once `patience` trials in a row, the first trial counted as one, have not
    lowered the best loss (hyperopt's `no_progress_loss`: patience 4 stops three trials after a
    first trial that stays best): each trial is a model fit. TPE draws its first 20 trials at
    random, so with fewer `max_evals` the patience cuts short a random search whose best has not
    been beaten for a while.

    With `parallel` > 1, up to that many trials run at once, in threads (`objective` must be
    thread-safe): a small Spark ML fit is hundreds of short jobs, and one fit's jobs run while the
    other's wait on the scheduler. `in_thread` wraps each trial's call in the caller's thread before
    a worker runs it: a Spark caller passes `lambda call: inheritable_thread_target(session)(call)`,
    so that each trial runs with its own copy of the caller's local properties (one copy shared by
    two threads would mix their SQL execution ids and job tags).
    Each trial's parameters are drawn as hyperopt's serial `fmin` draws them (one `tpe.suggest` per
    trial id, with the next seed of the same generator), from the trials finished before its batch,
    and a batch never holds a trial the patience would have stopped before. So while TPE draws at
    random (its first 20 trials) the trials, their order, where the patience stops and the answer
    are the serial search's; after that a trial does not see the results of its own batch.

    `on_trial(params, loss)` is called for every trial, in the caller's thread and in trial order.

    Returns:
        The best parameters (the first trial with the lowest loss) and their loss. Errors in a
        trial propagate: a failed fit is a bug to see, not a trial to skip (the trials of its batch
        that finished before it in trial order are passed to `on_trial` first).

    Raises:
        ValueError: `parallel` below 1.
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1 (trials fitted at once), got {parallel}")
    hp_space = {}
    for name, r in space.items():
        if isinstance(r, IntRange):
            hp_space[name] = hp.quniform(name, r.low, r.high, r.step)
        else:
            hp_space[name] = hp.loguniform(name, math.log(r.low), math.log(r.high))

    def typed(params: dict) -> dict:
        return {k: int(round(v)) if isinstance(space[k], IntRange) else float(v) for k, v in params.items()}

    # The objective is called here, not through hyperopt: the domain only describes the space.
    domain = Domain(lambda _: {"loss": 0.0, "status": STATUS_OK}, hp_space)
    trials, rng, patient = Trials(), np.random.default_rng(seed), _Patience(patience)
    done, stopped = 0, False
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while done < max_evals and not stopped:
            n = patient.trials_that_cannot_stop(min(parallel, max_evals - done))
            docs = [
                doc
                for tid in trials.new_trial_ids(n)
                for doc in tpe.suggest([tid], domain, trials, rng.integers(2**31 - 1))
            ]
            params = [typed(spec_from_misc(doc["misc"])) for doc in docs]
            wrap = in_thread or (lambda call: call)
            running = [pool.submit(wrap(partial(objective, p))) for p in params] if len(params) > 1 else []
            for i, (doc, p) in enumerate(zip(docs, params, strict=True)):
                loss = running[i].result() if running else objective(p)  # a failed trial raises here
                doc["state"], doc["result"] = JOB_STATE_DONE, {"loss": loss, "status": STATUS_OK}
                done += 1
                if on_trial is not None:
                    on_trial(p, loss)
                stopped = patient.stops_after(loss)
                assert not stopped or i == len(docs) - 1, "a batch is sized to end where the patience may stop"
            trials.insert_trial_docs(docs)
            trials.refresh()
    return typed(spec_from_misc(trials.best_trial["misc"])), min(trials.losses())
