"""Growth of a function's running time, measured as a ratio in one run (never an absolute time)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

#: Time at 4n over time at n. Linear work gives about 4; quadratic, 16. The margin is for noise
#: on a shared machine (two cores, other tests running beside).
LINEAR = 8.0


def growth(fn: Callable[[Any], Any], make: Callable[[int], Any], n: int, *, repeats: int = 5) -> float:
    """``fn(make(4n))`` time over ``fn(make(n))`` time, each the best of ``repeats`` runs.

    CPU time of this thread, the two sizes measured in turn: other processes and threads (a
    shared machine, the test server) slow neither, and a burst of contention hits both alike.
    """
    small, large = make(n), make(4 * n)
    fn(small)  # warm caches (parsers are built on first use)
    best = {id(small): float("inf"), id(large): float("inf")}
    gc.disable()
    try:
        for _ in range(repeats):
            for arg in (small, large):
                start = time.thread_time()
                fn(arg)
                best[id(arg)] = min(best[id(arg)], time.thread_time() - start)
    finally:
        gc.enable()
    return best[id(large)] / max(best[id(small)], 1e-9)


def repeat_to(unit: str) -> Callable[[int], str]:
    """A maker of ``unit`` repeated to ``n`` characters."""
    return lambda n: (unit * (n // len(unit) + 1))[:n]
