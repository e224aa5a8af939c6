"""`serve`: the emulator answered from plain data, the same as over HTTP, on any event loop."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType

import pytest
from arm_client import ArmFor, ArmSession, LocalEmulator, StartHttpEmulator
from requests_for_tests import ENABLE, TEST_ACCOUNTS, changeable

from orchestrator.emulator import (
    NO_ANSWER,
    EmulatorState,
    Faults,
    FleetSpec,
    InboundRequest,
    ManualClock,
    serve,
)

BASE = "https://management.emulator.test"
SPEC = FleetSpec(
    seed=12,
    vaults_per_subscription=2,
    mappings_per_vault=(3, 3),
    page_size=2,
    operation_seconds=(20.0, 20.0),
    operation_failure_rate=0.0,
    automation_accounts=TEST_ACCOUNTS,
)


def _virtual_clock() -> ModuleType:
    """The project's virtual-time event loop (a test helper of the tool's unit tests)."""
    path = Path(__file__).resolve().parents[1] / "unit" / "virtual_clock.py"
    spec = importlib.util.spec_from_file_location("emulator_tests_virtual_clock", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _token(state: EmulatorState) -> str:
    answer = await serve(
        state,
        InboundRequest(
            "GET",
            f"{BASE}/msi/token?api-version=2019-08-01&resource=https://management.azure.com/",
            {"X-IDENTITY-HEADER": state.identity_header},
        ),
    )
    assert answer.status == 200
    return str(answer.json()["access_token"])


async def test_serve_answers_a_token_request_and_an_arm_call_given_as_plain_data() -> None:
    state = EmulatorState(SPEC, clock=ManualClock())
    token = await _token(state)
    answer = await serve(
        state,
        InboundRequest(
            "GET",
            f"{BASE}/subscriptions?api-version=2022-12-01",
            {"authorization": f"bearer {token}"},
        ),
    )
    assert answer.status == 200
    assert not answer.dropped
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.headers["x-ms-request-id"]
    assert [s["subscriptionId"] for s in answer.json()["value"]] == state.subscription_ids
    assert state.counters.requests["get"] == 1
    assert [entry.path for entry in state.journal] == ["/msi/token", "/subscriptions"]


async def test_links_point_at_the_origin_of_the_url_as_sent() -> None:
    state = EmulatorState(SPEC, clock=ManualClock())
    token = await _token(state)
    vault = state.vault_ids()[0]
    url = f"https://example.invalid:8443{vault}/replicationProtectionContainerMappings?api-version=2021-12-01"
    answer = await serve(state, InboundRequest("GET", url, {"Authorization": f"Bearer {token}"}))
    assert answer.json()["nextLink"].startswith(f"https://example.invalid:8443{vault}/")


async def test_a_dropped_answer_is_marked_dropped_with_no_status() -> None:
    state = EmulatorState(SPEC.model_copy(update={"faults": Faults(drop=1.0)}), clock=ManualClock())
    token = await _token(state)
    request = InboundRequest(
        "GET", f"{BASE}/subscriptions?api-version=2022-12-01", {"Authorization": f"Bearer {token}"}
    )
    answer = await serve(state, request)
    assert answer.dropped
    assert (answer.status, answer.body) == (NO_ANSWER, b"")


async def test_statistics_are_served_in_process_too() -> None:
    state = EmulatorState(SPEC, clock=ManualClock())
    await _token(state)
    answer = await serve(state, InboundRequest("GET", f"{BASE}/_emulator/counters"))
    assert answer.status == 200
    assert answer.json()["requests"] == {"token": 1}


def test_serve_runs_on_a_virtual_time_loop_with_no_clock_but_the_loops() -> None:
    virtual = _virtual_clock()
    spec = SPEC.model_copy(update={"faults": Faults(slow_after_effect=1.0, slow_seconds=600)})

    async def scenario() -> tuple[float, int, str]:
        loop = asyncio.get_running_loop()
        state = EmulatorState(spec)  # the running loop's clock: virtual here
        emulator = LocalEmulator(state)
        arm = ArmSession(emulator, None)
        mapping_id = changeable(emulator)[0]
        started = loop.time()
        accepted = await arm.patch(mapping_id, ENABLE)  # answered 600 s (virtual) later
        waited = loop.time() - started
        status = (await arm.get(accepted.headers["Azure-AsyncOperation"])).body["status"]
        return waited, accepted.status, status

    real_start = time.monotonic()
    waited, accepted, status = virtual.run_virtual(scenario())
    assert waited >= 600
    assert time.monotonic() - real_start < 5  # virtual seconds, not real ones
    assert (accepted, status) == (202, "Succeeded")  # 600 s passed: the 20 s operation ended


async def test_the_http_server_and_serve_give_the_same_answers(
    start_http_emulator: StartHttpEmulator, arm_for: ArmFor, emulator_clock: ManualClock
) -> None:
    http = await start_http_emulator(SPEC)
    local = LocalEmulator(EmulatorState(SPEC, clock=emulator_clock))
    seen = []
    for server in (http, local):
        arm = arm_for(server)
        vault = server.state.vault_ids()[0]
        mapping_id = changeable(server)[0]
        answers = [
            await arm.get("/subscriptions"),
            await arm.get(f"{vault}/replicationProtectionContainerMappings"),
            await arm.patch(mapping_id, ENABLE),
            await arm.patch(mapping_id, ENABLE),
            await arm.get(mapping_id, "1999-01-01"),
        ]
        text = json.dumps([(a.status, a.body) for a in answers]).replace(server.base_url, "BASE")
        seen.append((text, server.state.counters.responses))
    assert seen[0] == seen[1]


@pytest.mark.parametrize("name", ["content-type", "CONTENT-TYPE", "Content-Type"])
async def test_request_headers_are_matched_whatever_their_case(name: str) -> None:
    state = EmulatorState(SPEC, clock=ManualClock())
    token = await _token(state)
    mapping_id = changeable(LocalEmulator(state))[0]
    answer = await serve(
        state,
        InboundRequest(
            "PATCH",
            f"{BASE}{mapping_id}?api-version=2021-12-01",
            {"AUTHORIZATION": f"Bearer {token}", name: "application/json"},
            json.dumps(ENABLE).encode(),
        ),
    )
    assert answer.status == 202
