"""The run's limiters: one GET/PATCH pair per scope (the whole run, or each subscription).

Scopes are made on first use. A listing asks its pair's get limiter for a *reserve*
(:attr:`LimiterRegistry.listing_reserve`) so it can never spend the whole get budget; the
poller reads how much of it is spare (:meth:`LimiterRegistry.spare`) to pace its reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from orchestrator.arm.limits import CallKind, LimitScope, Quota, SlidingWindowLimiter

# The share of the get budget a listing leaves to everything else (polls, preflight, verify).
LISTING_RESERVE_FRACTION: Final = 0.1


@dataclass(frozen=True, slots=True)
class ScopeLimiters:
    """The GET and PATCH limiters of one scope (the whole run, or one subscription)."""

    get: SlidingWindowLimiter
    set: SlidingWindowLimiter

    def for_kind(self, kind: CallKind) -> SlidingWindowLimiter:
        """The limiter that a call of ``kind`` must acquire."""
        return self.get if kind is CallKind.GET else self.set


@dataclass(frozen=True, slots=True)
class LimiterTotals:
    """Sums across every scope, for the report and the progress display."""

    get_acquired: int
    set_acquired: int
    get_waiting: int
    set_waiting: int
    pauses: int  #: scope-wide backoffs after a 429 (throttled waits)


class LimiterRegistry:
    """Hands out the limiter pair for a subscription: one shared pair, or one per subscription.

    Scopes are created on first use; building the registry touches no event loop.
    """

    __slots__ = ("_get_limit", "_scope", "_scopes", "_set_limit")

    def __init__(self, *, set_limit: Quota, get_limit: Quota, scope: LimitScope) -> None:
        self._set_limit = set_limit
        self._get_limit = get_limit
        self._scope = LimitScope(scope)
        # scope key ("run", or a lower-cased subscription id) -> its pair, in creation order
        self._scopes: dict[str, ScopeLimiters] = {}

    @property
    def scope(self) -> LimitScope:
        return self._scope

    @property
    def set_quota(self) -> Quota:
        return self._set_limit

    @property
    def listing_reserve(self) -> int:
        """Get slots a listing leaves free for polls and other reads (10 % of the quota)."""
        return int(self._get_limit.calls * LISTING_RESERVE_FRACTION)

    def spare(self, subscription_id: str) -> float:
        """The share of ``subscription_id``'s get quota free now (0..1)."""
        return self.scope_for(subscription_id).get.spare()

    def scope_for(self, subscription_id: str) -> ScopeLimiters:
        """The pair a call in ``subscription_id`` acquires (ids compare case-insensitively)."""
        key = "run" if self._scope is LimitScope.RUN else subscription_id.lower()
        pair = self._scopes.get(key)
        if pair is None:
            pair = ScopeLimiters(
                get=self._get_limit.limiter(f"{key}/{CallKind.GET}"),
                set=self._set_limit.limiter(f"{key}/{CallKind.SET}"),
            )
            self._scopes[key] = pair
        return pair

    def totals(self) -> LimiterTotals:
        pairs = self._scopes.values()
        return LimiterTotals(
            get_acquired=sum(p.get.acquired for p in pairs),
            set_acquired=sum(p.set.acquired for p in pairs),
            get_waiting=sum(p.get.waiting for p in pairs),
            set_waiting=sum(p.set.waiting for p in pairs),
            pauses=sum(p.get.pauses + p.set.pauses for p in pairs),
        )

    def __repr__(self) -> str:
        return (
            f"<LimiterRegistry scope={self._scope.value!r} set={self._set_limit.calls}/"
            f"{self._set_limit.per_seconds:g}s get={self._get_limit.calls}/"
            f"{self._get_limit.per_seconds:g}s scopes={len(self._scopes)}>"
        )
