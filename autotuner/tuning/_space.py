"""The discrete search space shared by the strategies: the grid of parameter values."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autotuner.tuning._base import Params


class SearchSpace:
    """Parameter names in spec order, each with its distinct values in spec order.

    Point ``i`` of the grid is the ``i``-th item of the cartesian product with
    the first parameter varying slowest (``itertools.product`` order).
    """

    def __init__(self, parameters: Mapping[str, Sequence[Any]]) -> None:
        if not parameters:
            raise ValueError("the search space needs at least one parameter")
        self.names = list(parameters)
        self.values: list[list[Any]] = []
        for name in self.names:
            # Linear: one hash lookup per value (a parameter may have thousands).
            first: dict[tuple[str, Any], Any] = {}
            for value in parameters[name]:
                first.setdefault(_identity(value), value)
            distinct = list(first.values())
            if not distinct:
                raise ValueError(f"parameter {name!r} needs at least one value")
            self.values.append(distinct)
        self.size = math.prod(len(v) for v in self.values)

    def point(self, index: int) -> Params:
        """The ``index``-th configuration of the grid."""
        params: Params = {}
        for name, values in zip(reversed(self.names), reversed(self.values), strict=True):
            index, digit = divmod(index, len(values))
            params[name] = values[digit]
        return {name: params[name] for name in self.names}

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """Hashable identity of a configuration (``True`` and ``1`` stay distinct)."""
        return tuple((type(params.get(n)).__name__, params.get(n)) for n in self.names)


def _identity(value: Any) -> tuple[str, Any]:
    """Equal values of one type share it; ``True``, ``1`` and ``1.0`` do not.
    Unhashable values (lists) are keyed by their repr."""
    try:
        hash(value)
    except TypeError:
        return type(value).__name__, repr(value)
    return type(value).__name__, value


def sample_indices(rng: random.Random, size: int, k: int) -> list[int]:
    """``k`` distinct grid indices in ``[0, size)``, without materialising the grid."""
    k = min(k, size)
    if size <= sys.maxsize:
        return rng.sample(range(size), k)
    # Beyond ssize_t, range() has no len(); collisions are then vanishingly rare.
    chosen: dict[int, None] = {}
    while len(chosen) < k:
        chosen[rng.randrange(size)] = None
    return list(chosen)
