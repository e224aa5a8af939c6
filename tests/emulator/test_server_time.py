"""Printed server times: skewed against the client's clock, without a zone, or with an endTime
that disagrees with the real duration. Operations still run on the emulator's clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from arm_client import ArmFor, StartEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import FleetSpec, ManualClock

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=2,
    vaults_per_subscription=1,
    mappings_per_vault=(2, 2),
    operation_seconds=(30.0, 30.0),
    operation_failure_rate=0.0,
    tidy_bodies=True,  # endTime to the microsecond: differences are exact
    automation_accounts=TEST_ACCOUNTS,
)


def _parse(stamp: str) -> datetime:
    """A 7-digit ARM timestamp, with or without its zone, as an aware UTC datetime."""
    naive = datetime.strptime(stamp.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")
    return naive.replace(tzinfo=UTC)


async def _ended_status(
    start_emulator: StartEmulator, arm_for: ArmFor, clock: ManualClock, **changes: object
) -> dict[str, Any]:
    server = await start_emulator(SPEC.model_copy(update=changes))
    arm = arm_for(server)
    accepted = await arm.patch(changeable(server)[0], ENABLE)
    clock.advance(29.9)
    running = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert running.body["status"] == "InProgress"  # the skew does not move the operation
    clock.advance(0.1)
    done = await arm.get(accepted.headers["Azure-AsyncOperation"])
    assert done.body["status"] == "Succeeded"
    status: dict[str, Any] = done.body
    return status


async def test_without_skew_server_times_are_the_clients(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    body = await _ended_status(start_emulator, arm_for, emulator_clock)
    started = _parse(body["startTime"]).timestamp()
    assert abs(started - time.time()) < 60
    assert _parse(body["endTime"]).timestamp() - started == pytest.approx(30, abs=1e-3)


@pytest.mark.parametrize("skew", [-5 * 3600.0, 3 * 3600.0])
async def test_server_time_skew_moves_every_printed_time_by_hours(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock, skew: float
) -> None:
    body = await _ended_status(
        start_emulator, arm_for, emulator_clock, server_time_skew_seconds=skew
    )
    started = _parse(body["startTime"]).timestamp()
    assert started - time.time() == pytest.approx(skew, abs=60)
    assert _parse(body["endTime"]).timestamp() - started == pytest.approx(30, abs=1e-3)


async def test_timestamps_without_zone_drop_the_z(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    body = await _ended_status(
        start_emulator, arm_for, emulator_clock, timestamps_without_zone=True
    )
    for key in ("startTime", "endTime"):
        assert not body[key].endswith("Z")
        assert len(body[key].rsplit(".", 1)[1]) == 7


async def test_end_time_extra_seconds_makes_the_duration_disagree(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    body = await _ended_status(start_emulator, arm_for, emulator_clock, end_time_extra_seconds=3600)
    duration = _parse(body["endTime"]) - _parse(body["startTime"])
    assert duration.total_seconds() == pytest.approx(3630, abs=1e-3)


@pytest.mark.parametrize(
    ("key", "value"),
    [("server_time_skew_seconds", 8 * 86_400), ("end_time_extra_seconds", -90_000)],
)
def test_time_keys_out_of_range_are_refused(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=key):
        FleetSpec(**{key: value})
