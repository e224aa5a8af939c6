"""Purpose-built loopback servers for the reliability tests.

- `Recorder`: a raw TCP listener that records every connection and every byte it receives, so a
  test can prove that NOTHING (not a TLS hello, not a request line, not a token) reached it.
- `HostileArm`: a small ARM look-alike whose answers a test scripts vault by vault, to send the
  CLI broken or hostile answers (bad JSON, wrong types, huge or endless bodies, looping links…).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SUBSCRIPTION = "6d1c5b7e-2f0a-4a57-9a43-3c1f9c0e0001"
RESOURCE_GROUP = "rg-hostile"
ACCOUNT = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-automation/providers/"
    "Microsoft.Automation/automationAccounts/aa-hostile"
)
HOSTILE_IDENTITY_HEADER = "hostile-identity-header-value"


def reserve_port(host: str, port: int = 0) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port), bound now so its address is known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


class Recorder:
    """Records every TCP connection to it and the bytes each sent; answers nothing useful.

    The socket is bound at construction (outside any loop), so `url` can go into an emulator's
    spec before anything runs; `start` serves it on the running loop.
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

    ``listing`` answers the vault's mapping list, ``patch`` the PATCH of its one mapping,
    ``status`` the operation-status URL its PATCH named. ``subscriptions`` (the server's
    ``GET /subscriptions``) is set on `HostileArm` itself.
    """

    listing: Answer | None = None
    patch: Answer | None = None
    status: Answer | None = None


@dataclass
class Seen:
    """One request the hostile server received."""

    method: str
    path_qs: str
    authorization: str | None


@dataclass
class HostileArm:
    """An ARM look-alike with one A2A mapping (needing a change) per scripted vault.

    ``subscriptions`` and ``vault_list`` answer discovery (``GET /subscriptions`` and the
    subscription's vault list); by default they list `SUBSCRIPTION` and every scripted vault.
    """

    vaults: Mapping[str, VaultScript]
    subscriptions: Answer | None = None
    vault_list: Answer | None = None
    seen: list[Seen] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # every token handed out
    host: str = "127.0.0.1"
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/msi/token"

    @property
    def identity_header(self) -> str:
        return HOSTILE_IDENTITY_HEADER

    def vault_id(self, name: str) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.RecoveryServices/vaults/{name}"
        )

    def mapping_id(self, name: str) -> str:
        return (
            f"/Subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.RecoveryServices/vaults/{name}/replicationFabrics/fabric-1/"
            "replicationProtectionContainers/container-1/replicationProtectionContainerMappings/m1"
        )

    def mapping(self, name: str, status: str = "Disabled") -> dict[str, Any]:
        return {
            "id": self.mapping_id(name),
            "name": "m1",
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/"
            "replicationProtectionContainers/replicationProtectionContainerMappings",
            "properties": {
                "state": "Paired",
                "health": "Normal",
                "healthErrorDetails": [],
                "providerSpecificDetails": {"instanceType": "A2A", "agentAutoUpdateStatus": status},
            },
        }

    def status_url(self, name: str) -> str:
        return f"{self.base_url}/operations/{name}?api-version=2021-12-01"

    def requests_for(self, name: str) -> list[Seen]:
        """What the server received about one vault (its listing, PATCH and status reads)."""
        return [s for s in self.seen if f"/{name}/" in s.path_qs or f"/{name}?" in s.path_qs]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/msi/token":
            return self._token(request)
        self.seen.append(
            Seen(request.method, request.path_qs, request.headers.get("Authorization"))
        )
        parts = request.path.strip("/").split("/")
        if request.path == "/subscriptions":
            return await (self.subscriptions or _one_subscription)(request, self)
        if len(parts) == 5 and parts[4] == "vaults":
            return await (self.vault_list or _every_vault)(request, self)
        if parts[0] == "operations":
            script = self.vaults.get(parts[1], VaultScript())
            return await (script.status or _succeeded)(request, self)
        script = self.vaults.get(parts[7] if len(parts) > 7 else "")
        if script is None:
            return web.json_response({"error": {"code": "NotFound", "message": "no"}}, status=404)
        if request.method == "PATCH":
            return await (script.patch or _accepted)(request, self)
        return await (script.listing or _one_mapping)(request, self)

    def _token(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != HOSTILE_IDENTITY_HEADER:
            return web.json_response({"error": "bad identity header"}, status=401)
        token = f"hostile-token-{uuid.uuid4().hex}"
        self.tokens.append(token)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": request.query.get("resource", ""),
                "token_type": "Bearer",
            }
        )


def vault_name_of(request: web.Request) -> str:
    parts = request.path.strip("/").split("/")
    return parts[1] if parts[0] == "operations" else parts[7]


async def _one_subscription(request: web.Request, server: HostileArm) -> web.StreamResponse:
    return web.json_response({"value": [{"subscriptionId": SUBSCRIPTION}]})


async def _every_vault(request: web.Request, server: HostileArm) -> web.StreamResponse:
    return web.json_response({"value": [{"id": server.vault_id(name)} for name in server.vaults]})


async def _one_mapping(request: web.Request, server: HostileArm) -> web.StreamResponse:
    return web.json_response({"value": [server.mapping(vault_name_of(request))]})


async def _accepted(request: web.Request, server: HostileArm) -> web.StreamResponse:
    await request.read()
    headers = {
        "Azure-AsyncOperation": server.status_url(vault_name_of(request)),
        "Retry-After": "0",
    }
    return web.Response(status=202, headers=headers)


async def _succeeded(request: web.Request, server: HostileArm) -> web.StreamResponse:
    return web.json_response({"status": "Succeeded", "name": vault_name_of(request)})
