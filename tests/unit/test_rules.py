"""The ASR rules: parsing a mapping, deciding its fate, the PATCH body, operation statuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.asr.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.asr.rules import (
    Change,
    Decision,
    MappingSnapshot,
    OperationState,
    Refuse,
    Skip,
    SkipReason,
    classify_operation_status,
    decide,
    parse_mapping,
    patch_body,
    same_arm_id,
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
OTHER_ACCOUNT = ACCOUNT[:-2] + "aa2"
SAI = AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
ENABLE = DesiredState(Action.ENABLE, ACCOUNT)
DISABLE = DesiredState(Action.DISABLE, None)
KEEP = DesiredState(Action.ENABLE, KEEP_ACCOUNT)


def raw_mapping(**details: Any) -> dict[str, Any]:
    """An ARM mapping as listed: enabled and compliant with ENABLE unless ``details`` differ."""
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


ENABLE_BODY: dict[str, object] = {
    "properties": {
        "providerSpecificInput": {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountArmId": ACCOUNT,
            "automationAccountAuthenticationType": "SystemAssignedIdentity",
        }
    }
}
DISABLE_BODY: dict[str, object] = {
    "properties": {
        "providerSpecificInput": {"instanceType": "A2A", "agentAutoUpdateStatus": "Disabled"}
    }
}


def provider_input(decision: Decision) -> dict[str, object]:
    """The ``providerSpecificInput`` of a Change's body."""
    assert isinstance(decision, Change)
    properties = decision.body["properties"]
    assert isinstance(properties, dict)
    specific = properties["providerSpecificInput"]
    assert isinstance(specific, dict)
    return specific


# --- parse_mapping -------------------------------------------------------------------------


def test_parse_reads_every_field_of_an_a2a_mapping() -> None:
    raw = raw_mapping()
    raw["properties"]["healthErrorDetails"] = [{"errorCode": "1"}, {"errorCode": "2"}]
    assert parse_mapping(raw) == snapshot(health_errors=2)


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


# --- decide: the order of the rules --------------------------------------------------------


def test_missing_provider_details_is_not_a2a() -> None:
    assert decide(snapshot(instance_type=None), ENABLE) == Skip(SkipReason.NOT_A2A)


def test_another_instance_type_is_not_a2a() -> None:
    assert decide(snapshot(instance_type="HyperVReplicaAzure"), ENABLE) == Skip(SkipReason.NOT_A2A)


def test_not_a2a_comes_before_not_paired() -> None:
    assert decide(snapshot(instance_type="VMwareCbt", state="NotPaired"), DISABLE) == Skip(
        SkipReason.NOT_A2A
    )


@pytest.mark.parametrize("state", ["NotPaired", "Pairing", "Unpairing", None])
def test_a_mapping_that_is_not_paired_is_skipped(state: str | None) -> None:
    assert decide(snapshot(state=state, agent_auto_update_status="Disabled"), ENABLE) == Skip(
        SkipReason.NOT_PAIRED
    )


def test_instance_type_and_state_compare_case_insensitively() -> None:
    assert decide(snapshot(instance_type="a2a", state="PAIRED"), ENABLE) == Skip(
        SkipReason.COMPLIANT
    )


# --- decide: enable ------------------------------------------------------------------------


def test_enabled_with_the_same_account_type_and_no_errors_is_compliant() -> None:
    assert decide(snapshot(), ENABLE) == Skip(SkipReason.COMPLIANT)


def test_enabled_status_compares_case_insensitively() -> None:
    assert decide(snapshot(agent_auto_update_status="enabled"), ENABLE) == Skip(
        SkipReason.COMPLIANT
    )


def test_account_ids_differing_only_in_case_are_the_same_account() -> None:
    mapping = snapshot(
        automation_account_arm_id=ACCOUNT.upper().replace("/SUBSCRIPTIONS/", "/Subscriptions/")
    )
    assert decide(mapping, ENABLE) == Skip(SkipReason.COMPLIANT)


def test_authentication_type_compares_case_insensitively() -> None:
    assert decide(snapshot(authentication_type="systemassignedidentity"), ENABLE) == Skip(
        SkipReason.COMPLIANT
    )


def test_a_disabled_mapping_is_enabled() -> None:
    assert decide(snapshot(agent_auto_update_status="Disabled"), ENABLE) == Change(ENABLE_BODY)


def test_a_missing_status_is_not_enabled() -> None:
    assert decide(snapshot(agent_auto_update_status=None), ENABLE) == Change(ENABLE_BODY)


def test_enabled_with_another_account_changes_to_the_desired_one() -> None:
    assert decide(snapshot(automation_account_arm_id=OTHER_ACCOUNT), ENABLE) == Change(ENABLE_BODY)


