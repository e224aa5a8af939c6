"""Fault injection: which ARM request fails, and how, drawn from the emulator's own RNG.

A fault is decided before the request is handled, so a faulted request has no effect on the
emulator's state. `http_500`, `http_503`, `drop` and `throttle` exclude each other (one draw
against their cumulative rates); `slow` is drawn independently and only delays the answer.
Per-operation faults (`never_finish`, `status_404_seconds`) live with the operations;
`foreign_links` with the handlers that write links.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.emulator.fleet_spec import Faults

# Keeps the fault RNG's stream apart from the fleet's, which uses the bare seed.
_FAULT_STREAM = "faults"


class FaultKind(StrEnum):
    """Every kind of injected fault; the keys of the ``faults`` counter."""

    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    DROP = "drop"
    THROTTLE = "throttle"
    SLOW = "slow"
    NEVER_FINISH = "never_finish"
    STATUS_404 = "status_404"
    TOKEN_FAILURE = "token_failure"
    FOREIGN_LINK = "foreign_link"  # a link put on `faults.foreign_links`' origin


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The faults for one ARM request: at most one failure, and maybe a delay."""

    failure: FaultKind | None
    slow: bool


class FaultInjector:
    """Draws faults per request from ``random.Random`` seeded by the fleet seed."""

    __slots__ = ("_failures", "_rng", "_tokens_failed", "faults")

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"{seed}|{_FAULT_STREAM}")
        self._failures = (
            (FaultKind.HTTP_500, faults.http_500),
            (FaultKind.HTTP_503, faults.http_503),
            (FaultKind.DROP, faults.drop),
            (FaultKind.THROTTLE, faults.throttle),
        )
        self._tokens_failed = 0  # token requests answered 500 so far

    def __repr__(self) -> str:
        return f"FaultInjector({self.faults!r})"

    def decide(self) -> FaultDecision:
        """The faults of the next ARM request. Always two draws, so the stream stays aligned."""
        draw, slow_draw = self._rng.random(), self._rng.random()
        failure = None
        for kind, rate in self._failures:
            if draw < rate:
                failure = kind
                break
            draw -= rate
        return FaultDecision(failure, slow_draw < self.faults.slow)

    def token_fails(self) -> bool:
        """Whether this token request is one of the first ``token_failures``."""
        if self._tokens_failed >= self.faults.token_failures:
            return False
        self._tokens_failed += 1
        return True
