"""ARM paths are case-insensitive over HTTP: ids come back as /Subscriptions/…, clients send either."""

from __future__ import annotations

import pytest
from arm_client import ArmSession, LocalEmulator
from asr_json import read_mapping
from requests_for_tests import ENABLE
from yarl import URL

from orchestrator.emulator import Condition, ManualClock

pytestmark = pytest.mark.integration


def _respell(path: str, how: str) -> str:
    if how == "lower":
        return path.lower()
    if how == "upper":
        return path.upper()
    return path.replace("/Subscriptions/", "/subscriptions/", 1)


@pytest.mark.parametrize("how", ["lower", "upper", "lowercase-s"])
async def test_lists_and_mappings_answer_in_any_case(
    arm: ArmSession, emulator: LocalEmulator, how: str
) -> None:
    vault_id = emulator.state.vault_ids()[0]
    listed = await arm.list_all(_respell(f"{vault_id}/replicationProtectionContainerMappings", how))
    assert listed[0] == next(emulator.state.mappings())
    answer = await arm.get(_respell(listed[0]["id"], how))
    assert answer.status == 200
    assert answer.body["id"] == listed[0]["id"]  # the canonical spelling, whatever was sent
    sub = emulator.state.subscription_ids[0]
    vaults = await arm.get(
        _respell(f"/subscriptions/{sub}/providers/Microsoft.RecoveryServices/vaults", how),
        "2023-04-01",
    )
    assert vaults.status == 200


@pytest.mark.parametrize("how", ["lower", "upper"])
async def test_patch_and_its_operation_urls_answer_in_any_case(
    arm: ArmSession, emulator: LocalEmulator, emulator_clock: ManualClock, how: str
) -> None:
    mapping_id = next(
        m.id
        for m in emulator.state.fleet.mappings.values()
        if m.condition is Condition.NEEDS_CHANGE
    )
    accepted = await arm.patch(_respell(mapping_id, how), ENABLE)
    assert accepted.status == 202
    for header in ("Azure-AsyncOperation", "Location"):
        url = URL(accepted.headers[header])
        answer = await arm.get(str(url.with_path(_respell(url.path, how))))
        assert answer.status in (200, 202), header
    emulator_clock.advance(20)
    assert (
        read_mapping(emulator.state, mapping_id.lower())["properties"]["providerSpecificDetails"][
            "agentAutoUpdateStatus"
        ]
        == "Enabled"
    )


async def test_the_token_endpoint_path_is_case_insensitive(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    answer = await arm.request(
        "GET",
        emulator.base_url + "/MSI/Token",
        params={"api-version": "2019-08-01", "resource": "https://management.core.windows.net/"},
        headers={"X-IDENTITY-HEADER": emulator.identity_header},
        auth=False,
    )
    assert answer.status == 200
