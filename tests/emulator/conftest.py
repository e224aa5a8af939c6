"""Fixtures that run the ASR emulator, built only on its public API.

Most tests drive the emulator in process through `serve` (no sockets, fast); a few go over
loopback HTTP where the HTTP layer is the point.

- ``emulator_clock``: the `ManualClock` every emulator started here runs on.
- ``start_emulator(spec, **kwargs)``: an in-process `LocalEmulator` (``state``, ``base_url``…).
- ``start_http_emulator(spec, **kwargs)``: a running `EmulatorServer` (stopped at teardown).
- ``emulator``: an in-process emulator for ``emulator_spec`` (a small fleet; override either).
- ``arm``: an `ArmSession` on ``emulator``; ``arm_for(server)`` makes one for another emulator,
  in process or over HTTP according to what it is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Unpack

import aiohttp
import pytest
from arm_client import (
    EMULATOR_IDENTITY_HEADER,
    ArmFor,
    ArmSession,
    Emulator,
    EmulatorOptions,
    LocalEmulator,
    StartEmulator,
    StartHttpEmulator,
)
from requests_for_tests import TEST_ACCOUNTS

from orchestrator.emulator import EmulatorServer, EmulatorState, FleetSpec, ManualClock


@pytest.fixture
def emulator_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_spec() -> FleetSpec:
    return FleetSpec(
        seed=7,
        subscriptions=2,
        vaults_per_subscription=3,
        mappings_per_vault=(2, 5),
        page_size=2,
        operation_seconds=(10.0, 20.0),
        operation_failure_rate=0.0,
        retry_after_seconds=5,
        automation_accounts=TEST_ACCOUNTS,
    )


@pytest.fixture
def start_emulator(emulator_clock: ManualClock) -> StartEmulator:
    async def start(spec: FleetSpec, **kwargs: Unpack[EmulatorOptions]) -> LocalEmulator:
        kwargs.setdefault("clock", emulator_clock)
        kwargs.setdefault("identity_header", EMULATOR_IDENTITY_HEADER)
        return LocalEmulator(EmulatorState(spec, **kwargs))

    return start


@pytest.fixture
async def start_http_emulator(emulator_clock: ManualClock) -> AsyncIterator[StartHttpEmulator]:
    servers: list[EmulatorServer] = []

    async def start(spec: FleetSpec, **kwargs: Unpack[EmulatorOptions]) -> EmulatorServer:
        kwargs.setdefault("clock", emulator_clock)
        kwargs.setdefault("identity_header", EMULATOR_IDENTITY_HEADER)
        server = EmulatorServer(spec, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def emulator(start_emulator: StartEmulator, emulator_spec: FleetSpec) -> LocalEmulator:
    return await start_emulator(emulator_spec)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def arm_for(http_session: aiohttp.ClientSession) -> ArmFor:
    return lambda server: ArmSession(server, http_session)


@pytest.fixture
def arm(arm_for: ArmFor, emulator: Emulator) -> ArmSession:
    return arm_for(emulator)
