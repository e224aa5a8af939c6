"""The Python API tests and benchmarks read: EmulatorState, the journal, EmulatorServer."""

from __future__ import annotations

import pytest
from arm_client import ArmFor, StartEmulator
from asr_json import read_mapping, read_mappings

from orchestrator.emulator import (
    EmulatorServer,
    EmulatorState,
    FleetSpec,
    ManualClock,
    build_app,
)

SPEC = FleetSpec(seed=8, subscriptions=2, vaults_per_subscription=3, mappings_per_vault=(1, 3))


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(SPEC, clock=ManualClock())


def test_mapping_finds_an_id_in_any_case(state: EmulatorState) -> None:
    mapping = next(read_mappings(state))
    assert state.mapping(mapping["id"].upper()) == mapping
    assert state.mapping(mapping["id"].lower() + "/") == mapping


def test_mapping_returns_a_copy_the_caller_may_change(state: EmulatorState) -> None:
    mapping = next(read_mappings(state))
    mapping["properties"]["healthErrorDetails"].append({"errorCode": "x"})
    mapping["properties"]["state"] = "Changed"
    assert read_mapping(state, mapping["id"])["properties"]["state"] != "Changed"
    assert (
        read_mapping(state, mapping["id"])["properties"]["healthErrorDetails"]
        == next(read_mappings(state))["properties"]["healthErrorDetails"]
    )


def test_mapping_raises_key_error_for_an_unknown_id(state: EmulatorState) -> None:
    with pytest.raises(KeyError):
        state.mapping(
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
        )


def test_ids_are_listed_in_order(state: EmulatorState) -> None:
    assert len(state.subscription_ids) == 2
    vault_ids = state.vault_ids()
    assert len(vault_ids) == 6
    assert vault_ids[0].startswith(f"/subscriptions/{state.subscription_ids[0]}/")
    assert vault_ids[-1].startswith(f"/subscriptions/{state.subscription_ids[1]}/")
    assert len(list(state.mappings())) == len(state.fleet.mappings)


async def test_the_journal_keeps_only_the_last_journal_size_requests(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC, journal_size=3)
    arm = arm_for(server)
    for _ in range(5):
        await arm.get("/subscriptions", "2022-12-01")
    entries = list(server.state.journal)
    assert len(entries) == 3
    assert all(
        e.method == "GET" and e.path == "/subscriptions" and e.status == 200 for e in entries
    )


async def test_journal_size_zero_keeps_no_journal_but_still_counts(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(SPEC, journal_size=0)
    await arm_for(server).get("/subscriptions", "2022-12-01")
    assert list(server.state.journal) == []
    assert server.state.counters.requests["get"] == 1
    assert server.state.counters.responses[("get", 200)] == 1


def test_the_server_has_no_url_before_it_starts() -> None:
    server = EmulatorServer(SPEC)
    with pytest.raises(RuntimeError):
        _ = server.base_url


async def test_the_server_binds_a_free_loopback_port_and_stops_twice_safely() -> None:
    async with EmulatorServer(SPEC, identity_header="h") as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.port > 0
        assert server.token_endpoint == server.base_url + "/msi/token"
    await server.stop()


def test_the_identity_header_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "from-env")
    assert EmulatorServer(SPEC).identity_header == "from-env"
    monkeypatch.delenv("IDENTITY_HEADER")
    assert EmulatorServer(SPEC).identity_header == "emulator"
    assert EmulatorServer(SPEC, identity_header="given").identity_header == "given"


def test_build_app_serves_a_given_state(state: EmulatorState) -> None:
    app = build_app(state)
    assert len(app.router.routes()) >= 1


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(5.0)
    assert clock() == 5.0
    assert clock.advance(2.5) == 7.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