def test_enabled_with_no_account_changes() -> None:
    assert decide(snapshot(automation_account_arm_id=None), ENABLE) == Change(ENABLE_BODY)


def test_enabled_with_run_as_account_changes_to_system_assigned_identity() -> None:
    assert decide(snapshot(authentication_type="RunAsAccount"), ENABLE) == Change(ENABLE_BODY)


def test_enabled_with_system_assigned_identity_changes_when_run_as_is_desired() -> None:
    desired = DesiredState(Action.ENABLE, ACCOUNT, AuthenticationType.RUN_AS_ACCOUNT)
    decision = decide(snapshot(), desired)
    assert isinstance(decision, Change)
    specific = provider_input(decision)
    assert specific["automationAccountAuthenticationType"] == "RunAsAccount"


def test_a_missing_authentication_type_counts_as_run_as_account() -> None:
    """The REST spec's default is RunAsAccount, so it needs a change to SystemAssignedIdentity."""
    mapping = snapshot(authentication_type=None)
    assert decide(mapping, ENABLE) == Change(ENABLE_BODY)
    run_as = DesiredState(Action.ENABLE, ACCOUNT, AuthenticationType.RUN_AS_ACCOUNT)
    assert decide(mapping, run_as) == Skip(SkipReason.COMPLIANT)


def test_enabled_but_unhealthy_is_reapplied() -> None:
    """The portal's Repair: same settings, but health errors mean it is sent again."""
    assert decide(snapshot(health_errors=1), ENABLE) == Change(ENABLE_BODY)


def test_enable_without_an_account_is_refused() -> None:
    decision = decide(
        snapshot(agent_auto_update_status="Disabled"), DesiredState(Action.ENABLE, None)
    )
    assert isinstance(decision, Refuse)
    assert decision.code == "no_automation_account"


# --- decide: keep --------------------------------------------------------------------------


def test_keep_reapplies_the_mappings_own_account() -> None:
    mapping = snapshot(automation_account_arm_id=OTHER_ACCOUNT, authentication_type="RunAsAccount")
    decision = decide(mapping, KEEP)
    assert isinstance(decision, Change)
    specific = provider_input(decision)
    assert specific["automationAccountArmId"] == OTHER_ACCOUNT
    assert specific["automationAccountAuthenticationType"] == "SystemAssignedIdentity"


def test_keep_on_a_compliant_mapping_skips_it() -> None:
    assert decide(snapshot(automation_account_arm_id=OTHER_ACCOUNT), KEEP) == Skip(
        SkipReason.COMPLIANT
    )


def test_keep_on_a_disabled_mapping_with_an_account_enables_it_with_that_account() -> None:
    decision = decide(snapshot(agent_auto_update_status="Disabled"), KEEP)
    assert decision == Change(ENABLE_BODY)


@pytest.mark.parametrize("account", [None, "", "  "])
def test_keep_without_an_account_is_refused(account: str | None) -> None:
    decision = decide(
        snapshot(automation_account_arm_id=account, agent_auto_update_status="Disabled"), KEEP
    )
    assert isinstance(decision, Refuse)
    assert decision.code == "no_automation_account"
    assert "keep" in decision.message


def test_keep_without_an_account_is_still_skipped_when_not_a2a() -> None:
    mapping = snapshot(instance_type=None, automation_account_arm_id=None)
    assert decide(mapping, KEEP) == Skip(SkipReason.NOT_A2A)


def test_keep_without_an_account_is_still_skipped_when_not_paired() -> None:
    mapping = snapshot(state="NotPaired", automation_account_arm_id=None)
    assert decide(mapping, KEEP) == Skip(SkipReason.NOT_PAIRED)


# --- decide: disable -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Disabled", "disabled", "DISABLED"])
def test_an_already_disabled_mapping_is_compliant(status: str) -> None:
    assert decide(snapshot(agent_auto_update_status=status), DISABLE) == Skip(SkipReason.COMPLIANT)


def test_a_disabled_mapping_with_health_errors_is_still_compliant_for_disable() -> None:
    mapping = snapshot(agent_auto_update_status="Disabled", health_errors=3)
    assert decide(mapping, DISABLE) == Skip(SkipReason.COMPLIANT)


@pytest.mark.parametrize("status", ["Enabled", None])
def test_a_mapping_that_is_not_disabled_is_disabled(status: str | None) -> None:
    assert decide(snapshot(agent_auto_update_status=status), DISABLE) == Change(DISABLE_BODY)


# --- patch_body ----------------------------------------------------------------------------


def test_the_enable_body_is_exactly_designs() -> None:
    assert patch_body(ENABLE, ACCOUNT) == ENABLE_BODY


