"""The ASR rules: deciding a mapping's fate, the PATCH body, carrying the desired settings,
operation statuses; and the desired state a run drives mappings to."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.asr.desired import (
    KEEP_ACCOUNT,
    Action,
    AuthenticationType,
    DesiredSettings,
    DesiredState,
)
from orchestrator.asr.mapping import HealthError, MappingSettings, MappingSnapshot
from orchestrator.asr.rules import (
    Change,
    Decision,
    Refuse,
    Skip,
    SkipReason,
    Verdict,
    carries,
    classify_operation_status,
    decide,
    patch_body,
    same_arm_id,
)

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
ENABLED_AS_DESIRED = DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity")
DISABLED = DesiredSettings("Disabled", None, None)
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
    assert decide(snapshot(agent_auto_update_status="Disabled"), ENABLE) == Change(
        ENABLE_BODY, ENABLED_AS_DESIRED
    )


def test_a_missing_status_is_not_enabled() -> None:
    assert decide(snapshot(agent_auto_update_status=None), ENABLE) == Change(
        ENABLE_BODY, ENABLED_AS_DESIRED
    )


def test_enabled_with_another_account_changes_to_the_desired_one() -> None:
    assert decide(snapshot(automation_account_arm_id=OTHER_ACCOUNT), ENABLE) == Change(
        ENABLE_BODY, ENABLED_AS_DESIRED
    )


def test_enabled_with_no_account_changes() -> None:
    assert decide(snapshot(automation_account_arm_id=None), ENABLE) == Change(
        ENABLE_BODY, ENABLED_AS_DESIRED
    )


def test_enabled_with_run_as_account_changes_to_system_assigned_identity() -> None:
    assert decide(snapshot(authentication_type="RunAsAccount"), ENABLE) == Change(
        ENABLE_BODY, ENABLED_AS_DESIRED
    )


def test_enabled_with_system_assigned_identity_changes_when_run_as_is_desired() -> None:
    desired = DesiredState(Action.ENABLE, ACCOUNT, AuthenticationType.RUN_AS_ACCOUNT)
    decision = decide(snapshot(), desired)
    assert isinstance(decision, Change)
    specific = provider_input(decision)
    assert specific["automationAccountAuthenticationType"] == "RunAsAccount"
    assert decision.desired == DesiredSettings("Enabled", ACCOUNT, "RunAsAccount")


def test_a_missing_authentication_type_counts_as_run_as_account() -> None:
    """The REST spec's default is RunAsAccount, so it needs a change to SystemAssignedIdentity."""
    mapping = snapshot(authentication_type=None)
    assert decide(mapping, ENABLE) == Change(ENABLE_BODY, ENABLED_AS_DESIRED)
    run_as = DesiredState(Action.ENABLE, ACCOUNT, AuthenticationType.RUN_AS_ACCOUNT)
    assert decide(mapping, run_as) == Skip(SkipReason.COMPLIANT)


def test_enabled_but_unhealthy_is_reapplied() -> None:
    """The portal's Repair: same settings, but health errors mean it is sent again."""
    assert decide(snapshot(health_errors=1), ENABLE) == Change(ENABLE_BODY, ENABLED_AS_DESIRED)


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
    assert decision.desired == DesiredSettings("Enabled", OTHER_ACCOUNT, "SystemAssignedIdentity")


def test_keep_on_a_compliant_mapping_skips_it() -> None:
    assert decide(snapshot(automation_account_arm_id=OTHER_ACCOUNT), KEEP) == Skip(
        SkipReason.COMPLIANT
    )


def test_keep_on_a_disabled_mapping_with_an_account_enables_it_with_that_account() -> None:
    decision = decide(snapshot(agent_auto_update_status="Disabled"), KEEP)
    assert decision == Change(ENABLE_BODY, ENABLED_AS_DESIRED)


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
    assert decide(snapshot(agent_auto_update_status=status), DISABLE) == Change(
        DISABLE_BODY, DISABLED
    )


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
        ("Succeeded", Verdict.SUCCEEDED),
        ("succeeded", Verdict.SUCCEEDED),
        ("PartiallySucceeded", Verdict.SUCCEEDED),
        ("CompletedWithInformation", Verdict.SUCCEEDED),
        ("COMPLETEDWITHINFORMATION", Verdict.SUCCEEDED),
        ("Failed", Verdict.FAILED),
        ("Canceled", Verdict.FAILED),
        ("Cancelled", Verdict.FAILED),
        ("cancelled", Verdict.FAILED),
        ("InProgress", Verdict.RUNNING),
        ("NotStarted", Verdict.RUNNING),
        ("Running", Verdict.RUNNING),
        ("SomethingNew", Verdict.RUNNING),
        ("", Verdict.RUNNING),
        (None, Verdict.RUNNING),
    ],
)
def test_classify_operation_status(status: str | None, state: Verdict) -> None:
    assert classify_operation_status(status) is state


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_a_status_word_never_reads_as_unreadable(status: str | None) -> None:
    """Unreadable is a failed *read*; any word ASR sends says where the operation stands."""
    assert classify_operation_status(status) is not Verdict.UNREADABLE


