"""Microsoft's own SDK as a client of the emulator, agreeing with the tool.

`azure-mgmt-recoveryservicessiterecovery` (async), pointed at the emulator over loopback with a
managed-identity credential from azure-identity that the emulator's token endpoint serves, lists
every vault's mappings, lists them container by container, and updates one mapping through its
long-running-operation poller to the end. What it reads is what the tool's `plan` (the CLI, on
the same emulator) reports, and updating a mapping to what that plan says `apply` would set
leaves it as the plan described.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from asr_json import read_mapping
from azure.identity.aio import ManagedIdentityCredential
from azure.mgmt.recoveryservicessiterecovery import models
from azure.mgmt.recoveryservicessiterecovery.aio import SiteRecoveryManagementClient
from cli_support import RunCli, StartEmulator, cli_env, fleet_account, write_config

from orchestrator.emulator import ASR_VERSIONS, EmulatorServer

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 77,
    "subscriptions": 1,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [2, 4],
    "operation_seconds": [0.2, 0.4],
    "operation_failure_rate": 0.0,
}
API_VERSION = "2021-12-01"


class _Transport(TypedDict):
    """What each SDK call is given on top: azure-core's ``enforce_https``."""

    enforce_https: bool


HTTP: _Transport = {"enforce_https": False}  # the emulator serves plain HTTP on loopback


@pytest.fixture
async def sdk(
    start_emulator: StartEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[EmulatorServer, SiteRecoveryManagementClient]]:
    server = await start_emulator(**FLEET)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.token_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
    async with (
        ManagedIdentityCredential() as credential,
        SiteRecoveryManagementClient(
            credential,
            server.state.subscription_ids[0],
            base_url=server.base_url,
            api_version=API_VERSION,
            polling_interval=0.1,
        ) as client,
    ):
        yield server, client


def settings(details: Any) -> tuple[str | None, str | None, str | None]:
    """(status, account, authentication type) of a mapping's A2A details (SDK or report)."""
    if isinstance(details, dict) and "agent_auto_update_status" in details:  # the report's
        keys = ("agent_auto_update_status", "automation_account_arm_id", "authentication_type")
    else:  # the SDK's model, a mapping of REST names
        keys = ("agentAutoUpdateStatus", "automationAccountArmId", "automationAccountAuthenticationType")  # fmt: skip
    return tuple(details.get(key) for key in keys)


def _parts(mapping_id: str) -> tuple[str, str, str, str, str]:
    """(resource group, vault, fabric, container, mapping) of a mapping id."""
    p = mapping_id.strip("/").split("/")
    return p[3], p[7], p[9], p[11], p[13]


async def test_the_sdk_reads_what_the_tool_plans_and_its_update_lands_as_planned(
    sdk: tuple[EmulatorServer, SiteRecoveryManagementClient], run_cli: RunCli, tmp_path: Path
) -> None:
    server, client = sdk
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    plan = await run_cli("plan", str(config), env=cli_env(server))
    assert plan.exit_code == 0, plan.stderr[-2000:]

    assert API_VERSION in ASR_VERSIONS
    mappings = client.replication_protection_container_mappings
    listed: dict[str, Any] = {}
    for record in server.state.fleet.vaults.values():
        async for mapping in mappings.list(record.resource_group, record.name, **HTTP):
            assert mapping.id is not None
            listed[mapping.id.lower()] = mapping
    by_container: dict[str, Any] = {}
    for group, vault, fabric, container in {_parts(key)[:4] for key in listed}:
        pager = mappings.list_by_replication_protection_containers(
            group, vault, fabric, container, **HTTP
        )
        async for mapping in pager:
            assert mapping.id is not None
            by_container[mapping.id.lower()] = mapping
    assert by_container.keys() == listed.keys() == set(server.state.fleet.mappings)

    assert plan.report is not None
    planned = {m["id"].lower(): m for v in plan.report["vaults"] for m in v["mappings"]}
    assert planned.keys() == listed.keys()
    for key, mapping in listed.items():
        details = mapping.properties.provider_specific_details
        if planned[key]["skip_reason"] == "not_a2a":
            assert details is None or details.get("instanceType") != "A2A"
            continue
        assert settings(details) == settings(planned[key]["before"]), key
        assert mapping.properties.state == planned[key]["before"]["state"]

    key = next(k for k, m in planned.items() if m["result"] == "would_change")
    desired = planned[key]["desired"]
    group, vault, fabric, container, name = _parts(key)
    wanted = models.UpdateProtectionContainerMappingInput(
        properties=models.UpdateProtectionContainerMappingInputProperties(
            provider_specific_input=models.A2AUpdateContainerMappingInput(
                agent_auto_update_status=desired["agent_auto_update_status"],
                automation_account_arm_id=desired["automation_account_arm_id"],
                automation_account_authentication_type=desired["authentication_type"],
            )
        )
    )
    poller = await mappings.begin_update(group, vault, fabric, container, name, wanted, **HTTP)
    updated = await poller.result()
    assert poller.status() == "Succeeded"
    expected = ("Enabled", fleet_account(server), "SystemAssignedIdentity")
    assert settings(desired) == expected
    assert updated.properties is not None
    assert settings(updated.properties.provider_specific_details) == expected
    now = read_mapping(server.state, key)["properties"]["providerSpecificDetails"]
    assert settings(now) == expected
    assert server.state.counters.operations_started == 1  # one PATCH, tracked to its end
