"""Checks that an operation's running time grows linearly with its input.

Timing tests on a shared, busy machine need care, so the check compares
relative scaling, never absolute speed (except a cap far above what a
linear run takes):

- time is the process's CPU time, which other processes on the machine
  barely change (wall time under load varied by 2 to 3 times);
- each measurement repeats the operation until it takes a few milliseconds
  and keeps the fastest of several runs;
- the input grows by 4: a linear operation takes about 4 times as long, a
  quadratic one 16 times, so a bound of 10 tells them apart with room to
  spare; a failing ratio is measured again before it counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How much longer the 4-times larger input may take.
MAX_RATIO = 10.0
#: No single run of an adversarial case may take longer (the quadratic or
#: worse behaviour this guards against took many seconds).
ABSOLUTE_CAP_S = 1.0


def _best(operation: Callable[[T], object], value: T, repeats: int, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        for _ in range(repeats):
            operation(value)
        best = min(best, time.process_time() - start)
    return best


def _repeats_for(operation: Callable[[T], object], value: T, target_s: float = 0.003) -> int:
    """How many calls take about ``target_s`` (at least one)."""
    repeats = 1
    while True:
        elapsed = _best(operation, value, repeats, runs=1)
        if elapsed > ABSOLUTE_CAP_S:
            raise AssertionError(f"one run took {elapsed:.2f} s")
        if elapsed >= target_s or repeats >= 1 << 16:
            return repeats
        repeats *= 2


def assert_linear(operation: Callable[[T], object], make_input: Callable[[int], T], n: int) -> None:
    """Asserts that ``operation(make_input(4 * n))`` takes at most ``MAX_RATIO``
    times as long as ``operation(make_input(n))``, and under the absolute cap.

    Args:
        operation: the operation under test.
        make_input: builds an input of size about ``n``.
        n: the smaller size; big enough that a run is not all overhead.
    """
    small, large = make_input(n), make_input(4 * n)
    start = time.process_time()
    operation(large)
    elapsed = time.process_time() - start
    assert elapsed < ABSOLUTE_CAP_S, f"one run took {elapsed:.2f} s"
    repeats = _repeats_for(operation, small)
    ratios = []
    for _ in range(3):
        ratio = _best(operation, large, repeats) / _best(operation, small, repeats)
        if ratio <= MAX_RATIO:
            return
        ratios.append(round(ratio, 1))
    raise AssertionError(f"4 times the input took {ratios} times as long")
