"""``api-version``: checked per resource provider as ARM does (400 InvalidApiVersionParameter),
missing is 400 MissingApiVersionParameter, and `check_api_version: false` accepts anything."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, Emulator, StartEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import (
    ASR_VERSIONS,
    AUTOMATION_VERSIONS,
    SUBSCRIPTION_VERSIONS,
    VAULT_VERSIONS,
    FleetSpec,
    fleet_automation_account,
)

pytestmark = pytest.mark.integration

SPEC = FleetSpec(seed=6, vaults_per_subscription=1, automation_accounts=TEST_ACCOUNTS)
VAULTS = "/subscriptions/{}/providers/Microsoft.RecoveryServices/vaults"


def _urls(server: Emulator) -> dict[str, tuple[str, tuple[str, ...]]]:
    """A URL per resource provider, and the versions it knows."""
    sub = server.state.subscription_ids[0]
    vault = server.state.vault_ids()[0]
    return {
        "subscriptions": ("/subscriptions", SUBSCRIPTION_VERSIONS),
        "subscription": (f"/subscriptions/{sub}", SUBSCRIPTION_VERSIONS),
        "vaults": (VAULTS.format(sub), VAULT_VERSIONS),
        "automation": (fleet_automation_account(sub), AUTOMATION_VERSIONS),
        "asr mappings": (f"{vault}/replicationProtectionContainerMappings", ASR_VERSIONS),
        "asr fabrics": (f"{vault}/replicationFabrics", ASR_VERSIONS),
        "asr items": (f"{vault}/replicationProtectedItems", ASR_VERSIONS),
    }


def test_the_asr_versions_are_the_stable_ones_from_2018_01_10_to_2025_08_01() -> None:
    assert ASR_VERSIONS[0] == "2018-01-10"
    assert ASR_VERSIONS[-1] == "2025-08-01"
    assert len(ASR_VERSIONS) == 31
    assert list(ASR_VERSIONS) == sorted(set(ASR_VERSIONS))
    for version in ("2021-12-01", "2022-08-01", "2022-09-10", "2024-10-01", "2025-02-01"):
        assert version in ASR_VERSIONS


def test_the_versions_the_tool_uses_are_known() -> None:
    assert "2023-04-01" in VAULT_VERSIONS
    assert {"2022-12-01", "2020-01-01", "2021-01-01", "2016-06-01"} <= set(SUBSCRIPTION_VERSIONS)
    assert {"2023-11-01", "2022-08-08", "2019-06-01", "2015-10-31"} <= set(AUTOMATION_VERSIONS)


async def test_every_known_version_is_accepted_on_each_provider(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC)
    arm = arm_for(server)
    for url, versions in _urls(server).values():
        for version in versions:
            assert (await arm.get(url, version)).status == 200, (url, version)


@pytest.mark.parametrize(
    "provider",
    [
        "subscriptions",
        "subscription",
        "vaults",
        "automation",
        "asr mappings",
        "asr fabrics",
        "asr items",
    ],
)
async def test_an_unknown_version_is_400_invalid_api_version_parameter(
    start_emulator: StartEmulator, arm_for: ArmFor, provider: str
) -> None:
    server = await start_emulator(SPEC)
    url, versions = _urls(server)[provider]
    answer = await arm_for(server).get(url, "2099-01-01")
    assert answer.status == 400
    assert answer.body["error"]["code"] == "InvalidApiVersionParameter"
    message = answer.body["error"]["message"]
    assert message.startswith(
        "The api-version '2099-01-01' is invalid. The supported versions are '"
    )
    assert versions[-1] in message and versions[0] in message


async def test_a_version_of_another_provider_is_refused(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC)
    vault = server.state.vault_ids()[0]
    answer = await arm_for(server).get(f"{vault}/replicationFabrics", "2022-12-01")
    assert answer.body["error"]["code"] == "InvalidApiVersionParameter"


async def test_a_patch_with_an_unknown_version_is_refused_before_it_is_admitted(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC)
    answer = await arm_for(server).patch(
        changeable(server)[0], ENABLE, params={"api-version": "2016-08-10"}
    )
    assert answer.status == 400
    assert server.state.counters.operations_started == 0
    assert server.state.counters.throttled["set"] == 0


async def test_a_missing_version_is_400_missing_api_version_parameter(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC)
    answer = await arm_for(server).get(server.state.vault_ids()[0] + "/replicationFabrics", None)
    assert answer.status == 400
    assert answer.body["error"]["code"] == "MissingApiVersionParameter"


async def test_without_check_api_version_any_version_is_accepted(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC.model_copy(update={"check_api_version": False}))
    arm = arm_for(server)
    for url, _ in _urls(server).values():
        assert (await arm.get(url, "2099-01-01")).status == 200, url
