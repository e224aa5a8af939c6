"""Token audiences: ARM accepts a token only for one of its audiences (`token_audiences`)."""

from __future__ import annotations

import pydantic
import pytest
from arm_client import ArmFor, ArmSession, StartEmulator

from orchestrator.emulator import ARM_AUDIENCES, FleetSpec

pytestmark = pytest.mark.integration


async def _status_with_token_for(
    arm: ArmSession, resource: str
) -> tuple[int, dict[str, str] | None]:
    token = (await arm.token(resource)).body["access_token"]
    answer = await arm.get("/subscriptions", headers={"Authorization": f"Bearer {token}"})
    return answer.status, (answer.body or {}).get("error")


def test_the_default_audiences_are_the_public_clouds_arm_audiences() -> None:
    assert (
        FleetSpec().token_audiences
        == ARM_AUDIENCES
        == (
            "https://management.core.windows.net/",
            "https://management.core.windows.net",
            "https://management.azure.com/",
            "https://management.azure.com",
        )
    )


@pytest.mark.parametrize("resource", [*ARM_AUDIENCES, "HTTPS://MANAGEMENT.AZURE.COM"])
async def test_a_token_for_an_arm_audience_is_accepted(arm: ArmSession, resource: str) -> None:
    assert await _status_with_token_for(arm, resource) == (200, None)


async def test_a_token_for_another_audience_is_401_invalid_authentication_token_audience(
    arm: ArmSession,
) -> None:
    status, error = await _status_with_token_for(arm, "https://vault.azure.net")
    assert status == 401
    assert error is not None
    assert error["code"] == "InvalidAuthenticationTokenAudience"
    assert error["message"] == (
        "The access token has been obtained for wrong audience or resource "
        "'https://vault.azure.net'. It should exactly match with one of the allowed audiences "
        "'https://management.core.windows.net/','https://management.core.windows.net',"
        "'https://management.azure.com/','https://management.azure.com'."
    )


async def test_token_audiences_choose_another_clouds_audience(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    gov = "https://management.usgovcloudapi.net/"
    server = await start_emulator(FleetSpec(token_audiences=(gov,)))
    arm = arm_for(server)
    assert await _status_with_token_for(arm, gov) == (200, None)
    status, _ = await _status_with_token_for(arm, "https://management.azure.com/")
    assert status == 401


async def test_a_wrong_audience_is_refused_before_any_limit_is_spent(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(FleetSpec(limits={"get": {"calls": 1, "per_seconds": 60}}))
    arm = arm_for(server)
    for _ in range(3):
        assert (await _status_with_token_for(arm, "https://graph.microsoft.com"))[0] == 401
    assert (await arm.get("/subscriptions")).status == 200


@pytest.mark.parametrize("audiences", [(), ("",)])
def test_an_empty_audience_list_or_audience_is_refused(audiences: tuple[str, ...]) -> None:
    with pytest.raises(pydantic.ValidationError, match="token_audiences"):
        FleetSpec(token_audiences=audiences)
