"""The emulator's command line: one URL line when ready, serves, exits 0 on a signal, 2 on a bad fleet."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from orchestrator.emulator.cli import main

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HEADER = "cli-test-header"


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "IDENTITY_HEADER": HEADER}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.emulator",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env=env,
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await _spawn()
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    try:
        yield process, line.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _vault_count(base_url: str) -> int:
    async with aiohttp.ClientSession() as session:
        token_query = {
            "api-version": "2019-08-01",
            "resource": "https://management.core.windows.net/",
        }
        async with session.get(
            f"{base_url}/msi/token", params=token_query, headers={"X-IDENTITY-HEADER": HEADER}
        ) as r:
            assert r.status == 200
            token = (await r.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with session.get(
            f"{base_url}/subscriptions", params={"api-version": "2022-12-01"}, headers=auth
        ) as r:
            subscriptions = (await r.json())["value"]
        total = 0
        for sub in subscriptions:
            url = f"{base_url}/subscriptions/{sub['subscriptionId']}/providers/Microsoft.RecoveryServices/vaults"
            async with session.get(url, params={"api-version": "2023-04-01"}, headers=auth) as r:
                body = await r.json()
                assert "nextLink" not in body
                total += len(body["value"])
        return total


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_it_prints_its_url_serves_and_exits_0_on_a_signal(
    served: tuple[asyncio.subprocess.Process, str], signum: signal.Signals
) -> None:

    process, line = served
    assert line.startswith("http://127.0.0.1:")
    assert line.endswith("\n")
    base_url = line.strip()
    assert await _vault_count(base_url) == 10  # the default fleet: 2 subscriptions x 5 vaults
    process.send_signal(signum)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    assert process.stdout is not None
    assert await process.stdout.read() == b""  # exactly one line on stdout


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text("seed: 3\nsubscriptions: 1\nvaults_per_subscription: 4\n")
    return path


async def test_it_serves_the_fleet_file_it_is_given(fleet_file: Path) -> None:
    process = await _spawn("--fleet", str(fleet_file))
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert await _vault_count(line.decode().strip()) == 4
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


def test_a_bad_fleet_file_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vaults: 3\n")
    assert main(["--fleet", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bad.yaml" in captured.err
    assert "vaults" in captured.err


def test_a_missing_fleet_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fleet", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
