"""Fleet generation: deterministic from the seed, shaped like ASR's examples, shares respected."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from asr_json import A2ADetailsJson, MappingJson, as_mapping

from orchestrator.emulator import Condition, EmulatorState, FleetSpec, generate_fleet
from orchestrator.emulator.fleet_spec import Shares
from orchestrator.emulator.payloads import mapping_json

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _snapshot(spec: FleetSpec) -> list[object]:
    fleet = generate_fleet(spec)
    return [
        [s.id for s in fleet.subscriptions],
        [v.id for v in fleet.vaults.values()],
        [mapping_json(m) for m in fleet.mappings.values()],
    ]


def test_same_seed_generates_the_same_fleet() -> None:
    spec = FleetSpec(seed=42, subscriptions=3, vaults_per_subscription=7)
    assert _snapshot(spec) == _snapshot(spec.model_copy())


def test_a_different_seed_generates_a_different_fleet() -> None:
    assert _snapshot(FleetSpec(seed=1)) != _snapshot(FleetSpec(seed=2))


def test_generation_leaves_the_global_random_generator_alone() -> None:
    random.seed(99)
    before = random.getstate()
    generate_fleet(FleetSpec(seed=5, vaults_per_subscription=50))
    assert random.getstate() == before


def test_subscriptions_vaults_and_resource_groups_follow_the_spec() -> None:
    spec = FleetSpec(
        subscriptions=3, vaults_per_subscription=12, resource_groups_per_subscription=4
    )
    fleet = generate_fleet(spec)
    assert len(fleet.subscriptions) == 3
    assert all(UUID.match(s.id) for s in fleet.subscriptions)
    assert len({s.id for s in fleet.subscriptions}) == 3
    first = fleet.subscriptions[0]
    assert [v.name for v in first.vaults][:3] == ["vault-s1-001", "vault-s1-002", "vault-s1-003"]
    assert {v.resource_group for v in first.vaults} == {"rg-dr-1", "rg-dr-2", "rg-dr-3", "rg-dr-4"}
    assert Counter(v.resource_group for v in first.vaults) == Counter(
        {"rg-dr-1": 3, "rg-dr-2": 3, "rg-dr-3": 3, "rg-dr-4": 3}
    )
    vault = first.vaults[0]
    assert vault.id == (
        f"/subscriptions/{first.id}/resourceGroups/rg-dr-1"
        "/providers/Microsoft.RecoveryServices/vaults/vault-s1-001"
    )
    assert len(fleet.vaults) == 36


def test_mapping_counts_stay_within_the_inclusive_range() -> None:
    fleet = generate_fleet(FleetSpec(vaults_per_subscription=100, mappings_per_vault=(2, 4)))
    counts = Counter(len(v.mappings) for v in fleet.vaults.values())
    assert set(counts) == {2, 3, 4}


def test_shares_are_roughly_respected_on_a_large_fleet() -> None:
    shares = Shares(not_a2a=0.1, not_paired=0.05, compliant=0.3, unhealthy=0.05, run_as_account=0.1)
    spec = FleetSpec(
        seed=3,
        subscriptions=4,
        vaults_per_subscription=1000,
        mappings_per_vault=(2, 2),
        shares=shares,
    )
    fleet = generate_fleet(spec)
    total = len(fleet.mappings)
    assert total == 8000
    seen = Counter(m.condition for m in fleet.mappings.values())
    expected = {
        Condition.NOT_A2A: 0.1,
        Condition.NOT_PAIRED: 0.05,
        Condition.COMPLIANT: 0.3,
        Condition.UNHEALTHY: 0.05,
        Condition.RUN_AS_ACCOUNT: 0.1,
        Condition.NEEDS_CHANGE: 0.4,
    }
    for condition, share in expected.items():
        assert seen[condition] / total == pytest.approx(share, abs=0.02), condition


def _by_condition(spec: FleetSpec) -> dict[Condition, MappingJson]:
    fleet = generate_fleet(spec)
    found: dict[Condition, MappingJson] = {}
    for record in fleet.mappings.values():
        found.setdefault(record.condition, as_mapping(mapping_json(record)))
    return found


@pytest.fixture(scope="module")
def samples() -> dict[Condition, MappingJson]:
    shares = Shares(
        not_a2a=0.15, not_paired=0.15, compliant=0.15, unhealthy=0.15, run_as_account=0.15
    )
    found = _by_condition(FleetSpec(seed=11, vaults_per_subscription=40, shares=shares))
    assert set(found) == set(Condition)
    return found


def _details(mapping: MappingJson) -> A2ADetailsJson:
    properties = mapping["properties"]
    assert isinstance(properties, dict)
    details = properties["providerSpecificDetails"]
    assert isinstance(details, dict)
    return details


def test_every_mapping_is_shaped_like_the_published_example(
    samples: dict[Condition, MappingJson],
) -> None:
    for mapping in samples.values():
        assert str(mapping["id"]).startswith("/Subscriptions/")
        assert str(mapping["id"]).endswith(
            f"/replicationProtectionContainerMappings/{mapping['name']}"
        )
        assert mapping["type"] == (
            "Microsoft.RecoveryServices/vaults/replicationFabrics"
            "/replicationProtectionContainers/replicationProtectionContainerMappings"
        )
        properties = mapping["properties"]
        for key in (
            "policyId",
            "policyFriendlyName",
            "sourceFabricFriendlyName",
            "targetFabricFriendlyName",
            "sourceProtectionContainerFriendlyName",
            "targetProtectionContainerFriendlyName",
            "targetProtectionContainerId",
            "state",
            "health",
        ):
            assert isinstance(properties[key], str), key
        assert isinstance(properties["healthErrorDetails"], list)
        assert properties["health"] in {"Normal", "Warning", "Critical"}


def test_a_non_a2a_mapping_has_no_provider_specific_details(
    samples: dict[Condition, MappingJson],
) -> None:
    assert "providerSpecificDetails" not in samples[Condition.NOT_A2A]["properties"]


def test_a_not_paired_mapping_is_a2a_in_a_pairing_state(
    samples: dict[Condition, MappingJson],
) -> None:
    mapping = samples[Condition.NOT_PAIRED]
    assert mapping["properties"]["state"] in {"Unpairing", "PairingInProgress", "PairingFailed"}
    assert _details(mapping)["instanceType"] == "A2A"


def test_a_compliant_mapping_is_enabled_with_the_fleet_account(
    samples: dict[Condition, MappingJson],
) -> None:
    mapping = samples[Condition.COMPLIANT]
    fleet_sub = generate_fleet(FleetSpec(seed=11)).subscriptions[0].id
    assert mapping["properties"]["state"] == "Paired"
    assert mapping["properties"]["healthErrorDetails"] == []
    details = _details(mapping)
    assert details["agentAutoUpdateStatus"] == "Enabled"
    assert details["automationAccountArmId"] == (
        f"/subscriptions/{fleet_sub}/resourceGroups/rg-automation"
        "/providers/Microsoft.Automation/automationAccounts/aa-asr-fleet"
    )
    assert details["automationAccountAuthenticationType"] == "SystemAssignedIdentity"
    assert isinstance(details["scheduleName"], str)
    assert isinstance(details["jobScheduleName"], str)


def test_an_unhealthy_mapping_carries_health_errors(samples: dict[Condition, MappingJson]) -> None:
    mapping = samples[Condition.UNHEALTHY]
    properties = mapping["properties"]
    assert properties["health"] in {"Warning", "Critical"}
    assert len(properties["healthErrorDetails"]) >= 1
    error = properties["healthErrorDetails"][0]
    for key in (
        "errorCode",
        "errorMessage",
        "errorLevel",
        "errorCategory",
        "recommendedAction",
        "creationTimeUtc",
        "innerHealthErrors",
    ):
        assert key in error, key
    assert _details(mapping)["agentAutoUpdateStatus"] == "Enabled"


def test_a_run_as_account_mapping_uses_the_retired_authentication(
    samples: dict[Condition, MappingJson],
) -> None:
    details = _details(samples[Condition.RUN_AS_ACCOUNT])
    assert details["agentAutoUpdateStatus"] == "Enabled"
    assert details["automationAccountAuthenticationType"] == "RunAsAccount"


def test_a_mapping_needing_a_change_is_disabled_with_the_recorded_explicit_nulls(
    samples: dict[Condition, MappingJson],
) -> None:
    mapping = samples[Condition.NEEDS_CHANGE]
    assert _details(mapping) == {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Disabled",
        "automationAccountAuthenticationType": "RunAsAccount",
        "automationAccountArmId": None,
        "scheduleName": None,
        "jobScheduleName": None,
    }
    assert mapping["properties"]["state"] == "Paired"


def test_tidy_bodies_leave_out_what_is_null() -> None:
    spec = FleetSpec(seed=11, shares=Shares(not_a2a=0, not_paired=0, compliant=0, unhealthy=0))
    record = next(iter(generate_fleet(spec).mappings.values()))
    assert _details(as_mapping(mapping_json(record, tidy=True))) == {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Disabled",
    }


def test_a_fleet_of_ten_thousand_vaults_and_forty_thousand_mappings_fits() -> None:
    spec = FleetSpec(subscriptions=10, vaults_per_subscription=1000, mappings_per_vault=(4, 4))
    state = EmulatorState(spec, clock=lambda: 0.0)
    assert len(state.vault_ids()) == 10_000
    assert len(state.fleet.mappings) == 40_000
    last = list(state.fleet.mappings.values())[-1]
    assert state.mapping(last.id.upper())["id"] == last.id
