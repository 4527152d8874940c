"""Bayesian optimisation with optuna's TPE sampler over categorical parameters.

Optuna is used through ask/tell on an in-memory study. Each parameter is a
``CategoricalDistribution`` of its values. ``restore`` adds each finished
experiment as a finished trial carrying exactly its parameters and score
(``study.add_trial``), so a resumed study never attaches an old score to
other parameters. A configuration is never suggested twice: when TPE proposes
one already tried, the known score is told for that trial and TPE is asked
again (then an untried point is enqueued if it keeps repeating itself).
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from autotuner.tuning._base import Direction, Params, _Tracked
from autotuner.tuning._space import sample_indices

logger = logging.getLogger(__name__)

_MAX_REASKS = 20


class BayesianStrategy(_Tracked):
    """TPE over the grid; ``seed`` makes a run reproducible for the same scores."""

    name = "bayesian"

    def __init__(
        self,
        parameters: Mapping[str, Sequence[Any]],
        max_iterations: int,
        direction: Direction = "minimize",
        seed: int = 0,
        n_startup_trials: int | None = None,
    ) -> None:
        super().__init__(parameters, max_iterations, direction)
        self.seed = seed
        self._rng = random.Random(seed)
        self._distributions: dict[str, BaseDistribution] = {
            name: CategoricalDistribution(values)
            for name, values in zip(self.space.names, self.space.values, strict=True)
        }
        startup = n_startup_trials
        if startup is None:
            startup = max(2, min(10, max_iterations // 3))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self._trials: dict[tuple[Any, ...], optuna.trial.Trial] = {}

    def suggest(self) -> Params | None:
        if self.exhausted or len(self._tried) + len(self._pending) >= self.space.size:
            return None
        for _ in range(_MAX_REASKS):
            trial = self.study.ask(self._distributions)
            params = self._ordered(trial.params)
            key = self.space.key(params)
            if not self._seen(params):
                self._trials[key] = trial
                return self._take(params)
            # A repeat: TPE learns the known result instead of us running it again.
            known = self._tried.get(key)
            if key in self._tried and known is not None:
                self.study.tell(trial, known)
            else:
                self.study.tell(trial, state=TrialState.FAIL)
        fallback = self._untried()
        if fallback is None:
            return None
        self.study.enqueue_trial(fallback)
        trial = self.study.ask(self._distributions)
        self._trials[self.space.key(fallback)] = trial
        return self._take(self._ordered(trial.params))

    def tell(self, params: Params, score: float | None) -> None:
        key = self.space.key(params)
        trial = self._trials.pop(key, None)
        if trial is not None:
            if score is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, float(score))
        else:
            self._add_finished(params, score)
        super().tell(params, score)

    def _add_finished(self, params: Params, score: float | None) -> None:
        """A result that did not come from ``suggest`` (restore): one finished trial."""
        try:
            frozen = optuna.trial.create_trial(
                params={n: params[n] for n in self.space.names},
                distributions=self._distributions,
                value=None if score is None else float(score),
                state=TrialState.FAIL if score is None else TrialState.COMPLETE,
            )
            self.study.add_trial(frozen)
        except (KeyError, ValueError) as exc:
            # Parameters outside today's search space: still counted, not learnt from.
            logger.warning("not replaying %r into the optimiser: %s", params, exc)

    def _ordered(self, params: Mapping[str, Any]) -> Params:
        return {name: params[name] for name in self.space.names}

    def _untried(self) -> Params | None:
        for index in sample_indices(self._rng, self.space.size, 10_000):
            params = self.space.point(index)
            if not self._seen(params):
                return params
        return None
