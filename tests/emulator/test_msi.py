"""azure-identity's real async ManagedIdentityCredential gets a token from the emulator (HTTP),
for the audience ARM accepts."""

from __future__ import annotations

import pytest
from arm_client import ArmSession, StartHttpEmulator
from azure.identity.aio import ManagedIdentityCredential

from orchestrator.emulator import EmulatorServer, FleetSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def emulator(
    start_http_emulator: StartHttpEmulator, emulator_spec: FleetSpec
) -> EmulatorServer:
    return await start_http_emulator(emulator_spec)


@pytest.fixture
def identity_env(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> None:
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emulator.token_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emulator.identity_header)


@pytest.mark.usefixtures("identity_env")
async def test_a_managed_identity_token_from_the_emulator_works_on_arm(
    arm: ArmSession, emulator: EmulatorServer
) -> None:
    async with ManagedIdentityCredential() as credential:
        token = await credential.get_token("https://management.core.windows.net//.default")
    answer = await arm.get(
        "/subscriptions", "2022-12-01", headers={"Authorization": f"Bearer {token.token}"}
    )
    assert answer.status == 200
    assert [s["subscriptionId"] for s in answer.body["value"]] == emulator.state.subscription_ids
    issued = emulator.state.counters.tokens
    assert [(t.resource, t.client_id) for t in issued] == [
        ("https://management.core.windows.net/", None)
    ]


@pytest.mark.usefixtures("identity_env")
async def test_a_user_assigned_identity_s_client_id_reaches_the_emulator(
    emulator: EmulatorServer,
) -> None:
    client_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    async with ManagedIdentityCredential(client_id=client_id) as credential:
        token = await credential.get_token("https://management.core.windows.net//.default")
    assert token.token
    assert emulator.state.counters.tokens[-1].client_id == client_id


@pytest.mark.usefixtures("identity_env")
async def test_a_token_for_the_azure_com_scope_is_accepted_too(
    arm: ArmSession, emulator: EmulatorServer
) -> None:
    async with ManagedIdentityCredential() as credential:
        token = await credential.get_token("https://management.azure.com/.default")
    answer = await arm.get("/subscriptions", headers={"Authorization": f"Bearer {token.token}"})
    assert answer.status == 200
    assert emulator.state.counters.tokens[-1].resource == "https://management.azure.com"
