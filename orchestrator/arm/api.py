"""What the work layer needs of ARM: the `ArmApi` protocol, its answers, and their errors.

The work layer (discovery, engine, poller, preflight, verification, audit) is written against
:class:`ArmApi`, not the concrete client, so its tests inject a scripted fake without ``type:
ignore`` and the client can change how it sends without the work layer noticing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from multidict import CIMultiDictProxy

from orchestrator.errors import ArmHttpError

# Lower goes first. A listing's pages go before polls (they find the work the set budget is
# for); a share of the get budget is reserved for what is not listing, so listing never
# starves polls (see `LimiterRegistry.listing_reserve`).
LISTING_PRIORITY: Final = -1.0
POLL_PRIORITY: Final = 0.0  # the poller passes its own, likelier-done first, in [0, 1)


@dataclass(frozen=True, slots=True)
class ArmResponse:
    """An answer ARM gave: status, headers and the parsed JSON body (``None`` when empty)."""

    status: int
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def redirect(self) -> bool:
        """A 3xx: never followed (a redirect could carry the token off the ARM origin)."""
        return 300 <= self.status < 400


@dataclass(slots=True)
class CallCounters:
    """Requests the run sent, by kind, and the 429s and retries among them (for the report)."""

    get: int = 0
    set: int = 0
    throttled: int = 0
    retried: int = 0


# Called with nothing just before a PATCH leaves; raising SendWithdrawn cancels it unsent.
BeforeSend = Callable[[], None]


class ArmApi(Protocol):
    """ARM as the run's work sees it: URLs on the endpoint, GETs, PATCHes and listings."""

    @property
    def counters(self) -> CallCounters: ...

    def url(self, path: str, *, api_version: str | None = None) -> str:
        """An absolute URL on the ARM endpoint for ``path``, with ``api-version``."""
        ...

    def check_origin(self, url: str) -> None:
        """Raise UntrustedUrlError unless ``url`` is on the configured ARM origin."""
        ...

    async def get(
        self,
        url: str,
        *,
        subscription_id: str,
        priority: float = POLL_PRIORITY,
        attempts: int | None = None,
        reserve: int = 0,
    ) -> ArmResponse:
        """GET ``url``; any final status is returned (the caller decides what it means)."""
        ...

    async def patch(
        self,
        url: str,
        body: Mapping[str, object],
        *,
        subscription_id: str,
        before_send: BeforeSend | None = None,
    ) -> ArmResponse:
        """PATCH ``url`` once it may; retried only where ASR certainly did not act on it."""
        ...

    async def get_ok(
        self, url: str, *, subscription_id: str, priority: float = POLL_PRIORITY, reserve: int = 0
    ) -> Any:
        """GET ``url`` and return its JSON body; any status but 200 raises ArmHttpError."""
        ...

    def pages(
        self, url: str, *, subscription_id: str, max_pages: int, reserve: int = 0
    ) -> AsyncIterator[list[Any]]:
        """Each page's ``value`` list of an ARM listing, following ``nextLink``."""
        ...


def http_error(response: ArmResponse) -> ArmHttpError:
    """The :class:`ArmHttpError` for an unwanted answer, with ARM's ``{code, message}`` when given.

    A 3xx is ``redirect_not_followed`` whatever its body says.
    """
    if response.redirect:
        return ArmHttpError(
            response.status,
            "redirect_not_followed",
            f"ARM answered HTTP {response.status} (a redirect); redirects are never followed",
        )
    code, message = error_fields(response.body)
    return ArmHttpError(
        response.status,
        code or f"http_{response.status}",
        message or f"ARM answered HTTP {response.status}",
    )


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """ARM's ``{"error": {"code", "message"}}``, each None when absent or not a string."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)
