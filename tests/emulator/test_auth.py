"""Bearer tokens on ARM calls, api-version, and the managed-identity token endpoint."""

from __future__ import annotations

import time

import pytest
from arm_client import ArmFor, ArmSession, LocalEmulator, StartEmulator

from orchestrator.emulator import FleetSpec, ManualClock

pytestmark = pytest.mark.integration

AUDIENCE = "https://management.core.windows.net/"


async def _assert_401(arm: ArmSession, headers: dict[str, str], code: str) -> None:
    answer = await arm.get("/subscriptions", headers=headers, auth=False)
    assert answer.status == 401
    assert answer.body["error"]["code"] == code
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


async def test_an_arm_call_without_authorization_is_401_authentication_failed(
    arm: ArmSession,
) -> None:
    await _assert_401(arm, {}, "AuthenticationFailed")


async def test_an_arm_call_with_a_non_bearer_authorization_is_401(arm: ArmSession) -> None:
    await _assert_401(arm, {"Authorization": "Basic dXNlcjpwYXNz"}, "AuthenticationFailed")


async def test_an_arm_call_with_an_unknown_token_is_401_invalid_token(arm: ArmSession) -> None:
    await _assert_401(arm, {"Authorization": "Bearer forged"}, "InvalidAuthenticationToken")


async def test_a_token_works_until_its_lifetime_has_passed(
    start_emulator: StartEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    server = await start_emulator(FleetSpec(token_lifetime_seconds=600))
    arm = arm_for(server)
    token = await arm.bearer()
    emulator_clock.advance(599)
    assert (await arm.get("/subscriptions")).status == 200
    emulator_clock.advance(1)
    await _assert_401(arm, {"Authorization": f"Bearer {token}"}, "ExpiredAuthenticationToken")


async def test_an_arm_call_without_api_version_is_400(arm: ArmSession) -> None:
    answer = await arm.get("/subscriptions", api_version=None)
    assert answer.status == 400
    assert answer.body["error"]["code"] == "MissingApiVersionParameter"


async def test_a_rejected_call_has_no_effect_on_state(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    await arm.get("/subscriptions", headers={"Authorization": "Bearer forged"}, auth=False)
    assert emulator.state.counters.responses[("get", 401)] == 1
    assert emulator.state.counters.throttled["get"] == 0


async def test_the_token_endpoint_answers_what_azure_identity_expects(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    before = int(time.time())
    answer = await arm.token(AUDIENCE)
    assert answer.status == 200
    body = answer.body
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["resource"] == AUDIENCE
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_on"], str)
    assert before + 3600 - 5 <= int(body["expires_on"]) <= int(time.time()) + 3600 + 5
    assert emulator.state.counters.tokens[-1].resource == AUDIENCE
    assert emulator.state.counters.tokens[-1].client_id is None


async def test_the_token_endpoint_records_a_user_assigned_client_id(
    arm: ArmSession, emulator: LocalEmulator
) -> None:
    answer = await arm.token(AUDIENCE, client_id="11111111-2222-3333-4444-555555555555")
    assert answer.body["client_id"] == "11111111-2222-3333-4444-555555555555"
    assert emulator.state.counters.tokens[-1].client_id == "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 400), ({"X-IDENTITY-HEADER": "wrong"}, 401)],
)
async def test_the_token_endpoint_checks_the_identity_header(
    arm: ArmSession, emulator: LocalEmulator, headers: dict[str, str], status: int
) -> None:
    answer = await arm.request(
        "GET",
        emulator.token_endpoint,
        params={"api-version": "2019-08-01", "resource": AUDIENCE},
        headers=headers,
        auth=False,
    )
    assert answer.status == status
    assert emulator.state.counters.tokens == []


@pytest.mark.parametrize("params", [{"api-version": "2019-08-01"}, {"resource": AUDIENCE}])
async def test_the_token_endpoint_needs_api_version_and_resource(
    arm: ArmSession, emulator: LocalEmulator, params: dict[str, str]
) -> None:
    answer = await arm.request(
        "GET",
        emulator.token_endpoint,
        params=params,
        headers={"X-IDENTITY-HEADER": emulator.identity_header},
        auth=False,
    )
    assert answer.status == 400


async def test_token_requests_do_not_count_as_arm_gets(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(FleetSpec(limits={"get": {"calls": 1, "per_seconds": 60}}))
    arm = arm_for(server)
    await arm.bearer()
    for _ in range(3):
        assert (await arm.token()).status == 200
    assert (await arm.get("/subscriptions")).status == 200
    assert server.state.counters.requests["token"] == 4
    assert server.state.counters.requests["get"] == 1
