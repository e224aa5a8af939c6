"""``HTTP_PROXY`` and ``NO_PROXY`` are honoured for ARM calls, through a real forward proxy.

proxy.py (a test dependency) runs as a subprocess on a free loopback port, with a plugin
(`proxy_counter.py`) that writes one line per request it relays. Two applies run against a
`HostileArm`, both with ``HTTP_PROXY`` pointing at the proxy and ``NO_PROXY=localhost``:

- ``through``: ARM at ``127.0.0.1``, the token endpoint at ``localhost``: every ARM request goes
  through the proxy, the token requests (azure-identity's) go around it;
- ``around``: ARM at ``localhost``, the token endpoint at ``127.0.0.1``: the ARM requests go
  around the proxy, while the token requests go through it — so the proxy was in force.

The proxy asks for basic authentication, and ``HTTP_PROXY`` carries it
(``http://user:password@…``): a request without it would be refused (407), and the password
appears nowhere the run writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hostile_runs import CliOutcome, Runs, against, declare, runs_of
from loopback import HostileArm, VaultScript

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
PROXY_USER = "arm-proxy-user"
PROXY_PASSWORD = "proxy-password-4-arm-calls"


@contextlib.asynccontextmanager
async def forward_proxy(directory: Path) -> AsyncIterator[tuple[str, Path]]:
    """proxy.py on a free loopback port, asking for basic authentication: its URL (with the
    credentials) and the file of requests it relayed; stopped on exit."""
    port_file, log = directory / "proxy.port", directory / "relayed.txt"
    env = {**os.environ, "PYTHONPATH": str(HERE), "PROXY_REQUESTS_FILE": str(log)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
        "--port-file", str(port_file), "--num-acceptors", "1", "--num-workers", "1",
        "--plugins", "proxy_counter.RequestCounter", "--log-level", "WARNING",
        "--basic-auth", f"{PROXY_USER}:{PROXY_PASSWORD}",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(500):
            if port_file.exists() and port_file.read_text().strip():
                break
            if proc.returncode is not None:
                raise AssertionError("proxy.py did not start")
            await asyncio.sleep(0.02)
        port = port_file.read_text().strip()
        yield f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}", log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        await proc.wait()


def relayed(log: Path) -> list[dict[str, str]]:
    """Each request the proxy relayed: method, host (with port), path."""
    lines = log.read_text().splitlines() if log.exists() else []
    requests = []
    for line in lines:
        method, target = line.split(" ", 1)
        host, _, path = target.partition("/")
        requests.append({"method": method, "host": host, "path": "/" + path})
    return requests


async def _both(directory: Path) -> dict[str, Any]:
    """One proxy, the two applies side by side; each one's outcome, and what the proxy relayed."""
    async with forward_proxy(directory) as (proxy_url, log):

        async def run(name: str, arm_host: str, token_host: str) -> dict[str, Any]:
            place = directory / name
            place.mkdir()
            server = HostileArm({"well-behaved": VaultScript()}, url_host=arm_host)

            def env(listening: HostileArm) -> dict[str, str]:
                return {
                    "HTTP_PROXY": proxy_url,
                    "NO_PROXY": "localhost",
                    "IDENTITY_ENDPOINT": f"http://{token_host}:{listening.port}/msi/token",
                }

            outcome = await against(place, server, env=env, config={"timeout_minutes": 0.25})
            outcome["port"] = server.port
            return outcome

        through, around = await asyncio.gather(
            run("through", "127.0.0.1", "localhost"), run("around", "localhost", "127.0.0.1")
        )
    return {"through": through, "around": around, "relayed": relayed(log)}


declare("proxy", lambda: {"both": _both}, both=1.5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "proxy")


def _relayed_for(runs: Runs, name: str) -> list[dict[str, str]]:
    port = runs["both"][name]["port"]
    return [r for r in runs["both"]["relayed"] if r["host"].endswith(f":{port}")]


@pytest.mark.parametrize("name", ["through", "around"])
def test_a_run_behind_a_proxy_succeeds(runs: Runs, name: str) -> None:
    run = CliOutcome(runs["both"][name])
    assert run.exit_code == run.report["exit_code"] == 0, run.stderr[-3000:]
    assert run.mapping("well-behaved")["result"] == "succeeded"


def test_every_arm_request_goes_through_the_proxy_named_in_http_proxy(runs: Runs) -> None:
    run = CliOutcome(runs["both"]["through"])
    relayed_arm = [(r["method"], r["path"]) for r in _relayed_for(runs, "through")]
    relayed_arm = [(m, p) for m, p in relayed_arm if not p.startswith("/msi/")]
    seen = [(s.method, s.path_qs) for s in run.observed.seen]
    assert seen and sorted(relayed_arm) == sorted(seen)
    assert {m for m, _ in seen} == {"GET", "PATCH"}


def test_no_proxy_sends_the_arm_requests_around_the_proxy(runs: Runs) -> None:
    run = CliOutcome(runs["both"]["around"])
    relayed_here = _relayed_for(runs, "around")
    assert run.observed.seen  # ARM was called…
    assert not [r for r in relayed_here if not r["path"].startswith("/msi/")]  # …not via it
    # …while the same environment did send the token requests through it.
    assert [r for r in relayed_here if r["path"].startswith("/msi/token")]


def test_no_proxy_sends_the_token_requests_around_the_proxy(runs: Runs) -> None:
    """azure-identity honours the same variables (the contract's "as azure-identity does")."""
    run = CliOutcome(runs["both"]["through"])
    assert run.observed.notes["token_requests"]
    assert not [r for r in _relayed_for(runs, "through") if r["path"].startswith("/msi/")]


@pytest.mark.parametrize("name", ["through", "around"])
def test_the_proxy_password_appears_nowhere_the_run_writes(runs: Runs, name: str) -> None:
    run = CliOutcome(runs["both"][name])
    assert run.stderr and run.report
    for written in (run.stderr, run.stdout, json.dumps(run.report)):
        assert PROXY_PASSWORD not in written
