"""A real headless Chromium, driven over the Chrome DevTools Protocol, for tests of HTML pages.

:func:`launch` starts Chromium with remote debugging on a free port (read from the
``DevToolsActivePort`` file it writes in its user-data-dir), connects to it over a websocket
(aiohttp), opens one page and hands back a :class:`Tab`. However the block ends, the browser is
asked to close and its whole process group is killed, so no Chromium outlives a test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

CANDIDATES: Final = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS: Final = (
    "--headless",
    "--no-sandbox",  # containers and CI runners usually run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a container's small /dev/shm must not crash the renderer
    "--remote-debugging-port=0",
)
CALL_TIMEOUT: Final = 10.0
START_TIMEOUT: Final = 15.0


def find_chromium() -> str | None:
    """The first Chromium (or Chrome) binary found, or None."""
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


@dataclass
class _Connection:
    """One websocket to the browser: commands matched to answers by id, events kept in order."""

    ws: aiohttp.ClientWebSocketResponse
    events: list[dict[str, Any]] = field(default_factory=list)
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _next_id: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self) -> None:
        """Dispatch every message until the socket closes (run as a task)."""
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = message.json()
            waiter = self._pending.pop(data["id"], None) if "id" in data else None
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
            elif "method" in data:
                async with self._arrived:
                    self.events.append(data)
                    self._arrived.notify_all()
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(CdpError("the browser closed the connection"))

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        answer = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = answer
        await self.ws.send_json(message)
        try:
            data = await asyncio.wait_for(answer, CALL_TIMEOUT)
        except TimeoutError:
            raise CdpError(f"{method}: no answer in {CALL_TIMEOUT}s") from None
        if "error" in data:
            raise CdpError(f"{method}: {data['error']}")
        result: dict[str, Any] = data.get("result", {})
        return result

    async def wait_for(self, method: str, since: int) -> dict[str, Any]:
        """The first event named ``method`` among those from index ``since`` on."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events[since:] if e["method"] == method), None)

        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: found() is not None), CALL_TIMEOUT
            )
        event = found()
        assert event is not None
        return event


@dataclass(frozen=True)
class Load:
    """What one navigation did: the requests it made, the loads that failed, log entries."""

    requests: list[str]
    failures: list[dict[str, Any]]
    log_entries: list[dict[str, Any]]
    seconds: float  # from sending Page.navigate to the load event, as the test saw it


@dataclass
class Tab:
    """One page of the browser, with the Page, Network, Runtime and Log domains enabled."""

    connection: _Connection
    session: str

    async def navigate(self, url: str) -> Load:
        """Go to ``url`` and wait for its load event."""
        since = len(self.connection.events)
        started = time.monotonic()
        await self.connection.call("Page.navigate", self.session, url=url)
        await self.connection.wait_for("Page.loadEventFired", since)
        seconds = time.monotonic() - started
        events = self.connection.events[since:]

        def params(method: str) -> list[dict[str, Any]]:
            return [e["params"] for e in events if e["method"] == method]

        return Load(
            requests=[p["request"]["url"] for p in params("Network.requestWillBeSent")],
            failures=params("Network.loadingFailed"),
            log_entries=[p["entry"] for p in params("Log.entryAdded")],
            seconds=seconds,
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools is not bound by its CSP)."""
        result = await self.connection.call(
            "Runtime.evaluate", self.session, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        """The viewport as PNG bytes."""
        result = await self.connection.call("Page.captureScreenshot", self.session, format="png")
        return base64.b64decode(result["data"])


@contextlib.asynccontextmanager
async def launch(
    binary: str, profile: Path, *, width: int = 1280, height: int = 900
) -> AsyncIterator[Tab]:
    """A headless Chromium with one blank page of ``width`` by ``height``.

    ``profile``, an existing empty directory, is its user-data-dir; its log goes to
    ``profile/chromium.log``. The browser and everything it started are gone on exit.
    """
    with (profile / "chromium.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: one kill ends every child
        )
    try:
        port, path = await _devtools_endpoint(profile, process)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws,
        ):
            connection = _Connection(ws)
            reader = asyncio.create_task(connection.read())
            try:
                tab = await _open_tab(connection, width, height)
                yield tab
                with contextlib.suppress(CdpError, ConnectionError):
                    await connection.call("Browser.close")
            finally:
                await ws.close()
                await reader
    finally:
        await _stop(process)


async def _devtools_endpoint(profile: Path, process: asyncio.subprocess.Process) -> tuple[str, str]:
    """The port and browser path Chromium writes to ``DevToolsActivePort`` once it listens.

    Polled: Chromium gives no signal a test can wait on, and it writes the file only after
    announcing the port on stderr, so even that line would not make the file ready.
    """
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.returncode is not None:
            break
        with contextlib.suppress(FileNotFoundError):
            lines = port_file.read_text().splitlines()
            if len(lines) >= 2 and lines[0].isdigit():
                return lines[0], lines[1]
        await asyncio.sleep(0.02)
    log = (profile / "chromium.log").read_text(errors="replace")[-2000:]
    raise CdpError(f"Chromium did not start (exit {process.returncode}); its log ends:\n{log}")


async def _open_tab(connection: _Connection, width: int, height: int) -> Tab:
    target = await connection.call("Target.createTarget", url="about:blank")
    attached = await connection.call(
        "Target.attachToTarget", targetId=target["targetId"], flatten=True
    )
    tab = Tab(connection, attached["sessionId"])
    for domain in ("Page", "Network", "Runtime", "Log"):
        await connection.call(f"{domain}.enable", tab.session)
    await connection.call(
        "Emulation.setDeviceMetricsOverride",
        tab.session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    return tab


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Let the browser exit if it is closing; then kill its process group, whatever is left."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 3.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