def test_the_disable_body_carries_only_instance_type_and_status() -> None:
    assert patch_body(DISABLE, ACCOUNT) == DISABLE_BODY


@pytest.mark.parametrize("account", [None, "", KEEP_ACCOUNT])
def test_an_enable_body_without_a_real_account_is_a_caller_bug(account: str | None) -> None:
    with pytest.raises(ValueError, match="Automation account"):
        patch_body(KEEP, account)


# --- same_arm_id ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (ACCOUNT, ACCOUNT, True),
        (ACCOUNT, ACCOUNT.replace("/subscriptions/", "/Subscriptions/"), True),
        (ACCOUNT, ACCOUNT.upper(), True),
        (ACCOUNT, ACCOUNT + "/", True),
        (ACCOUNT, OTHER_ACCOUNT, False),
        (None, None, True),
        (ACCOUNT, None, False),
        (None, ACCOUNT, False),
        (ACCOUNT, "", False),
    ],
)
def test_same_arm_id(a: str | None, b: str | None, same: bool) -> None:
    assert same_arm_id(a, b) is same


# --- classify_operation_status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Succeeded", OperationState.SUCCEEDED),
        ("succeeded", OperationState.SUCCEEDED),
        ("PartiallySucceeded", OperationState.SUCCEEDED),
        ("CompletedWithInformation", OperationState.SUCCEEDED),
        ("COMPLETEDWITHINFORMATION", OperationState.SUCCEEDED),
        ("Failed", OperationState.FAILED),
        ("Canceled", OperationState.FAILED),
        ("Cancelled", OperationState.FAILED),
        ("cancelled", OperationState.FAILED),
        ("InProgress", OperationState.RUNNING),
        ("NotStarted", OperationState.RUNNING),
        ("Running", OperationState.RUNNING),
        ("SomethingNew", OperationState.RUNNING),
        ("", OperationState.RUNNING),
        (None, OperationState.RUNNING),
    ],
)
def test_classify_operation_status(status: str | None, state: OperationState) -> None:
    assert classify_operation_status(status) is state


# --- properties ----------------------------------------------------------------------------

_text = st.one_of(st.none(), st.text(max_size=12))
_snapshots = st.builds(
    MappingSnapshot,
    id=st.just(MAPPING_ID),
    name=st.just("m1"),
    state=st.one_of(_text, st.sampled_from(["Paired", "paired", "NotPaired"])),
    instance_type=st.one_of(_text, st.sampled_from(["A2A", "a2a", "VMwareCbt"])),
    agent_auto_update_status=st.one_of(_text, st.sampled_from(["Enabled", "Disabled"])),
    automation_account_arm_id=st.one_of(_text, st.sampled_from([ACCOUNT, ACCOUNT.upper()])),
    authentication_type=st.one_of(_text, st.sampled_from([a.value for a in AuthenticationType])),
    health_errors=st.integers(min_value=0, max_value=3),
)
_desired = st.builds(
    DesiredState,
    action=st.sampled_from(Action),
    automation_account=st.sampled_from([ACCOUNT, KEEP_ACCOUNT, None]),
    authentication_type=st.sampled_from(AuthenticationType),
)


@given(_snapshots, _desired)
def test_decide_never_raises_and_every_change_targets_a2a(
    mapping: MappingSnapshot, desired: DesiredState
) -> None:
    decision = decide(mapping, desired)
    if isinstance(decision, Change):
        specific = provider_input(decision)
        assert specific["instanceType"] == "A2A"
        expected = {Action.ENABLE: "Enabled", Action.DISABLE: "Disabled"}[desired.action]
        assert specific["agentAutoUpdateStatus"] == expected


@given(_snapshots, _desired)
def test_applying_a_change_makes_the_mapping_compliant(
    mapping: MappingSnapshot, desired: DesiredState
) -> None:
    """What the PATCH sets, read back as a healthy mapping, is skipped as compliant."""
    decision = decide(mapping, desired)
    if isinstance(decision, Change):
        specific = provider_input(decision)
        after = snapshot(
            state=mapping.state,
            instance_type=mapping.instance_type,
            agent_auto_update_status=specific["agentAutoUpdateStatus"],
            automation_account_arm_id=specific.get(
                "automationAccountArmId", mapping.automation_account_arm_id
            ),
            authentication_type=specific.get(
                "automationAccountAuthenticationType", mapping.authentication_type
            ),
            health_errors=0,
        )
        assert decide(after, desired) == Skip(SkipReason.COMPLIANT)


@given(st.text(max_size=40), st.text(max_size=40))
def test_same_arm_id_is_symmetric(a: str, b: str) -> None:
    assert same_arm_id(a, b) == same_arm_id(b, a)
