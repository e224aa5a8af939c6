"""Scripted answers for `loopback.HostileArm`: what a hostile server sends instead of ARM's.

Each builder returns an `Answer` (``async (request, server) -> response``) for a
`loopback.VaultScript`: fixed or computed bodies, bodies no encoder would write, answers that
change after the first request, come late, land the PATCH whatever they say, stream without
end, trickle a byte a second or never come. Those that measure something note it on the server
(`HostileArm.note`), as plain data. `ForeignLinks` scripts three vaults whose links point off
the ARM origin, each at a `loopback.Recorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from loopback import (
    API_VERSION,
    Answer,
    HostileArm,
    Recorder,
    VaultScript,
    names_of,
    reserve_port,
    settings_of,
    vault_name_of,
)


def _json(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def json_answer(
    make: Callable[[web.Request, HostileArm], Any], status: int = 200, /, **headers: str
) -> Answer:
    """An answer whose JSON body is ``make(request, server)``; ``headers`` go with it."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        return _json(make(request, server), status, **headers)

    return answer


def fixed(text: str, status: int = 200, content_type: str = "text/html", **headers: str) -> Answer:
    """Always the same answer."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        return web.Response(status=status, text=text, content_type=content_type, headers=headers)

    return answer


def raw_json(text: str, status: int = 200) -> Answer:
    """A body sent as it is, labelled JSON (for bodies no encoder would write)."""
    return fixed(text, status, content_type="application/json")


def first_then(first: Answer, then: Answer, *, times: int = 1) -> Answer:
    """``first`` for the first ``times`` requests, ``then`` for every later one."""
    calls = {"n": 0}

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        calls["n"] += 1
        return await (first if calls["n"] <= times else then)(request, server)

    return answer


def later(answer: Answer, seconds: float) -> Answer:
    """``answer``, ``seconds`` late."""

    async def wrapped(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await answer(request, server)

    return wrapped


def landing(answer: Answer) -> Answer:
    """``answer``, and the PATCH takes effect at once (ASR acted on it, whatever it said)."""

    async def wrapped(request: web.Request, server: HostileArm) -> web.StreamResponse:
        vault, mapping = names_of(request)
        server.settings[(vault, mapping)] = settings_of(await request.json())
        return await answer(request, server)

    return wrapped


def streamed(total: int | None, *, prefix: bytes = b'{"value": [], "pad": "') -> Answer:
    """A 200 JSON-looking body of ``total`` bytes (None: never ends); notes the bytes it sent
    under ``streamed:{vault}``."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"x" * (256 * 1024)
        sent = 0
        await response.write(prefix)
        try:
            while total is None or sent < total:
                await response.write(chunk)
                sent += len(chunk)
            await response.write(b'"}')
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading: what an endless body must cause
        finally:
            server.note(f"streamed:{vault_name_of(request)}", sent)
        return response

    return answer


def trickled(body: bytes, *, every: float = 1.0, key: str | None = None) -> Answer:
    """A 200 whose headers come at once and whose body comes one byte per ``every`` seconds.

    Notes ``[began, ended, bytes sent]`` per request under ``key`` (default
    ``trickled:{vault}``).
    """

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        began, sent = server.now(), 0
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        try:
            await response.prepare(request)
            for byte in body:
                await response.write(bytes([byte]))
                sent += 1
                if await _hung_up_within(request, server, every):
                    break
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # cut off by the client
        finally:
            server.note(key or f"trickled:{vault_name_of(request)}", [began, server.now(), sent])
        return response

    return answer


def never_answers(key: str) -> Answer:
    """Reads the request and never answers, until the client gives up or the server stops.

    Notes ``[began, ended]`` under ``key`` per request (ended: when the client hung up).
    """

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        began = server.now()
        await request.read()
        await _hung_up_within(request, server, None)
        server.note(key, [began, server.now()])
        return web.Response(status=204)

    return answer


async def _hung_up_within(request: web.Request, server: HostileArm, seconds: float | None) -> bool:
    """Wait ``seconds`` (None: for ever); True as soon as the client hung up or the server is
    stopping (checked every 10 ms, so the moment is known to within that)."""
    until = None if seconds is None else server.now() + seconds
    while until is None or server.now() < until:
        transport = request.transport
        if server.closing.is_set() or transport is None or transport.is_closing():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.closing.wait(), 0.01)
    return False


# --- links off the ARM origin ----------------------------------------------------------------


class ForeignLinks:
    """Three vaults whose server-given links point off the ARM origin, each at a `Recorder`
    that differs from the origin in one more part: a ``nextLink`` on another port, an
    ``Azure-AsyncOperation`` on another host (127.0.0.2, on the server's own port: a
    `HostileArm` must listen on `server_socket`, bound at once so no other socket can take its
    port meanwhile), a ``Location`` on another scheme (https)."""

    VAULTS = ("foreign-next-link", "foreign-async-operation", "foreign-location")

    def __init__(self) -> None:
        self.server_socket = reserve_port("127.0.0.1")  # the server's, on a free port…
        self.port: int = self.server_socket.getsockname()[1]
        other_host = Recorder(sock=reserve_port("127.0.0.2", self.port))  # …and 127.0.0.2 on it
        self.recorders = dict(zip(self.VAULTS, (Recorder(), other_host, Recorder()), strict=True))

    def scripts(self) -> dict[str, VaultScript]:
        next_link, async_operation, location = self.VAULTS
        own = f"http://127.0.0.1:{self.port}"
        return {
            next_link: VaultScript(listing=_next_link_to(self.recorders[next_link].url())),
            # Location on the origin: the preferred Azure-AsyncOperation is the one refused.
            async_operation: VaultScript(
                patch=_accepted_with_links(
                    **{
                        "Azure-AsyncOperation": self.recorders[async_operation].url(),
                        "Location": own,
                    }
                )
            ),
            location: VaultScript(
                patch=_accepted_with_links(Location=self.recorders[location].url("https"))
            ),
        }

    async def start(self) -> None:
        await asyncio.gather(*(r.start() for r in self.recorders.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.recorders.values()))

    def recorded(self) -> dict[str, Any]:
        """Per vault: the recorder's URL, its connections and what each sent (plain data)."""
        return {
            vault: {
                "url": r.url(),
                "connections": r.connections,
                "received": [b.decode(errors="replace") for b in r.received],
            }
            for vault, r in self.recorders.items()
        }


def _next_link_to(origin: str) -> Answer:
    """The vault's mapping, and a ``nextLink`` with the same path on ``origin``."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        link = f"{origin}{request.path}?api-version={API_VERSION}&$skiptoken=2"
        return _json({"value": [server.mapping(vault_name_of(request))], "nextLink": link})

    return answer


def _accepted_with_links(**links: str) -> Answer:
    """202 whose status headers are ``links`` (header -> origin), each with the path the
    server's own status URL would have."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        vault, mapping = names_of(request)
        server.pending[(vault, mapping)] = await request.json()
        own = server.status_url(vault, mapping).removeprefix(server.base_url)
        return web.Response(status=202, headers={h: f"{o}{own}" for h, o in links.items()})

    return answer
