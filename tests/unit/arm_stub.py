"""`ArmStub`: the base of a fake ARM that implements only what the code under test calls.

A fake subclasses it, sets ``counters`` and overrides the calls it answers; the rest of the
`ArmApi` protocol is here, and fails the test if called. So the fake is an `ArmApi` to the type
checker without a ``type: ignore``, and a call it did not expect is loud.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from orchestrator.arm.api import POLL_PRIORITY, ArmResponse, BeforeSend, CallCounters


class ArmStub:
    """Every `ArmApi` call but ``counters``, each raising AssertionError (the fake's to override)."""

    counters: CallCounters

    def url(self, path: str, *, api_version: str | None = None) -> str:
        raise AssertionError(f"{type(self).__name__}: url() was not expected")

    def check_origin(self, url: str) -> None:
        raise AssertionError(f"{type(self).__name__}: check_origin() was not expected")

    async def get(
        self,
        url: str,
        *,
        subscription_id: str,
        priority: float = POLL_PRIORITY,
        attempts: int | None = None,
        reserve: int = 0,
    ) -> ArmResponse:
        raise AssertionError(f"{type(self).__name__}: get() was not expected")

    async def patch(
        self,
        url: str,
        body: Mapping[str, object],
        *,
        subscription_id: str,
        before_send: BeforeSend | None = None,
    ) -> ArmResponse:
        raise AssertionError(f"{type(self).__name__}: patch() was not expected")

    async def get_ok(
        self, url: str, *, subscription_id: str, priority: float = POLL_PRIORITY, reserve: int = 0
    ) -> Any:
        raise AssertionError(f"{type(self).__name__}: get_ok() was not expected")

    def pages(
        self, url: str, *, subscription_id: str, max_pages: int, reserve: int = 0
    ) -> AsyncIterator[list[Any]]:
        raise AssertionError(f"{type(self).__name__}: pages() was not expected")
