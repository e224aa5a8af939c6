"""Purpose-built loopback servers for the reliability tests.

- `Recorder`: a raw TCP listener that records every connection and every byte it receives, so a
  test can prove that NOTHING (not a TLS hello, not a request line, not a token) reached it.
- `HostileArm`: a small ARM look-alike whose answers a test scripts vault by vault, to send the
  CLI broken or hostile answers (bad JSON, wrong types, huge, endless or trickled bodies,
  looping links, redirects…). Unscripted, it behaves as ARM and ASR do for what the tool asks:
  discovery, the Automation account (preflight), the vault's mapping list, a PATCH answered 202
  with ``Azure-AsyncOperation``, a status that says ``Succeeded``, and the mapping read back
  (``GET {mapping id}``). It keeps each mapping's settings: a change lands when its operation is
  read ``Succeeded`` (or when a script says so), so verification sees what ASR would show.

What a server saw is taken as plain data (`HostileArm.observed` → `Observed`), so a run's
outcome can be shared between test processes as JSON. The scripted answers themselves are in
`scripted.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

SUBSCRIPTION = "6d1c5b7e-2f0a-4a57-9a43-3c1f9c0e0001"
RESOURCE_GROUP = "rg-hostile"
API_VERSION = "2021-12-01"
ACCOUNT = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-automation/providers/"
    "Microsoft.Automation/automationAccounts/aa-hostile"
)
HOSTILE_IDENTITY_HEADER = "hostile-identity-header-value"
MAPPINGS = "replicationProtectionContainerMappings"
MIB = 1024 * 1024


def reserve_port(host: str, port: int = 0) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port), bound now so its address is known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


class Recorder:
    """Records every TCP connection to it and the bytes each sent; answers nothing useful.

    The socket is bound at construction (outside any loop), so `url` can go into a config or a
    script before anything runs; `start` serves it on the running loop.
    """

    def __init__(self, host: str = "127.0.0.1", *, sock: socket.socket | None = None) -> None:
        self._sock = sock if sock is not None else reserve_port(host)
        self.host, self.port = self._sock.getsockname()[:2]
        self.connections = 0
        self.received: list[bytes] = []  # what each connection sent, in arrival order
        self._server: asyncio.Server | None = None

    def __repr__(self) -> str:
        return f"Recorder({self.host}:{self.port}, connections={self.connections})"

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, sock=self._sock)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        data = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            data = await asyncio.wait_for(reader.read(65536), 2.0)
        self.received.append(data)
        with contextlib.suppress(ConnectionError):
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        writer.close()


Answer = Callable[[web.Request, "HostileArm"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class VaultScript:
    """How the hostile server answers for one vault; None keeps the well-behaved answer.

    ``listing`` answers the vault's mapping list, ``patch`` a PATCH of one of its mappings,
    ``status`` the operation-status URL a PATCH named, ``readback`` ``GET {mapping id}``.
    ``mappings``: the names of the vault's mappings (all A2A, paired, ``Disabled``: each needs
    a change); the default listing lists them all on one page.
    """

    listing: Answer | None = None
    patch: Answer | None = None
    status: Answer | None = None
    readback: Answer | None = None
    subscription: str = SUBSCRIPTION
    mappings: tuple[str, ...] = ("m1",)


@dataclass(frozen=True)
class Seen:
    """One request the hostile server received, and when (the server's monotonic clock)."""

    method: str
    path_qs: str
    authorization: str | None
    at: float


@dataclass
class HostileArm:
    """An ARM look-alike over loopback HTTP, scripted vault by vault (see the module docstring).

    ``subscriptions`` answers ``GET /subscriptions``; ``vault_lists`` a subscription's vault
    list (by subscription id); ``token`` the managed-identity endpoint (default: a token valid
    ``token_lifetime`` seconds for the right ``X-IDENTITY-HEADER``).
    """

    vaults: Mapping[str, VaultScript]
    subscriptions: Answer | None = None
    vault_lists: Mapping[str, Answer] = field(default_factory=dict)
    token: Answer | None = None
    token_lifetime: int = 3600
    host: str = "127.0.0.1"
    port: int = 0
    url_host: str | None = None  # the host its URLs name (default: ``host``), e.g. localhost
    sock: socket.socket | None = None  # a socket bound already (its port kept from the start)
    seen: list[Seen] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # every token handed out
    notes: dict[str, Any] = field(default_factory=dict)  # what scripted answers record
    # (vault, mapping) -> its providerSpecificDetails now; a change lands on success
    settings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pending: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # hanging answers end on it
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.url_host or self.host}:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/msi/token"

    @property
    def identity_header(self) -> str:
        return HOSTILE_IDENTITY_HEADER

    def vault_id(self, name: str) -> str:
        return vault_id(name, self.vaults[name].subscription if name in self.vaults else "")

    def mapping_id(self, vault: str, mapping: str = "m1") -> str:
        return mapping_id(vault, mapping, self.vaults[vault].subscription)

    def mapping(self, vault: str, name: str = "m1") -> dict[str, Any]:
        """The mapping as ARM shows it now."""
        details = {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Disabled",
            "automationAccountArmId": None,
            "automationAccountAuthenticationType": None,
            **self.settings.get((vault, name), {}),
        }
        return {
            "id": self.mapping_id(vault, name),
            "name": name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/"
            "replicationProtectionContainers/replicationProtectionContainerMappings",
            "properties": {
                "state": "Paired",
                "health": "Normal",
                "healthErrorDetails": [],
                "providerSpecificDetails": details,
            },
        }

    def status_url(self, vault: str, mapping: str = "m1") -> str:
        return f"{self.base_url}/operations/{vault}/{mapping}?api-version={API_VERSION}"

    def land(self, vault: str, mapping: str) -> None:
        """The PATCH last sent for this mapping takes effect (its operation succeeded)."""
        body = self.pending.pop((vault, mapping), None)
        if body is not None:
            self.settings[(vault, mapping)] = settings_of(body)

    def note(self, key: str, value: Any) -> None:
        """Record something a scripted answer saw, under ``key`` (a list of values)."""
        self.notes.setdefault(key, []).append(value)

    def now(self) -> float:
        return time.monotonic()

    def observed(self) -> Observed:
        """What the server saw, as plain data."""
        return Observed(
            base_url=self.base_url,
            vault_ids={name: self.vault_id(name) for name in self.vaults},
            seen=list(self.seen),
            tokens=list(self.tokens),
            notes=json.loads(json.dumps(self.notes)),
        )

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * MIB)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site: web.BaseSite = (
            web.TCPSite(self._runner, self.host, self.port)
            if self.sock is None
            else web.SockSite(self._runner, self.sock)
        )
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/msi/token":
            self.note("token_requests", self.now())
            return await (self.token or _issue_token)(request, self)
        self.seen.append(
            Seen(request.method, request.path_qs, request.headers.get("Authorization"), self.now())
        )
        parts = request.path.strip("/").split("/")
        if request.path == "/subscriptions":
            return await (self.subscriptions or _every_subscription)(request, self)
        if parts[0] == "subscriptions" and len(parts) == 2:
            return _json({"subscriptionId": parts[1], "state": "Enabled"})
        if len(parts) == 5 and parts[4] == "vaults":
            return await self.vault_lists.get(parts[1], _vaults_of)(request, self)
        if len(parts) == 8 and parts[5].lower() == "microsoft.automation":
            return _json({"id": request.path, "identity": {"type": "SystemAssigned"}})
        if parts[0] == "operations" and len(parts) == 3:
            operation_vault = self.vaults.get(parts[1], VaultScript())
            return await (operation_vault.status or succeeded)(request, self)
        script = self.vaults.get(parts[7] if len(parts) > 7 else "")
        if script is None:
            return not_found()
        if len(parts) == 9 and parts[8] == MAPPINGS:
            return await (script.listing or every_mapping)(request, self)
        if len(parts) == 14 and parts[12] == MAPPINGS:
            if request.method == "PATCH":
                return await (script.patch or accepted)(request, self)
            return await (script.readback or mapping_now)(request, self)
        return not_found()