# --- DesiredState.settings ---------------------------------------------------------------------


def test_desired_settings_of_enable_name_the_account_and_its_authentication_type() -> None:
    run_as = DesiredState(Action.ENABLE, ACCOUNT, AuthenticationType.RUN_AS_ACCOUNT)
    assert run_as.settings(ACCOUNT) == DesiredSettings("Enabled", ACCOUNT, "RunAsAccount")
    assert ENABLE.settings(OTHER_ACCOUNT) == DesiredSettings(
        "Enabled", OTHER_ACCOUNT, "SystemAssignedIdentity"
    )


def test_desired_settings_of_disable_name_no_account_and_no_type() -> None:
    assert DISABLE.settings(ACCOUNT) == DISABLED
    assert DISABLE.settings(None) == DISABLED


def test_keeps_account_says_whether_each_mapping_keeps_its_own() -> None:
    assert (KEEP.keeps_account, ENABLE.keeps_account, DISABLE.keeps_account) == (
        True,
        False,
        False,
    )


# --- carries: has a mapping reached the desired settings? ---------------------------------------


def settings(**changes: Any) -> MappingSettings:
    return snapshot(**changes).settings()


def test_a_mapping_with_the_desired_enable_settings_carries_them() -> None:
    assert carries(settings(), ENABLED_AS_DESIRED)


def test_carrying_the_settings_ignores_health() -> None:
    """Read back after a change: the settings landed even if ASR then reports errors."""
    sick = settings(health_errors=1, health_error_details=(HealthError("1", None, None, None),))
    assert carries(sick, ENABLED_AS_DESIRED)


def test_carrying_compares_case_insensitively_and_ignores_a_trailing_slash() -> None:
    mapping = settings(
        agent_auto_update_status="ENABLED",
        automation_account_arm_id=ACCOUNT.upper() + "/",
        authentication_type="systemassignedidentity",
    )
    assert carries(mapping, ENABLED_AS_DESIRED)


@pytest.mark.parametrize(
    "changes",
    [
        {"agent_auto_update_status": "Disabled"},
        {"agent_auto_update_status": None},
        {"automation_account_arm_id": OTHER_ACCOUNT},
        {"automation_account_arm_id": None},
        {"authentication_type": "RunAsAccount"},
        {"authentication_type": None},  # the REST spec's default: RunAsAccount
    ],
    ids=["disabled", "no-status", "other-account", "no-account", "run-as", "no-type"],
)
def test_a_mapping_missing_any_desired_enable_setting_does_not_carry_them(
    changes: dict[str, Any],
) -> None:
    assert not carries(settings(**changes), ENABLED_AS_DESIRED)


def test_a_missing_authentication_type_carries_a_desired_run_as_account() -> None:
    desired = DesiredSettings("Enabled", ACCOUNT, "RunAsAccount")
    assert carries(settings(authentication_type=None), desired)


def test_desired_settings_without_a_type_accept_any_type() -> None:
    desired = DesiredSettings("Enabled", ACCOUNT, None)
    assert carries(settings(authentication_type="RunAsAccount"), desired)


@pytest.mark.parametrize(
    "changes",
    [
        {"agent_auto_update_status": "Disabled"},
        {"agent_auto_update_status": "disabled", "automation_account_arm_id": None},
        {"agent_auto_update_status": "Disabled", "authentication_type": "RunAsAccount"},
    ],
)
def test_disable_asks_only_for_disabled(changes: dict[str, Any]) -> None:
    assert carries(settings(**changes), DISABLED)


@pytest.mark.parametrize("status", ["Enabled", None, ""])
def test_a_mapping_not_disabled_does_not_carry_disable(status: str | None) -> None:
    assert not carries(settings(agent_auto_update_status=status), DISABLED)


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
        assert decision.desired.agent_auto_update_status == expected
        assert decision.desired.automation_account_arm_id == specific.get("automationAccountArmId")
        assert decision.desired.authentication_type == specific.get(
            "automationAccountAuthenticationType"
        )


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
        assert carries(after.settings(), decision.desired)


@given(st.text(max_size=40), st.text(max_size=40))
def test_same_arm_id_is_symmetric(a: str, b: str) -> None:
    assert same_arm_id(a, b) == same_arm_id(b, a)
