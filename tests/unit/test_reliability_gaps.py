"""What RELIABILITY.md claims and no other test proved: each test here closes one such gap.

- All the emulator's faults at once on a fleet of over 100 mappings, in process on virtual time
  (the subprocess run that once did this was dropped when the fault matrix moved in process).
- Server clocks hours off, through a whole run (the poller's own test has one hour, one model).
- aiohttp re-sending a GET whose connection dropped, past the limiter (bug 1: the CLI run that
  proved the fix was dropped with the old fault matrix), and ``HTTPS_PROXY`` for ARM calls
  (the real-proxy runs are plain http): both over a real loopback socket, on a real loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from flows import ALL_CHANGE, consistent, rig
from inprocess import Rig

from orchestrator.arm.proxy import proxy_for
from orchestrator.arm.transport import AiohttpTransport
from orchestrator.errors import ArmTransportError

# --- all faults together -------------------------------------------------------------------

EVERY_FAULT = {
    "http_500": 0.02,
    "http_503": 0.02,
    "drop": 0.02,
    "throttle": 0.02,
    "drop_after_effect": 0.02,
    "slow": 0.02,
    "slow_seconds": 5,
    "never_finish": 0.02,
    "status_404_seconds": 10.0,
}
TIGHT_LIMITS = {"set": {"calls": 40, "per_seconds": 3}, "get": {"calls": 300, "per_seconds": 3}}


def test_all_faults_together_on_over_100_mappings_lose_nothing(tmp_path: Path) -> None:
    r = rig(
        tmp_path,
        seed=39,
        subscriptions=2,
        vaults_per_subscription=10,
        mappings_per_vault=[4, 8],
        page_size=3,
        operation_seconds=[5, 60],
        operation_failure_rate=0.05,
        limits=TIGHT_LIMITS,
        faults=EVERY_FAULT,
    )
    config = r.write_config(subscriptions="all", timeout_minutes=10, limits=TIGHT_LIMITS)
    run = r.run(config=config)
    counters = r.state.counters
    faults = counters.faults
    injected = ("http_500", "http_503", "drop", "throttle", "drop_after_effect", "slow")
    assert all(faults[kind] > 0 for kind in injected), faults
    assert faults["never_finish"] > 0 and faults["status_404"] > 0, faults
    counters.patches_while_running -= counters.conflicts  # the 409s of settled lost answers
    results = consistent(run, exit_code=1)  # a failed operation outranks the endless ones
    assert sum(results.values()) >= 100
    assert counters.peak_window["set"] == TIGHT_LIMITS["set"]["calls"]  # filled, never past
    endless = [
        m
        for m in run.mappings()
        if m["result"] == "timed_out" and _never_ends(r, m["operation"]["url"])
    ]
    # Each endless operation is timed_out; another could be, were its re-read past the deadline.
    assert len(endless) == faults["never_finish"] <= results["timed_out"]
    assert results["succeeded"] > 50 and results["failed"] > 0
    failed = [m for m in run.mappings() if m["result"] == "failed"]
    assert {m["operation"]["error"]["code"] for m in failed} == {
        "ProtectionContainerMappingUpdateFailed"
    }
    assert run.virtual_seconds == pytest.approx(600, abs=1)


def _never_ends(r: Rig, url: str | None) -> bool:
    operation = r.state.operations.find((url or "").split("?")[0].rsplit("/", 1)[-1])
    return operation is not None and math.isinf(operation.ends)


# --- server clocks hours off ---------------------------------------------------------------

HOURS = 6 * 3600


@pytest.mark.parametrize("skew", [-HOURS, HOURS], ids=["6 h behind", "6 h ahead"])
def test_server_times_hours_off_change_nothing_in_a_whole_run(tmp_path: Path, skew: int) -> None:
    """Every status body's startTime/endTime is ``skew`` off the client's clock: the run reads
    exactly as often and ends exactly when it does against a server on time."""
    fleet = {
        "seed": 7,
        "vaults_per_subscription": 6,
        "mappings_per_vault": [3, 5],
        "shares": ALL_CHANGE,
        "operation_seconds": [20, 40],
    }
    (tmp_path / "on-time").mkdir()
    (tmp_path / "skewed").mkdir()
    on_time = rig(tmp_path / "on-time", **fleet)
    skewed = rig(tmp_path / "skewed", **fleet, server_time_skew_seconds=skew)
    runs = [r.run(config=r.write_config(subscriptions="all")) for r in (on_time, skewed)]
    for run in runs:
        assert consistent(run, exit_code=0)["succeeded"] == len(run.mappings()) > 0
    baseline, run = runs
    assert run.report is not None and baseline.report is not None
    assert run.report["calls"]["get"] == baseline.report["calls"]["get"]
    assert run.virtual_seconds == pytest.approx(baseline.virtual_seconds, abs=0.5)
    assert [m["operation"]["polls"] for m in run.mappings()] == [
        m["operation"]["polls"] for m in baseline.mappings()
    ]


# --- one exchange over a real socket ---------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _over_loopback(
    handler: Handler,
    url_of: Callable[[int], str],
    environ: Callable[[int], dict[str, str]] = lambda _: {},
) -> tuple[list[bytes], Exception]:
    """Serve ``handler`` on a loopback port, send one GET through the product's transport to
    ``url_of(port)`` on a real loop, through the proxy ``environ(port)`` names for it, as a run
    resolves it; the request heads the server read, and how the send failed."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        await handler(reader, writer)
        writer.close()
        await writer.wait_closed()

    async def main() -> Exception:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = url_of(port)
        transport = AiohttpTransport(proxy=proxy_for(url, environ(port)).route)
        try:
            headers = {"Authorization": "Bearer not-for-the-proxy"}
            await transport.send("GET", url, headers=headers, body=None, time_limit=10)
        except ArmTransportError as exc:
            return exc
        finally:
            await transport.close()
            server.close()
            await server.wait_closed()
        raise AssertionError("the exchange was to fail")

    error = asyncio.run(main())
    return heads, error


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, answer nothing: the client meets ServerDisconnectedError."""


def test_a_get_whose_connection_drops_unanswered_is_sent_once_not_again_by_aiohttp() -> None:
    """Bug 1: aiohttp re-sends an idempotent request once on a dropped connection, below the ARM
    client (no limiter, no counter). The transport turns that off: one GET reaches the server,
    and the client is told it may have been sent (its retry policy, through the limiter, decides)."""
    heads, error = _over_loopback(_hang_up, lambda port: f"http://127.0.0.1:{port}/subscriptions")
    assert [head.split(b"\r\n", 1)[0] for head in heads] == [b"GET /subscriptions HTTP/1.1"]
    assert isinstance(error, ArmTransportError) and error.sent


async def _refuse_tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


def test_https_proxy_from_the_environment_carries_arm_calls() -> None:
    """An https ARM call asks the proxy named in HTTPS_PROXY for a tunnel to ARM (the token is
    inside the tunnel, never in the proxy's request)."""
    heads, error = _over_loopback(
        _refuse_tunnel,
        lambda _: "https://management.azure.com/subscriptions?api-version=2022-12-01",
        lambda port: {"HTTPS_PROXY": f"http://127.0.0.1:{port}"},
    )
    (head,) = heads
    assert head.split(b"\r\n", 1)[0] == b"CONNECT management.azure.com:443 HTTP/1.1"
    assert b"Bearer" not in head
    assert isinstance(error, ArmTransportError)
