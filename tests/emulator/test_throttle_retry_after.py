"""`throttle_retry_after`: what the limits' 429 and the injected `faults.throttle` 429 carry."""

from __future__ import annotations

import pytest
from arm_client import ArmAnswer, ArmFor, StartEmulator

from orchestrator.emulator import Faults, FleetSpec

pytestmark = pytest.mark.integration

LIMITED = {"get": {"calls": 1, "per_seconds": 60}}
EXPECTED = {"honest": "60", "none": None, "zero": "0", "negative": "-1"}


async def _limits_429(start_emulator: StartEmulator, arm_for: ArmFor, policy: str) -> ArmAnswer:
    server = await start_emulator(FleetSpec(limits=LIMITED, throttle_retry_after=policy))
    arm = arm_for(server)
    assert (await arm.get("/subscriptions")).status == 200
    answer = await arm.get("/subscriptions")
    assert answer.status == 429
    return answer


@pytest.mark.parametrize(("policy", "expected"), EXPECTED.items())
async def test_the_limits_429_carries_the_chosen_retry_after(
    start_emulator: StartEmulator, arm_for: ArmFor, policy: str, expected: str | None
) -> None:
    answer = await _limits_429(start_emulator, arm_for, policy)
    assert answer.headers.get("Retry-After") == expected
    assert answer.body["error"]["code"] == "TooManyRequests"


@pytest.mark.parametrize(
    ("policy", "expected"), [("honest", "1"), ("none", None), ("zero", "0"), ("negative", "-1")]
)
async def test_the_injected_429_carries_the_chosen_retry_after(
    start_emulator: StartEmulator, arm_for: ArmFor, policy: str, expected: str | None
) -> None:
    server = await start_emulator(
        FleetSpec(faults=Faults(throttle=1.0), throttle_retry_after=policy)
    )
    answer = await arm_for(server).get("/subscriptions")
    assert answer.status == 429
    assert answer.headers.get("Retry-After") == expected


def test_honest_is_the_default() -> None:
    assert FleetSpec().throttle_retry_after == "honest"


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="throttle_retry_after"):
        FleetSpec(throttle_retry_after="later")