def vault_id(name: str, subscription: str = SUBSCRIPTION) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{RESOURCE_GROUP}/providers/"
        f"Microsoft.RecoveryServices/vaults/{name}"
    )


def mapping_id(vault: str, mapping: str = "m1", subscription: str = SUBSCRIPTION) -> str:
    # ARM spells the listed ids with a capital S.
    return (
        f"/Subscriptions/{subscription}/resourceGroups/{RESOURCE_GROUP}/providers/"
        f"Microsoft.RecoveryServices/vaults/{vault}/replicationFabrics/fabric-1/"
        f"replicationProtectionContainers/container-1/{MAPPINGS}/{mapping}"
    )


def settings_of(body: dict[str, Any]) -> dict[str, Any]:
    """The settings a PATCH body asks for, as the mapping will show them."""
    given = (body.get("properties") or {}).get("providerSpecificInput") or {}
    keys = (
        "agentAutoUpdateStatus",
        "automationAccountArmId",
        "automationAccountAuthenticationType",
    )
    return {key: given[key] for key in keys if key in given}


@dataclass
class Observed:
    """What a `HostileArm` saw: every request (but token requests), the tokens it issued, and
    what its scripted answers noted. Plain data: it goes through JSON whole."""

    base_url: str
    vault_ids: dict[str, str]
    seen: list[Seen]
    tokens: list[str]
    notes: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observed:
        return cls(**{**data, "seen": [Seen(**s) for s in data["seen"]]})

    def requests_for(self, vault: str) -> list[Seen]:
        """What the server received about one vault (its listing, PATCHes, reads, statuses)."""
        return [s for s in self.seen if f"/{vault}/" in s.path_qs or f"/{vault}?" in s.path_qs]


