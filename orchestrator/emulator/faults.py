"""Fault injection: which ARM request fails, and how, drawn from the emulator's own RNG.

A fault is decided before the request is handled. `http_500`, `http_503`, `drop` and `throttle`
answer instead of the handler, so the request has no effect; `drop_after_effect` and
`slow_after_effect` let the handler run (a PATCH is applied) and then lose or delay the answer.
These six exclude each other (one draw against their cumulative rates); `slow` is drawn
independently and only delays the answer. Per-operation faults (`never_finish`,
`status_404_seconds`, `status_40x_forever`) live with the operations; `foreign_links` with the
handlers that write links. `throttle_headers` says what any 429 carries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from orchestrator.emulator.draws import pick
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
    DROP_AFTER_EFFECT = "drop_after_effect"
    SLOW_AFTER_EFFECT = "slow_after_effect"
    STATUS_403_FOREVER = "status_403_forever"  # operations whose status URLs answer 403
    STATUS_404_FOREVER = "status_404_forever"  # operations whose status URLs answer 404


# The failures that let the handler run first.
AFTER_EFFECT: Final = frozenset({FaultKind.DROP_AFTER_EFFECT, FaultKind.SLOW_AFTER_EFFECT})
NEGATIVE_RETRY_AFTER: Final = "-1"


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
            (FaultKind.DROP_AFTER_EFFECT, faults.drop_after_effect),
            (FaultKind.SLOW_AFTER_EFFECT, faults.slow_after_effect),
        )
        self._tokens_failed = 0  # token requests answered 500 so far

    def __repr__(self) -> str:
        return f"FaultInjector({self.faults!r})"

    def decide(self) -> FaultDecision:
        """The faults of the next ARM request. Always two draws, so the stream stays aligned."""
        draw, slow_draw = self._rng.random(), self._rng.random()
        failure = pick(draw, self._failures, None)
        return FaultDecision(failure, slow_draw < self.faults.slow)

    def token_fails(self) -> bool:
        """Whether this token request is one of the first ``token_failures``."""
        if self._tokens_failed >= self.faults.token_failures:
            return False
        self._tokens_failed += 1
        return True


def throttle_headers(policy: str, honest_seconds: int) -> dict[str, str]:
    """The ``Retry-After`` a 429 carries under ``throttle_retry_after`` ``policy``."""
    if policy == "none":
        return {}
    if policy == "zero":
        return {"Retry-After": "0"}
    if policy == "negative":
        return {"Retry-After": NEGATIVE_RETRY_AFTER}
    return {"Retry-After": str(honest_seconds)}
