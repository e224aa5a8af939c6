"""A listed container mapping: parsing ARM's JSON into a snapshot, and the snapshot's settings."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest

from orchestrator.asr.mapping import (
    HealthError,
    MappingSettings,
    MappingSnapshot,
    kind_of,
    parse_mapping,
)
from orchestrator.errors import ArmResponseError

MAPPING_ID = (
    "/Subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
    "Microsoft.RecoveryServices/vaults/v1/replicationFabrics/f/replicationProtectionContainers/c/"
    "replicationProtectionContainerMappings/m1"
)
ACCOUNT = (
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-automation/"
    "providers/Microsoft.Automation/automationAccounts/aa"
)


def raw_mapping(**details: Any) -> dict[str, Any]:
    """An ARM mapping as listed: enabled, with ACCOUNT and SystemAssignedIdentity, healthy."""
    specific: dict[str, Any] = {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Enabled",
        "automationAccountArmId": ACCOUNT,
        "automationAccountAuthenticationType": "SystemAssignedIdentity",
        "scheduleName": "s",
        "jobScheduleName": "j",
    }
    specific.update(details)
    return {
        "id": MAPPING_ID,
        "name": "m1",
        "type": "Microsoft.RecoveryServices/vaults/replicationProtectionContainerMappings",
        "properties": {
            "state": "Paired",
            "health": "Normal",
            "healthErrorDetails": [],
            "providerSpecificDetails": specific,
            "policyId": "/Subscriptions/x/policy",
        },
    }


def snapshot(**changes: Any) -> MappingSnapshot:
    fields: dict[str, Any] = {
        "id": MAPPING_ID,
        "name": "m1",
        "state": "Paired",
        "instance_type": "A2A",
        "agent_auto_update_status": "Enabled",
        "automation_account_arm_id": ACCOUNT,
        "authentication_type": "SystemAssignedIdentity",
        "health_errors": 0,
    }
    fields.update(changes)
    return MappingSnapshot(**fields)


# --- parse_mapping -------------------------------------------------------------------------


def test_parse_reads_every_field_of_an_a2a_mapping() -> None:
    raw = raw_mapping()
    raw["properties"]["healthErrorDetails"] = [{"errorCode": "1"}, {"errorCode": "2"}]
    assert parse_mapping(raw) == snapshot(
        health_errors=2,
        health_error_details=(
            HealthError("1", None, None, None),
            HealthError("2", None, None, None),
        ),
    )


def test_parse_without_provider_details_leaves_them_none() -> None:
    raw = raw_mapping()
    del raw["properties"]["providerSpecificDetails"]
    assert parse_mapping(raw) == snapshot(
        instance_type=None,
        agent_auto_update_status=None,
        automation_account_arm_id=None,
        authentication_type=None,
    )


def test_parse_treats_null_provider_details_and_null_health_list_as_absent() -> None:
    raw = raw_mapping()
    raw["properties"]["providerSpecificDetails"] = None
    raw["properties"]["healthErrorDetails"] = None
    parsed = parse_mapping(raw)
    assert parsed.instance_type is None
    assert parsed.health_errors == 0


def test_parse_counts_no_health_errors_when_the_key_is_absent() -> None:
    raw = raw_mapping()
    del raw["properties"]["healthErrorDetails"]
    assert parse_mapping(raw).health_errors == 0


def test_parse_takes_the_name_from_the_id_when_name_is_absent() -> None:
    raw = raw_mapping()
    del raw["name"]
    assert parse_mapping(raw).name == "m1"


def test_parse_keeps_values_exactly_as_arm_sent_them() -> None:
    raw = raw_mapping(instanceType="a2a", agentAutoUpdateStatus="enabled")
    raw["properties"]["state"] = "PAIRED"
    parsed = parse_mapping(raw)
    assert (parsed.instance_type, parsed.agent_auto_update_status, parsed.state) == (
        "a2a",
        "enabled",
        "PAIRED",
    )


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = raw_mapping()
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param([], "a mapping is a list, expected an object", id="not-an-object"),
        pytest.param(None, "a mapping is missing or null", id="null"),
        pytest.param({"properties": {}}, "has id missing or null", id="id-missing"),
        pytest.param(_with(("id",), 7), "has id a number", id="id-not-a-string"),
        pytest.param(_with(("id",), ""), "a mapping has an empty id", id="id-empty"),
        pytest.param(_with(("name",), ["m1"]), f"{MAPPING_ID}: name is a list", id="name-list"),
        pytest.param(_with(("properties",), None), "properties is missing or null", id="no-props"),
        pytest.param(_with(("properties",), "x"), "properties is a string", id="props-string"),
        pytest.param(
            _with(("properties", "providerSpecificDetails"), ["A2A"]),
            "properties.providerSpecificDetails is a list, expected an object",
            id="details-list",
        ),
        pytest.param(
            _with(("properties", "healthErrorDetails"), {"a": 1}),
            "properties.healthErrorDetails is an object, expected a list",
            id="health-object",
        ),
        pytest.param(
            _with(("properties", "state"), 1), "properties.state is a number", id="state-number"
        ),
        pytest.param(
            _with(("properties", "providerSpecificDetails", "instanceType"), True),
            "providerSpecificDetails.instanceType is a boolean",
            id="instance-type-bool",
        ),
        pytest.param(
            _with(("properties", "providerSpecificDetails", "agentAutoUpdateStatus"), 1),
            "providerSpecificDetails.agentAutoUpdateStatus is a number",
            id="status-number",
        ),
        pytest.param(
            _with(("properties", "providerSpecificDetails", "automationAccountArmId"), {}),
            "providerSpecificDetails.automationAccountArmId is an object",
            id="account-object",
        ),
        pytest.param(
            _with(
                ("properties", "providerSpecificDetails", "automationAccountAuthenticationType"),
                [],
            ),
            "providerSpecificDetails.automationAccountAuthenticationType is a list",
            id="auth-type-list",
        ),
    ],
)
def test_parse_rejects_a_malformed_mapping_with_a_clear_message(raw: object, message: str) -> None:
    with pytest.raises(ArmResponseError) as caught:
        parse_mapping(raw)
    assert message in caught.value.message
    assert caught.value.code == "invalid_response"


def test_parse_does_not_echo_a_bad_value_into_the_error() -> None:
    raw = _with(("properties", "providerSpecificDetails", "automationAccountArmId"), 123456789)
    with pytest.raises(ArmResponseError) as caught:
        parse_mapping(raw)
    assert "123456789" not in str(caught.value)


def test_parse_does_not_modify_its_input() -> None:
    raw = raw_mapping()
    before = copy.deepcopy(raw)
    parse_mapping(raw)
    assert raw == before


def test_real_asr_mapping_bodies_with_explicit_nulls_are_read_as_absent() -> None:
    """DESIGN: recorded mapping bodies carry explicit nulls (`"automationAccountArmId": null`)."""
    raw = raw_mapping(
        agentAutoUpdateStatus="Disabled",
        automationAccountArmId=None,
        automationAccountAuthenticationType=None,
        scheduleName=None,
        jobScheduleName=None,
    )
    raw["properties"]["healthErrorDetails"] = None
    raw["properties"]["policyId"] = None
    assert parse_mapping(raw) == snapshot(
        agent_auto_update_status="Disabled",
        automation_account_arm_id=None,
        authentication_type=None,
    )


# --- health errors ---------------------------------------------------------------------------


def test_health_errors_keep_code_message_causes_and_recommended_action() -> None:
    raw = raw_mapping()
    raw["properties"]["healthErrorDetails"] = [
        {
            "errorCode": "150501",
            "errorMessage": "Auto-update of the Mobility agent failed.",
            "possibleCauses": "The account's identity lacks rights on the vault.",
            "recommendedAction": "Give it Contributor on the vault.",
            "errorSource": "ServiceProvider",
            "creationTimeUtc": "2026-11-25T01:00:00Z",
        }
    ]
    parsed = parse_mapping(raw)
    assert parsed.health_errors == 1
    assert parsed.health_error_details == (
        HealthError(
            code="150501",
            message="Auto-update of the Mobility agent failed.",
            possible_causes="The account's identity lacks rights on the vault.",
            recommended_action="Give it Contributor on the vault.",
        ),
    )


def test_a_health_error_without_an_error_message_takes_its_summary() -> None:
    raw = raw_mapping()
    raw["properties"]["healthErrorDetails"] = [{"errorCode": "7", "summaryMessage": "summary"}]
    assert parse_mapping(raw).health_error_details[0].message == "summary"


@pytest.mark.parametrize(
    "item",
    [
        {"errorCode": 7, "errorMessage": ["x"], "possibleCauses": {}, "recommendedAction": True},
        {"errorCode": "", "errorMessage": "", "possibleCauses": "", "recommendedAction": ""},
        "not an object",
        None,
        [1, 2],
    ],
    ids=["wrong-types", "empty-strings", "a-string", "null", "a-list"],
)
def test_a_health_error_of_the_wrong_shape_is_counted_with_its_fields_left_out(item: Any) -> None:
    """A broken detail must not fail the vault: it still counts, and says nothing it cannot."""
    raw = raw_mapping()
    raw["properties"]["healthErrorDetails"] = [item]
    parsed = parse_mapping(raw)
    assert parsed.health_errors == 1
    assert parsed.health_error_details == (HealthError(None, None, None, None),)


# --- settings --------------------------------------------------------------------------------


def test_settings_are_the_snapshots_own_values() -> None:
    details = (HealthError("1", "m", None, None),)
    parsed = snapshot(
        agent_auto_update_status="Enabled",
        authentication_type="RunAsAccount",
        health_errors=1,
        health_error_details=details,
    )
    assert parsed.settings() == MappingSettings(
        agent_auto_update_status="Enabled",
        automation_account_arm_id=ACCOUNT,
        authentication_type="RunAsAccount",
        health_errors=1,
        state="Paired",
        health_error_details=details,
    )


def test_settings_of_a_mapping_with_nothing_set_are_nones() -> None:
    parsed = snapshot(
        state=None,
        instance_type=None,
        agent_auto_update_status=None,
        automation_account_arm_id=None,
        authentication_type=None,
    )
    assert parsed.settings() == MappingSettings(None, None, None, 0, None)
    assert parsed.settings().health_error_details == ()


def test_values_many_mappings_repeat_are_kept_once() -> None:
    """A fleet's settings repeat the same few strings: each is held once, however it arrived."""
    decoded = [json.loads(json.dumps(raw_mapping(automationAccountAuthenticationType="x")))]
    decoded.append(json.loads(json.dumps(raw_mapping(automationAccountAuthenticationType="x"))))
    assert decoded[0]["properties"]["state"] is not decoded[1]["properties"]["state"]
    first, second = (parse_mapping(raw).settings() for raw in decoded)
    assert first.agent_auto_update_status is second.agent_auto_update_status
    assert first.automation_account_arm_id is second.automation_account_arm_id
    assert first.authentication_type is second.authentication_type
    assert first.state is second.state
    assert first.state is sys.intern("Paired")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "missing or null"),
        (True, "a boolean"),
        (3, "a number"),
        (2.5, "a number"),
        ("x", "a string"),
        ([], "a list"),
        ({}, "an object"),
        (b"x", "a bytes"),
    ],
)
def test_kind_of_names_a_json_type_without_its_value(value: object, words: str) -> None:
    assert kind_of(value) == words
