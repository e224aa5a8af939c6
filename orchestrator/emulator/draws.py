"""Seeded draws: which of several outcomes one uniform draw in [0, 1) picks.

Fleet conditions, operation outcomes, agent states and faults all draw this way, one
``random()`` per choice, so that a share left at 0 changes no other draw.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def pick(draw: float, shares: Iterable[tuple[T, float]], rest: T) -> T:
    """The outcome whose slice of [0, 1) ``draw`` falls in, slices laid end to end in order;
    ``rest`` past them all."""
    for outcome, share in shares:
        if draw < share:
            return outcome
        draw -= share
    return rest
