"""The aiohttp application: one catch-all route that hands every request to `serve`.

This module only translates between HTTP and plain data (`InboundRequest`/`OutboundAnswer`);
everything the emulator does lives behind `serve`, so the in-process and HTTP emulators agree.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.emulator.core import MAX_BODY_BYTES, InboundRequest, serve
from orchestrator.emulator.state import EmulatorState

_CHUNK = 64 * 1024


async def _read_capped(request: web.Request) -> bytes:
    """The body, cut just past the cap (`serve` refuses it with 413 if it is over)."""
    if not request.can_read_body:
        return b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)


class _Adapter:
    """Serves one `EmulatorState` over aiohttp."""

    __slots__ = ("state",)

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (the single route's handler)."""
        body = await _read_capped(request)
        inbound = InboundRequest(request.method, str(request.url), dict(request.headers), body)
        answer = await serve(self.state, inbound)
        if answer.dropped:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        return web.Response(
            status=answer.status, headers=dict(answer.headers), body=answer.body or None
        )


def build_app(state: EmulatorState) -> web.Application:
    """The emulator as an aiohttp application serving ``state``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _Adapter(state).handle)
    return app