# --- answers -------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def not_found() -> web.Response:
    return _json({"error": {"code": "NotFound", "message": "no such resource"}}, 404)


def names_of(request: web.Request) -> tuple[str, str]:
    """(vault, mapping) a request is about; mapping "" for a vault's list."""
    parts = request.path.strip("/").split("/")
    if parts[0] == "operations":
        return parts[1], parts[2]
    return parts[7], parts[13] if len(parts) > 13 else ""


def vault_name_of(request: web.Request) -> str:
    return names_of(request)[0]


async def _issue_token(request: web.Request, server: HostileArm) -> web.StreamResponse:
    if request.headers.get("X-IDENTITY-HEADER") != HOSTILE_IDENTITY_HEADER:
        return _json({"error": "bad identity header"}, 401)
    token = f"hostile.{secrets.token_urlsafe(24)}"
    server.tokens.append(token)
    return _json(
        {
            "access_token": token,
            "expires_on": str(int(time.time()) + server.token_lifetime),
            "resource": request.query.get("resource", ""),
            "token_type": "Bearer",
        }
    )


async def _every_subscription(request: web.Request, server: HostileArm) -> web.StreamResponse:
    subscriptions = dict.fromkeys(s.subscription for s in server.vaults.values())
    subscriptions.update(dict.fromkeys(server.vault_lists))
    return _json({"value": [{"subscriptionId": s, "state": "Enabled"} for s in subscriptions]})


async def _vaults_of(request: web.Request, server: HostileArm) -> web.StreamResponse:
    subscription = request.path.strip("/").split("/")[1]
    ids = [server.vault_id(n) for n, s in server.vaults.items() if s.subscription == subscription]
    return _json({"value": [{"id": i} for i in ids]})


async def every_mapping(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """The vault's mappings, all on one page."""
    vault = vault_name_of(request)
    return _json({"value": [server.mapping(vault, m) for m in server.vaults[vault].mappings]})


async def mapping_now(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """``GET {mapping id}``: the mapping as it stands."""
    return _json(server.mapping(*names_of(request)))


async def accepted(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """A PATCH accepted: 202 naming its ``Azure-AsyncOperation``; it lands when read Succeeded."""
    vault, mapping = names_of(request)
    server.pending[(vault, mapping)] = await request.json()
    return web.Response(
        status=202, headers={"Azure-AsyncOperation": server.status_url(vault, mapping)}
    )


async def succeeded(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """The operation's status: ``Succeeded``; the change lands."""
    vault, mapping = names_of(request)
    server.land(vault, mapping)
    return _json({"id": None, "name": f"{vault}-{mapping}", "status": "Succeeded", "error": None})
