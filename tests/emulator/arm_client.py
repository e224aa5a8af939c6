"""A small ARM client for the emulator tests, in process (through `serve`) or over HTTP.

`LocalEmulator` offers what `EmulatorServer` does (``state``, ``base_url``, ``token_endpoint``,
``identity_header``) without a socket; `ArmSession` talks to either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict

from orchestrator.emulator import (
    Clock,
    EmulatorServer,
    EmulatorState,
    Fleet,
    FleetSpec,
    InboundRequest,
    serve,
)

EMULATOR_IDENTITY_HEADER = "identity-header-for-tests"
ARM_AUDIENCE = "https://management.core.windows.net/"
ASR_API_VERSION = "2021-12-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
VAULTS_API_VERSION = "2023-04-01"
AUTOMATION_API_VERSION = "2023-11-01"
LOCAL_BASE_URL = "https://management.emulator.test"


class DroppedConnection(ConnectionError):
    """The in-process emulator closed the connection without an answer."""


class LocalEmulator:
    """An emulator answered in process through `serve`: what `EmulatorServer` offers, no socket."""

    def __init__(self, state: EmulatorState, base_url: str = LOCAL_BASE_URL) -> None:
        self.state = state
        self.base_url = base_url
        self.token_endpoint = base_url + "/msi/token"
        self.identity_header = state.identity_header


Emulator = LocalEmulator | EmulatorServer


class EmulatorOptions(TypedDict, total=False):
    """What the start fixtures pass on to `EmulatorState` or `EmulatorServer` beside the spec."""

    fleet: Fleet
    clock: Clock
    identity_header: str
    journal_size: int


class StartEmulator(Protocol):
    """The ``start_emulator`` fixture: an in-process emulator for ``spec``."""

    async def __call__(
        self, spec: FleetSpec, **options: Unpack[EmulatorOptions]
    ) -> LocalEmulator: ...


class StartHttpEmulator(Protocol):
    """The ``start_http_emulator`` fixture: an emulator serving ``spec`` over loopback HTTP."""

    async def __call__(
        self, spec: FleetSpec, **options: Unpack[EmulatorOptions]
    ) -> EmulatorServer: ...


@dataclass(frozen=True)
class ArmAnswer:
    """One answer: status, headers (case-insensitive) and the JSON body (None when empty)."""

    status: int
    headers: CIMultiDict[str]
    body: Any


def default_api_version(path_or_url: str) -> str:
    """The api-version the tool sends for a URL's resource type."""
    path = path_or_url.split("?", 1)[0].rstrip("/").lower()
    parts = path.split("/subscriptions", 1)[-1].strip("/").split("/")
    if path.endswith("/subscriptions") or len(parts) == 1:
        return SUBSCRIPTIONS_API_VERSION
    if path.endswith("/providers/microsoft.recoveryservices/vaults"):
        return VAULTS_API_VERSION
    if "/microsoft.automation/" in path:
        return AUTOMATION_API_VERSION
    return ASR_API_VERSION


class ArmSession:
    """Minimal ARM client for tests: absolute or base-relative URLs, bearer token, JSON."""

    def __init__(self, server: Emulator, session: aiohttp.ClientSession | None) -> None:
        self.server = server
        self.session = session
        self._token: str | None = None

    async def token(self, resource: str = ARM_AUDIENCE, **params: str) -> ArmAnswer:
        """Ask the emulator's managed-identity endpoint for a token."""
        query = {"api-version": "2019-08-01", "resource": resource, **params}
        headers = {"X-IDENTITY-HEADER": self.server.identity_header}
        return await self.request(
            "GET", self.server.token_endpoint, params=query, headers=headers, auth=False
        )

    async def bearer(self) -> str:
        """A valid token (fetched once)."""
        if self._token is None:
            answer = await self.token()
            assert answer.status == 200, answer.body
            self._token = answer.body["access_token"]
        return self._token

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else self.server.base_url + path_or_url

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        auth: bool = True,
    ) -> ArmAnswer:
        sent = dict(headers or {})
        if auth and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {await self.bearer()}"
        url = self.url(path_or_url)
        if isinstance(self.server, LocalEmulator):
            return await self._in_process(method, url, params, sent, data)
        assert self.session is not None
        payload = io.BytesIO(data) if data is not None else None  # big raw bytes would warn
        async with self.session.request(
            method, url, params=params, headers=sent, data=payload
        ) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return ArmAnswer(response.status, CIMultiDict(response.headers), body)

    async def _in_process(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        data: bytes | None,
    ) -> ArmAnswer:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        inbound = InboundRequest(method, url, headers, data or b"")
        answer = await serve(self.server.state, inbound)
        if answer.dropped:
            raise DroppedConnection(url)
        return ArmAnswer(answer.status, CIMultiDict(answer.headers), answer.json())

    async def get(
        self,
        path_or_url: str,
        api_version: str | None = "",
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> ArmAnswer:
        """GET; adds ``api-version`` (by default the one the tool sends for that resource type)
        unless the URL has one or ``api_version`` is None."""
        query = dict(params or {})
        if api_version == "":
            api_version = default_api_version(self.url(path_or_url))
        if api_version is not None and "api-version=" not in path_or_url:
            query["api-version"] = api_version
        return await self.request("GET", path_or_url, params=query, headers=headers, auth=auth)

    async def patch(
        self,
        mapping_id: str,
        body: object,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> ArmAnswer:
        """PATCH a mapping with a JSON body (or raw bytes) and ``Content-Type: application/json``."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        query = {"api-version": ASR_API_VERSION, **(params or {})}
        return await self.request(
            "PATCH", mapping_id, params=query, headers=sent, data=data, auth=auth
        )

    async def list_all(self, path: str, api_version: str | None = "") -> list[dict[str, Any]]:
        """Every item of a paged list, following nextLink."""
        items: list[dict[str, Any]] = []
        answer = await self.get(path, api_version)
        while True:
            assert answer.status == 200, answer.body
            items.extend(answer.body["value"])
            link = answer.body.get("nextLink")
            if not link:
                return items
            answer = await self.get(link)


# The ``arm_for`` fixture: an `ArmSession` on the emulator it is given.
ArmFor = Callable[[Emulator], ArmSession]
