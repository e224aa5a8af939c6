"""Outcomes checked, not assumed: a vault's changed mappings judged by what they show afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from virtual_clock import run_virtual

from orchestrator.asr.desired import Action, DesiredSettings, DesiredState
from orchestrator.asr.mapping import HealthError, MappingSettings, MappingSnapshot
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.errors import ArmHttpError
from orchestrator.work.outcomes import MappingResult
from orchestrator.work.records import MappingWork, VaultWork
from orchestrator.work.verification import judge, verify_vault

SUB = "11111111-1111-1111-1111-111111111111"
VAULT = VaultId(SUB, "rg", "v1")
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa"
)
ENABLED = DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity")


def settings(status: str = "Enabled", *, health: tuple[HealthError, ...] = ()) -> MappingSettings:
    return MappingSettings(status, ACCOUNT, "SystemAssignedIdentity", len(health), "Paired", health)


def raw(mapping_id: str, status: str = "Enabled") -> dict[str, Any]:
    return {
        "id": mapping_id,
        "properties": {
            "state": "Paired",
            "healthErrorDetails": [],
            "providerSpecificDetails": {
                "instanceType": "A2A",
                "agentAutoUpdateStatus": status,
                "automationAccountArmId": ACCOUNT,
                "automationAccountAuthenticationType": "SystemAssignedIdentity",
            },
        },
    }


def changed(vault: VaultWork, name: str, result: MappingResult) -> MappingWork:
    mapping_id = f"{VAULT.arm_id}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/{name}"
    snapshot = MappingSnapshot(mapping_id, name, "Paired", "A2A", "Disabled", None, None, 0)
    work = MappingWork.listed(snapshot, vault)
    vault.add(work)
    work.queue({}, ENABLED)
    work.finish(result)
    return work


class Pages:
    """A lister stand-in: its mapping pages, or an error at a given page."""

    def __init__(self, *pages: list[Any], fail: Exception | None = None) -> None:
        self.pages, self.fail = pages, fail

    async def mappings(self) -> AsyncIterator[list[Any]]:
        for page in self.pages:
            yield page
        if self.fail is not None:
            raise self.fail


def vault_work() -> VaultWork:
    return VaultWork(VaultTarget(VAULT, DesiredState(Action.ENABLE, ACCOUNT)))


def test_a_success_whose_mapping_lacks_the_desired_settings_is_failed_not_applied() -> None:
    vault = vault_work()
    work = changed(vault, "m1", MappingResult.SUCCEEDED)
    judge(work, settings("Disabled"))
    assert work.result is MappingResult.FAILED
    assert work.error is not None and work.error.code == "not_applied"
    assert work.after == settings("Disabled")


def test_health_errors_after_success_make_it_unhealthy_with_the_recommended_action() -> None:
    vault = vault_work()
    work = changed(vault, "m1", MappingResult.SUCCEEDED)
    error = HealthError("150301", "no rights", "the identity lacks a role", "give it Contributor")
    judge(work, settings(health=(error,)))
    assert work.result is MappingResult.UNHEALTHY
    assert work.error is not None and work.error.code == "150301"
    assert "give it Contributor" in work.error.message


def test_a_failure_keeps_its_result_and_gains_its_after() -> None:
    vault = vault_work()
    work = changed(vault, "m1", MappingResult.FAILED)
    judge(work, settings("Disabled"))
    assert (work.result, work.after) == (MappingResult.FAILED, settings("Disabled"))


def test_a_vault_with_no_ended_change_is_not_read_again() -> None:
    vault = vault_work()
    changed(vault, "m1", MappingResult.SKIPPED).desired = None  # no change of its own
    lister = Pages(fail=AssertionError("the vault was read again"))
    run_virtual(verify_vault(vault, lister))  # would raise had it read


@pytest.mark.parametrize("broken", [{"id": 42}, "not a mapping"])
def test_a_broken_entry_in_the_read_back_is_passed_over_and_the_rest_judged(broken: Any) -> None:
    vault = vault_work()
    work = changed(vault, "m1", MappingResult.SUCCEEDED)
    lister = Pages([broken, raw(work.id)])
    run_virtual(verify_vault(vault, lister))
    assert work.after is not None and work.result is MappingResult.SUCCEEDED


def test_a_read_back_that_fails_leaves_the_results_and_says_so() -> None:
    vault = vault_work()
    work = changed(vault, "m1", MappingResult.SUCCEEDED)
    lister = Pages(fail=ArmHttpError(503, "ServiceUnavailable", "try later"))
    run_virtual(verify_vault(vault, lister))
    assert (work.result, work.after, vault.verified) == (MappingResult.SUCCEEDED, None, True)
