"""PATCH of a mapping: validated as ASR does; accepted ones answer 202 with LRO headers (and
``Retry-After`` only when configured), or 200 (at once, or still running with the headers)."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, LocalEmulator, StartEmulator
from asr_json import read_mapping
from requests_for_tests import ACCOUNT, TEST_ACCOUNTS, PatchBody, enable, mapping_in
from yarl import URL

from orchestrator.emulator import Condition, FleetSpec, ManualClock, Shares

pytestmark = pytest.mark.integration

MIXED = FleetSpec(
    seed=3,
    vaults_per_subscription=4,
    mappings_per_vault=(4, 4),
    shares=Shares(not_a2a=0.3, not_paired=0.0, compliant=0.3, unhealthy=0.0),
    operation_seconds=(10.0, 10.0),
    retry_after_seconds=7,
    automation_accounts=TEST_ACCOUNTS,
)


@pytest.fixture
async def mixed(start_emulator: StartEmulator) -> LocalEmulator:
    return await start_emulator(MIXED)


def _without(key: str) -> PatchBody:
    body = enable()
    del body["properties"]["providerSpecificInput"][key]
    return body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidRequestContent"),
        (b"[1, 2]", "InvalidRequestContent"),
        ({"properties": []}, "InvalidRequestContent"),
        ({"properties": {}}, "InvalidRequestContent"),
        ({"properties": {"providerSpecificInput": "A2A"}}, "InvalidRequestContent"),
        (_without("instanceType"), "InvalidInstanceType"),
        (enable(instanceType="InMageRcm"), "InvalidInstanceType"),
        (_without("agentAutoUpdateStatus"), "InvalidAgentAutoUpdateStatus"),
        (enable(agentAutoUpdateStatus="On"), "InvalidAgentAutoUpdateStatus"),
        (enable(agentAutoUpdateStatus=True), "InvalidAgentAutoUpdateStatus"),
        (_without("automationAccountArmId"), "AutomationAccountArmIdRequired"),
        (enable(automationAccountArmId=""), "AutomationAccountArmIdRequired"),
        (enable(automationAccountArmId="aa-asr-fleet"), "InvalidAutomationAccountArmId"),
        (
            enable(
                automationAccountArmId="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/aa"
            ),
            "InvalidAutomationAccountArmId",
        ),
        (enable(automationAccountArmId=7), "InvalidParameterValue"),
        (
            enable(automationAccountAuthenticationType="Certificate"),
            "InvalidAutomationAccountAuthenticationType",
        ),
        (enable(automationAccountAuthenticationType=1), "InvalidParameterValue"),
    ],
)
async def test_an_invalid_body_is_refused_with_400_and_changes_nothing(
    mixed: LocalEmulator, arm_for: ArmFor, body: object, code: str
) -> None:
    mapping_id = mapping_in(mixed, Condition.NEEDS_CHANGE)
    before = mixed.state.mapping(mapping_id)
    answer = await arm_for(mixed).patch(mapping_id, body)
    assert answer.status == 400
    assert answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]
    assert mixed.state.mapping(mapping_id) == before
    assert mixed.state.counters.operations_started == 0


async def test_a_patch_of_a_non_a2a_mapping_is_refused(
    mixed: LocalEmulator, arm_for: ArmFor
) -> None:
    answer = await arm_for(mixed).patch(mapping_in(mixed, Condition.NOT_A2A), enable())
    assert answer.status == 400
    assert answer.body["error"]["code"] == "InvalidProviderSpecificInput"


async def test_a_patch_without_a_json_content_type_is_refused(
    mixed: LocalEmulator, arm_for: ArmFor
) -> None:
    answer = await arm_for(mixed).patch(
        mapping_in(mixed, Condition.NEEDS_CHANGE), enable(), headers={"Content-Type": "text/plain"}
    )
    assert answer.status == 415


async def test_a_patch_of_an_unknown_mapping_is_404(mixed: LocalEmulator, arm_for: ArmFor) -> None:
    unknown = mapping_in(mixed, Condition.NEEDS_CHANGE).rsplit("/", 1)[0] + "/nope"
    answer = await arm_for(mixed).patch(unknown, enable())
    assert answer.status == 404
    assert answer.body["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    "body",
    [
        enable(),
        enable(
            instanceType="a2a",
            agentAutoUpdateStatus="enabled",
            automationAccountAuthenticationType="runasaccount",
        ),
        enable(automationAccountAuthenticationType=None),
        {
            "properties": {
                "providerSpecificInput": {
                    "instanceType": "A2A",
                    "agentAutoUpdateStatus": "Disabled",
                }
            }
        },
        enable(agentAutoUpdateStatus="Disabled", automationAccountArmId=None, unknownKey=1),
    ],
)
async def test_a_valid_patch_is_accepted(
    mixed: LocalEmulator, arm_for: ArmFor, body: object
) -> None:
    answer = await arm_for(mixed).patch(mapping_in(mixed, Condition.NEEDS_CHANGE), body)
    assert answer.status == 202, answer.body


async def test_an_accepted_patch_answers_202_with_both_lro_urls_and_retry_after(
    mixed: LocalEmulator, arm_for: ArmFor
) -> None:
    mapping_id = mapping_in(mixed, Condition.NEEDS_CHANGE)
    answer = await arm_for(mixed).patch(mapping_id, enable())
    assert answer.status == 202
    assert answer.body is None
    assert answer.headers["Retry-After"] == "7"
    status_url = URL(answer.headers["Azure-AsyncOperation"])
    result_url = URL(answer.headers["Location"])
    vault_prefix = mapping_id.split("/replicationFabrics/")[0]
    operation_id = status_url.path.rsplit("/", 1)[1]
    assert str(status_url.origin()) == mixed.base_url
    assert status_url.path == f"{vault_prefix}/replicationOperationStatus/{operation_id}"
    assert status_url.query["api-version"] == "2021-12-01"
    assert str(result_url.origin()) == mixed.base_url
    assert result_url.path == f"{mapping_id}/operationResults/{operation_id}"
    assert result_url.query["api-version"] == "2021-12-01"
    assert mixed.state.counters.operations_started == 1


@pytest.mark.parametrize(
    ("lro_headers", "present", "absent"),
    [
        ("azure_async_operation", "Azure-AsyncOperation", "Location"),
        ("location", "Location", "Azure-AsyncOperation"),
    ],
)
async def test_lro_headers_picks_which_url_a_202_carries(
    start_emulator: StartEmulator, arm_for: ArmFor, lro_headers: str, present: str, absent: str
) -> None:
    server = await start_emulator(MIXED.model_copy(update={"lro_headers": lro_headers}))
    answer = await arm_for(server).patch(mapping_in(server, Condition.NEEDS_CHANGE), enable())
    assert answer.status == 202
    assert present in answer.headers
    assert absent not in answer.headers
    assert "Retry-After" in answer.headers


async def test_an_accepted_patch_carries_no_retry_after_by_default(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(MIXED.model_copy(update={"retry_after_seconds": None}))
    answer = await arm_for(server).patch(mapping_in(server, Condition.NEEDS_CHANGE), enable())
    assert answer.status == 202
    assert "Retry-After" not in answer.headers
    assert {"Azure-AsyncOperation", "Location"} <= set(answer.headers)


async def test_with_accepted_200_rate_one_a_patch_answers_200_with_the_unchanged_mapping_and_runs(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_emulator(MIXED.model_copy(update={"accepted_200_rate": 1.0}))
    arm = arm_for(server)
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    before = server.state.mapping(mapping_id)
    answer = await arm.patch(mapping_id, enable())
    assert answer.status == 200
    assert answer.body == before  # the mapping as it is: the change has not happened yet
    assert {"Azure-AsyncOperation", "Location"} <= set(answer.headers)
    assert server.state.counters.operations_started == 1
    running = await arm.get(answer.headers["Azure-AsyncOperation"])
    assert running.body["status"] == "InProgress"
    emulator_clock.advance(10)
    done = await arm.get(answer.headers["Azure-AsyncOperation"])
    assert done.body["status"] == "Succeeded"
    details = read_mapping(server.state, mapping_id)["properties"]["providerSpecificDetails"]
    assert details["agentAutoUpdateStatus"] == "Enabled"


def test_sync_and_accepted_200_rates_adding_up_to_more_than_one_are_refused() -> None:
    with pytest.raises(ValueError, match="sync_patch_rate and accepted_200_rate"):
        FleetSpec(sync_patch_rate=0.6, accepted_200_rate=0.5)


async def test_with_sync_patch_rate_one_a_patch_is_applied_at_once_and_answers_200(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(MIXED.model_copy(update={"sync_patch_rate": 1.0}))
    mapping_id = mapping_in(server, Condition.NEEDS_CHANGE)
    answer = await arm_for(server).patch(mapping_id, enable())
    assert answer.status == 200
    details = answer.body["properties"]["providerSpecificDetails"]
    assert details["agentAutoUpdateStatus"] == "Enabled"
    assert details["automationAccountArmId"] == ACCOUNT
    assert server.state.mapping(mapping_id) == answer.body
    assert server.state.counters.operations_started == 0


async def test_a_body_over_the_size_cap_is_refused_with_413(
    mixed: LocalEmulator, arm_for: ArmFor
) -> None:
    answer = await arm_for(mixed).patch(
        mapping_in(mixed, Condition.NEEDS_CHANGE), b" " * (1024 * 1024 + 1)
    )
    assert answer.status == 413
    assert answer.body["error"]["code"] == "RequestEntityTooLarge"
    assert mixed.state.counters.responses[("set", 413)] == 1
