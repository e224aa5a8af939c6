"""`faults.token_early_expiry_seconds`: ARM rejects a token before the expiry it was issued with."""

from __future__ import annotations

import time

import pytest
from arm_client import ArmFor, ArmSession, StartEmulator

from orchestrator.emulator import FleetSpec, ManualClock
from orchestrator.emulator.fleet_spec import Faults

pytestmark = pytest.mark.integration


def _spec(lifetime: int, early: float) -> FleetSpec:
    return FleetSpec(
        token_lifetime_seconds=lifetime, faults=Faults(token_early_expiry_seconds=early)
    )


async def _status(arm: ArmSession, token: str) -> tuple[int, str | None]:
    answer = await arm.get("/subscriptions", headers={"Authorization": f"Bearer {token}"})
    return answer.status, (answer.body or {}).get("error", {}).get("code")


async def test_an_early_expiring_token_reports_its_full_lifetime(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(600, 200))
    before = int(time.time())
    body = (await arm_for(server).token()).body
    assert before + 600 - 5 <= int(body["expires_on"]) <= int(time.time()) + 600 + 5
    issued = server.state.counters.tokens[-1]
    assert issued.reported_expires_at - issued.issued_at == 600
    assert issued.expires_at - issued.issued_at == 400


async def test_arm_answers_expired_once_the_early_expiry_is_reached(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_emulator(_spec(600, 200))
    arm = arm_for(server)
    token = await arm.bearer()
    emulator_clock.advance(399)
    assert await _status(arm, token) == (200, None)
    emulator_clock.advance(1)
    assert await _status(arm, token) == (401, "ExpiredAuthenticationToken")


async def test_an_early_expiry_past_the_lifetime_gives_tokens_dead_on_arrival(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(60, 3_600))
    arm = arm_for(server)
    assert await _status(arm, await arm.bearer()) == (401, "ExpiredAuthenticationToken")


async def test_without_early_expiry_a_token_works_until_the_expiry_it_reports(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(FleetSpec(token_lifetime_seconds=600))
    await arm_for(server).token()
    issued = server.state.counters.tokens[-1]
    assert issued.reported_expires_at == issued.expires_at == issued.issued_at + 600
