"""The Azure-AsyncOperation status body as recorded from ASR, and `tidy_bodies` for the old one."""

from __future__ import annotations

import re

import pytest
from arm_client import ArmAnswer, ArmFor, ArmSession, StartEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable
from yarl import URL

from orchestrator.emulator import FleetSpec, ManualClock

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    seed=9,
    vaults_per_subscription=2,
    mappings_per_vault=(2, 2),
    operation_seconds=(12.5, 12.5),
    operation_failure_rate=0.0,
    automation_accounts=TEST_ACCOUNTS,
)
SEVEN_DIGITS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
RECORDED_KEYS = {
    "id",
    "name",
    "status",
    "startTime",
    "endTime",
    "error",
    "properties",
    "percentComplete",
}


async def _status(
    start_emulator: StartEmulator,
    arm_for: ArmFor,
    clock: ManualClock,
    advance: float,
    **changes: object,
) -> tuple[ArmAnswer, ArmAnswer, ArmSession]:
    """(the PATCH's answer, the status read ``advance`` seconds later, the client)."""
    server = await start_emulator(SPEC.model_copy(update=changes))
    arm = arm_for(server)
    accepted = await arm.patch(changeable(server)[0], ENABLE)
    clock.advance(advance)
    return accepted, await arm.get(accepted.headers["Azure-AsyncOperation"]), arm


async def test_a_running_operation_reads_with_exactly_the_recorded_keys_and_nulls(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    accepted, status, _ = await _status(start_emulator, arm_for, emulator_clock, 1)
    assert status.status == 200
    assert set(status.body) == RECORDED_KEYS
    operation_id = URL(accepted.headers["Azure-AsyncOperation"]).path.rsplit("/", 1)[1]
    assert status.body == {
        "id": None,
        "name": operation_id,
        "status": "InProgress",
        "startTime": status.body["startTime"],
        "endTime": None,
        "error": None,
        "properties": None,
        "percentComplete": None,
    }
    assert SEVEN_DIGITS_Z.match(status.body["startTime"])
    assert "Retry-After" not in status.headers


async def test_an_ended_operation_has_an_end_time_in_whole_seconds(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    _, status, _ = await _status(start_emulator, arm_for, emulator_clock, 13)
    assert status.body["status"] == "Succeeded"
    assert set(status.body) == RECORDED_KEYS
    assert SEVEN_DIGITS_Z.match(status.body["endTime"])
    assert status.body["endTime"].endswith(".0000000Z")
    assert status.body["error"] is None


async def test_a_failed_operation_reads_with_its_error(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    _, status, _ = await _status(
        start_emulator, arm_for, emulator_clock, 13, operation_failure_rate=1.0
    )
    assert status.body["status"] == "Failed"
    assert set(status.body["error"]) == {"code", "message"}


async def test_tidy_bodies_give_the_status_id_and_leave_out_what_is_null(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    accepted, running, arm = await _status(
        start_emulator, arm_for, emulator_clock, 1, tidy_bodies=True
    )
    assert set(running.body) == {"id", "name", "status", "startTime"}
    assert running.body["id"] == URL(accepted.headers["Azure-AsyncOperation"]).path
    emulator_clock.advance(12)
    done = (await arm.get(accepted.headers["Azure-AsyncOperation"])).body
    assert set(done) == {"id", "name", "status", "startTime", "endTime"}
    assert not done["endTime"].endswith(".0000000Z")  # to the microsecond, not whole seconds


async def test_the_location_url_answers_202_without_retry_after_while_running(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC)
    arm = arm_for(server)
    accepted = await arm.patch(changeable(server)[0], ENABLE)
    running = await arm.get(accepted.headers["Location"])
    assert running.status == 202
    assert "Retry-After" not in running.headers
    assert running.headers["Location"] == accepted.headers["Location"]
