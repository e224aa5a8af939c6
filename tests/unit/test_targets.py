"""Vault ids, subscription filters and the merged target list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.asr.desired import Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import (
    SubscriptionTarget,
    VaultId,
    VaultTarget,
    check_resource_group,
    check_vault_name,
    merge_targets,
    split_resource_id,
)

SUB = "00000000-0000-0000-0000-0000000000aa"
OTHER_SUB = "11111111-1111-1111-1111-1111111111bb"
PREFIX = f"/subscriptions/{SUB}/resourceGroups/RG-One/providers/Microsoft.RecoveryServices/vaults"
ENABLE = DesiredState(Action.ENABLE, "keep")
DISABLE = DesiredState(Action.DISABLE, None)


def vault(name: str, group: str = "RG-One", subscription: str = SUB) -> VaultId:
    return VaultId(subscription, group, name)


def test_parse_splits_a_vault_id_into_its_parts() -> None:
    parsed = VaultId.parse(f"{PREFIX}/Vault-1")
    assert parsed == VaultId(SUB, "RG-One", "Vault-1")


def test_parse_accepts_the_capitalised_keys_arm_returns() -> None:
    text = (
        f"/Subscriptions/{SUB}/ResourceGroups/RG-One/Providers/microsoft.recoveryservices/Vaults/v1"
    )
    assert VaultId.parse(text) == VaultId(SUB, "RG-One", "v1")


def test_arm_id_uses_canonical_keys_and_keeps_the_values_case() -> None:
    text = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/Rg/PROVIDERS/MICROSOFT.RECOVERYSERVICES/VAULTS/Vx"
    assert VaultId.parse(text).arm_id == (
        f"/subscriptions/{SUB}/resourceGroups/Rg/providers/Microsoft.RecoveryServices/vaults/Vx"
    )


def test_key_is_equal_for_every_spelling_of_a_vault() -> None:
    upper = VaultId(SUB.upper(), "RG-ONE", "VAULT-1")
    assert upper.key == vault("vault-1", "rg-one").key
    assert upper != vault("vault-1", "rg-one")  # the dataclass keeps the case as given


def test_str_of_a_vault_id_is_its_arm_id() -> None:
    assert str(vault("v1")) == f"{PREFIX}/v1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must start with '/subscriptions/'"),
        (
            f"subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
            "must start",
        ),
        (f"{PREFIX}/v1/", "must not end with '/'"),
        (f"{PREFIX}/v1/replicationFabrics/f", "expected 8 segments"),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices",
            "expected 8 segments",
        ),
        (
            f"/subscription/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
            "segment 1",
        ),
        (
            f"/subscriptions/{SUB}/groups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
            "segment 3",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/provider/Microsoft.RecoveryServices/vaults/v1",
            "segment 5",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Automation/vaults/v1",
            "segment 6",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vault/v1",
            "segment 7",
        ),
        (
            "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
            "not a GUID",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups//providers/Microsoft.RecoveryServices/vaults/v1",
            "1-90",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.RecoveryServices/vaults/v1",
            "end with '.'",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/r g/providers/Microsoft.RecoveryServices/vaults/v1",
            "only letters",
        ),
        (f"{PREFIX}/v", "2-50 characters"),
        (f"{PREFIX}/{'v' * 51}", "2-50 characters"),
        (f"{PREFIX}/1vault", "start with a letter"),
        (f"{PREFIX}/vault_1", "start with a letter"),
    ],
)
def test_parse_names_what_is_wrong_with_a_malformed_id(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="not a vault id") as caught:
        VaultId.parse(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize("name", ["a", "rg_1", "RG-(dr).2", "ресурсы", "x" * 90])
def test_resource_group_names_arm_allows_pass(name: str) -> None:
    assert check_resource_group(name) == name


@pytest.mark.parametrize("name", ["", "x" * 91, "rg.", "rg/1", "rg 1", "rg#"])
def test_resource_group_names_arm_refuses_fail(name: str) -> None:
    with pytest.raises(ValueError, match="resource group name"):
        check_resource_group(name)


@pytest.mark.parametrize("name", ["v1", "Vault-DR-East", "a" * 50])
def test_vault_names_arm_allows_pass(name: str) -> None:
    assert check_vault_name(name) == name


def test_split_resource_id_reads_other_providers() -> None:
    text = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
    assert split_resource_id(text, "Microsoft.Automation", "automationAccounts") == (
        SUB,
        "rg",
        "aa",
    )


def test_subscription_target_lower_cases_groups_and_exclusions() -> None:
    target = SubscriptionTarget.of(SUB, ["RG-One"], ["Vault-X", f"{PREFIX.upper()}/Vault-Y"])
    assert target.resource_groups == frozenset({"rg-one"})
    assert target.exclude == frozenset({"vault-x", vault("vault-y", "rg-one").key})


def test_subscription_target_admits_any_group_without_a_filter() -> None:
    assert SubscriptionTarget.of(SUB).admits(vault("v1", "anything"))


def test_subscription_target_refuses_a_vault_of_another_subscription() -> None:
    assert not SubscriptionTarget.of(SUB).admits(vault("v1", subscription=OTHER_SUB))


def test_subscription_target_matches_the_subscription_case_insensitively() -> None:
    assert SubscriptionTarget.of(SUB.upper()).admits(vault("v1"))


def test_resource_group_filter_matches_case_insensitively() -> None:
    target = SubscriptionTarget.of(SUB, ["rg-ONE"])
    assert target.admits(vault("v1", "RG-one"))
    assert not target.admits(vault("v1", "rg-two"))


def test_exclusion_by_name_matches_case_insensitively() -> None:
    target = SubscriptionTarget.of(SUB, exclude=["VAULT-9"])
    assert not target.admits(vault("vault-9"))
    assert target.admits(vault("vault-8"))


def test_exclusion_by_id_matches_any_spelling_of_that_vault_only() -> None:
    excluded = (
        f"/Subscriptions/{SUB}/resourcegroups/rg-one/providers/microsoft.recoveryservices/vaults/v9"
    )
    target = SubscriptionTarget.of(SUB, exclude=[excluded])
    assert not target.admits(vault("V9", "RG-One"))
    assert target.admits(vault("V9", "rg-two"))  # same name, another group: not that vault


def discovered_as(desired: DesiredState) -> Callable[[VaultId], VaultTarget]:
    """A ``target_of`` that gives every discovered vault ``desired``."""
    return lambda found: VaultTarget(found, desired)


def test_merge_puts_explicit_targets_first_then_new_discovered_ones() -> None:
    explicit = [VaultTarget(vault("b"), DISABLE)]
    merged = merge_targets(explicit, [vault("a"), vault("c")], discovered_as(ENABLE))
    assert merged == [
        VaultTarget(vault("b"), DISABLE),
        VaultTarget(vault("a"), ENABLE),
        VaultTarget(vault("c"), ENABLE),
    ]


def test_merge_keeps_an_explicit_override_over_the_discovered_default() -> None:
    explicit = [VaultTarget(vault("Vault-1"), DISABLE)]
    discovered = [VaultId(SUB.upper(), "rg-one", "vault-1")]
    assert merge_targets(explicit, discovered, discovered_as(ENABLE)) == explicit


def test_merge_lists_a_vault_discovered_twice_once() -> None:
    merged = merge_targets([], [vault("v1"), vault("V1", "rg-one")], discovered_as(ENABLE))
    assert merged == [VaultTarget(vault("v1"), ENABLE)]


def test_merge_gives_discovered_vaults_what_target_of_makes_of_them() -> None:
    default = DesiredState(Action.ENABLE, "keep", AuthenticationType.RUN_AS_ACCOUNT)
    asked: list[VaultId] = []

    def target_of(found: VaultId) -> VaultTarget:
        asked.append(found)
        return VaultTarget(found, default, problem=f"made for {found.name}")

    (merged,) = merge_targets([], [vault("v1")], target_of)
    assert merged.desired is default
    assert merged.problem == "made for v1"
    assert asked == [vault("v1")]


def test_merge_never_asks_target_of_for_an_explicit_or_repeated_vault() -> None:
    asked: list[VaultId] = []

    def target_of(found: VaultId) -> VaultTarget:
        asked.append(found)
        return VaultTarget(found, ENABLE)

    explicit = [VaultTarget(vault("v1"), DISABLE)]
    merge_targets(explicit, [vault("V1"), vault("v2"), vault("V2")], target_of)
    assert asked == [vault("v2")]


# --- VaultTarget: --retry and --restore narrow a vault to some mappings -----------------------

MAPPING = f"{PREFIX}/v1/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/m1"
OTHER_MAPPING = MAPPING[:-1] + "2"


def test_a_whole_vault_target_selects_every_mapping_and_drives_each_to_its_state() -> None:
    target = VaultTarget(vault("v1"), ENABLE)
    assert (target.problem, target.only) == (None, None)
    assert target.selects(MAPPING) and target.selects(OTHER_MAPPING)
    assert target.desired_for(MAPPING) is ENABLE


def test_a_narrowed_target_selects_only_its_mappings_case_insensitively() -> None:
    target = VaultTarget(vault("v1"), ENABLE, only={MAPPING.lower(): None})
    assert target.selects(MAPPING)
    assert target.selects(MAPPING.upper())
    assert not target.selects(OTHER_MAPPING)


def test_a_narrowed_mapping_without_its_own_state_gets_the_vaults() -> None:
    target = VaultTarget(vault("v1"), ENABLE, only={MAPPING.lower(): None})
    assert target.desired_for(MAPPING.upper()) is ENABLE


def test_a_restored_mapping_is_driven_to_its_own_state() -> None:
    own = DesiredState(Action.ENABLE, "keep", AuthenticationType.RUN_AS_ACCOUNT)
    target = VaultTarget(
        vault("v1"), ENABLE, only={MAPPING.lower(): own, OTHER_MAPPING.lower(): None}
    )
    assert target.desired_for(MAPPING) is own
    assert target.desired_for(OTHER_MAPPING) is ENABLE
