"""The statistics endpoints: counters and journal as JSON, no token, never counted as ARM calls."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, LocalEmulator, StartEmulator
from requests_for_tests import ENABLE, changeable

from orchestrator.emulator import FleetSpec, ManualClock
from orchestrator.emulator.fleet_spec import Shares

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    vaults_per_subscription=2,
    mappings_per_vault=(2, 2),
    shares=Shares(not_a2a=0, not_paired=0, compliant=0, unhealthy=0),
    operation_seconds=(10.0, 10.0),
    limits={"set": {"calls": 2, "per_seconds": 60}, "get": {"calls": 100, "per_seconds": 100}},
)


@pytest.fixture
async def server(start_emulator: StartEmulator) -> LocalEmulator:
    return await start_emulator(SPEC)


async def test_counters_need_no_token_and_are_not_counted(
    server: LocalEmulator, arm_for: ArmFor
) -> None:
    arm = arm_for(server)
    answer = await arm.request("GET", "/_emulator/counters", auth=False)
    again = await arm.request("GET", "/_emulator/counters", auth=False)
    assert answer.status == 200 and again.status == 200
    assert again.body["requests"] == {}
    assert again.body["journal"]["entries"] == 0
    assert not server.state.counters.requests


async def test_counters_report_requests_peaks_limits_and_throttling(
    server: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(server), changeable(server)
    accepted = [await arm.patch(mapping_id, ENABLE) for mapping_id in mappings[:3]]
    assert [a.status for a in accepted] == [202, 202, 429]
    emulator_clock.advance(11)
    await arm.get(accepted[0].headers["Azure-AsyncOperation"])
    await arm.get(accepted[0].headers["Azure-AsyncOperation"])
    await arm.get(accepted[1].headers["Azure-AsyncOperation"])

    body = (await arm.request("GET", "/_emulator/counters", auth=False)).body

    assert body["requests"] == {"set": 3, "get": 3, "token": 1}
    assert body["throttled"] == {"set": 1}
    assert body["peak_window"] == {"get": 3, "set": 3}
    assert body["limits"]["set"] == {"calls": 2, "per_seconds": 60}
    assert {"kind": "set", "status": 429, "count": 1} in body["responses"]
    assert body["operations_started"] == 2
    assert body["polls_per_operation"] == {"1": 1, "2": 1}
    assert body["clock"] == pytest.approx(emulator_clock(), abs=1e-6)


async def test_the_journal_lists_requests_oldest_first_and_filters_by_kind(
    server: LocalEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    arm, mappings = arm_for(server), changeable(server)
    first = await arm.patch(mappings[0], ENABLE)
    emulator_clock.advance(2)
    await arm.get(first.headers["Azure-AsyncOperation"])
    emulator_clock.advance(1)
    await arm.patch(mappings[1], ENABLE)

    sets = (await arm.request("GET", "/_emulator/journal?kind=set", auth=False)).body
    everything = (await arm.request("GET", "/_emulator/journal", auth=False)).body

    times = [entry["time"] for entry in sets["entries"]]
    assert [entry["method"] for entry in sets["entries"]] == ["PATCH", "PATCH"]
    assert times[1] - times[0] == pytest.approx(3.0)
    assert sets["entries"][0]["status"] == 202 and sets["entries"][0]["operation_id"]
    assert [entry["kind"] for entry in everything["entries"]] == ["token", "set", "get", "set"]


async def test_an_unknown_journal_kind_is_refused(server: LocalEmulator, arm_for: ArmFor) -> None:
    answer = await arm_for(server).request("GET", "/_emulator/journal?kind=patch", auth=False)
    assert answer.status == 400
    assert "patch" in answer.body["error"]["message"]
