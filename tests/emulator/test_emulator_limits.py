"""Sliding-window limits over HTTP: 429 with an honest Retry-After exactly when a window is full."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, LocalEmulator, StartEmulator
from requests_for_tests import ENABLE, changeable

from orchestrator.emulator import FleetSpec, ManualClock
from orchestrator.emulator.fleet_spec import Shares

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    vaults_per_subscription=5,
    mappings_per_vault=(2, 2),
    shares=Shares(not_a2a=0, not_paired=0, compliant=0, unhealthy=0),
    operation_seconds=(1.0, 1.0),
    limits={"set": {"calls": 3, "per_seconds": 60}, "get": {"calls": 4, "per_seconds": 100}},
)


@pytest.fixture
async def limited(start_emulator: StartEmulator) -> LocalEmulator:
    return await start_emulator(SPEC)


async def test_the_set_limit_admits_calls_patches_then_answers_429(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for offset, mapping_id in zip((0, 10, 20), mappings, strict=False):
        emulator_clock.advance(offset and 10)
        assert (await arm.patch(mapping_id, ENABLE)).status == 202
    emulator_clock.advance(5)  # t = 25: the first PATCH (t = 0) leaves the window at 60
    throttled = await arm.patch(mappings[3], ENABLE)
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "35"
    assert throttled.body["error"]["code"] == "TooManyRequests"
    assert limited.state.counters.throttled["set"] == 1


async def test_a_throttled_patch_is_not_admitted_and_changes_nothing(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for mapping_id in mappings[:3]:
        await arm.patch(mapping_id, ENABLE)
    for _ in range(5):
        emulator_clock.advance(1)
        assert (await arm.patch(mappings[3], ENABLE)).status == 429
    assert limited.state.counters.operations_started == 3
    emulator_clock.advance(55)  # t = 60: the three first PATCHes left the window together
    statuses = [(await arm.patch(m, ENABLE)).status for m in mappings[3:7]]
    assert statuses == [202, 202, 202, 429]


async def test_the_retry_after_of_a_429_is_honest(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for mapping_id in mappings[:3]:
        await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(0.5)
    wait = int((await arm.patch(mappings[3], ENABLE)).headers["Retry-After"])
    assert wait == 60  # 59.5 s rounded up
    emulator_clock.advance(wait)
    assert (await arm.patch(mappings[3], ENABLE)).status == 202


async def test_the_get_limit_is_separate_from_the_set_limit(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for mapping_id in mappings[:3]:
        await arm.patch(mapping_id, ENABLE)
    for _ in range(4):
        assert (await arm.get("/subscriptions")).status == 200
    emulator_clock.advance(40)
    throttled = await arm.get(mappings[0])
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "60"
    assert (limited.state.counters.throttled["get"], limited.state.counters.throttled["set"]) == (
        1,
        0,
    )


async def test_peak_window_counts_every_arrival_admitted_or_not(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for mapping_id in mappings[:5]:
        await arm.patch(mapping_id, ENABLE)
    emulator_clock.advance(61)
    await arm.patch(mappings[5], ENABLE)
    assert limited.state.counters.peak_window["set"] == 5
    assert limited.state.counters.peak_window["get"] == 0
    assert limited.state.counters.requests["set"] == 6


async def test_below_the_limit_nothing_is_throttled(
    limited: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(limited), changeable(limited)
    for mapping_id in mappings[:9]:
        assert (await arm.patch(mapping_id, ENABLE)).status == 202
        emulator_clock.advance(20)  # 3 per 60 s, exactly at the limit
    assert limited.state.counters.throttled["set"] == 0
    assert limited.state.counters.peak_window["set"] == 3
