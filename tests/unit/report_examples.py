"""Reports to test with: DESIGN's example and vaults of every shape (helpers, not tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.asr.agents import AgentState
from orchestrator.asr.desired import Action, DesiredSettings
from orchestrator.asr.mapping import MappingSettings
from orchestrator.asr.rules import SkipReason
from orchestrator.output.report import (
    Calls,
    Command,
    ConfigIdentity,
    MappingReport,
    OperationReport,
    Outcome,
    Report,
    Totals,
    VaultReport,
    count_totals,
)
from orchestrator.output.report_file import render_pieces
from orchestrator.work.outcomes import ErrorInfo, ListedVia, MappingResult, VaultStatus

STARTED = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
FINISHED = datetime(2026, 11, 25, 1, 2, 3, 400000, tzinfo=UTC)
VAULT_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
MAPPING_ID = "/Subscriptions/sub/resourceGroups/rg/.../replicationProtectionContainerMappings/m"
OPERATION_URL = "https://management.azure.com/operations/op1?api-version=2021-12-01"
ACCOUNT = (
    "/subscriptions/sub/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa"
)
DISABLED_BEFORE = MappingSettings(
    agent_auto_update_status="Disabled",
    automation_account_arm_id=None,
    authentication_type=None,
    health_errors=0,
    state="Paired",
)


def render(report: Report) -> str:
    return "".join(render_pieces(report))


def totals_of(vaults: Sequence[VaultReport], agents: Counter[AgentState] | None = None) -> Totals:
    """The totals of reported vaults, as a run counts them from its records."""
    return count_totals(
        Counter(m.result for vault in vaults for m in vault.mappings),
        vaults=len(vaults),
        vaults_failed=sum(vault.status is VaultStatus.ERROR for vault in vaults),
        agents=agents,
    )


def mapping(result: MappingResult, skip_reason: SkipReason | None = None) -> MappingReport:
    if result is MappingResult.SKIPPED and skip_reason is None:
        skip_reason = SkipReason.COMPLIANT
    return MappingReport(
        id=MAPPING_ID, result=result, skip_reason=skip_reason, before=None, operation=None
    )


def vault(*results: MappingResult, error: ErrorInfo | None = None) -> VaultReport:
    return VaultReport(
        id=VAULT_ID,
        subscription_id="sub",
        status=VaultStatus.ERROR if error else VaultStatus.OK,
        error=error,
        mappings=[mapping(result) for result in results],
    )


def example_report(**changes: Any) -> Report:
    """DESIGN's example report: one vault, one mapping enabled by one operation."""
    vaults = [
        VaultReport(
            id=VAULT_ID,
            subscription_id="sub",
            status=VaultStatus.OK,
            error=None,
            listed_via=ListedVia.VAULT,
            mappings=[
                MappingReport(
                    id=MAPPING_ID,
                    result=MappingResult.SUCCEEDED,
                    skip_reason=None,
                    before=DISABLED_BEFORE,
                    desired=DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity"),
                    operation=OperationReport(
                        url=OPERATION_URL,
                        status="Succeeded",
                        polls=1,
                        started_at=STARTED,
                        finished_at=FINISHED,
                        error=None,
                    ),
                )
            ],
        )
    ]
    fields_: dict[str, Any] = {
        "tool_version": "0.1.0",
        "run_id": "run-1",
        "command": Command.APPLY,
        "action": Action.ENABLE,
        "config": ConfigIdentity(path="fleet.yaml", sha256="ab" * 32),
        "started_at": STARTED,
        "finished_at": FINISHED,
        "duration_s": 123.4,
        "outcome": Outcome.SUCCEEDED,
        "exit_code": 0,
        "totals": totals_of(vaults),
        "calls": Calls(get=3, set=1, throttled=0, retried=0),
        "vaults": vaults,
    }
    fields_.update(changes)
    return Report(**fields_)


EXPECTED_JSON = """\
{
  "schema": "asr-autoupdate/report/v1",
  "tool_version": "0.1.0",
  "run_id": "run-1",
  "command": "apply",
  "action": "enable",
  "config": {
    "path": "fleet.yaml",
    "sha256": "abababababababababababababababababababababababababababababababab"
  },
  "started_at": "2026-11-25T01:00:00Z",
  "finished_at": "2026-11-25T01:02:03.400000Z",
  "duration_s": 123.4,
  "outcome": "succeeded",
  "exit_code": 0,
  "error": null,
  "warnings": [],
  "totals": {
    "vaults": 1,
    "vaults_failed": 0,
    "mappings": 1,
    "changed": 1,
    "succeeded": 1,
    "failed": 0,
    "skipped": 0,
    "timed_out": 0,
    "not_started": 0,
    "would_change": 0,
    "interrupted": 0,
    "unhealthy": 0
  },
  "calls": {
    "get": 3,
    "set": 1,
    "throttled": 0,
    "retried": 0
  },
  "vaults": [
    {
      "id": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1",
      "subscription_id": "sub",
      "status": "ok",
      "error": null,
      "listed_via": "vault",
      "mappings": [
        {
          "id": "/Subscriptions/sub/resourceGroups/rg/.../replicationProtectionContainerMappings/m",
          "result": "succeeded",
          "skip_reason": null,
          "before": {
            "agent_auto_update_status": "Disabled",
            "automation_account_arm_id": null,
            "authentication_type": null,
            "health_errors": 0,
            "state": "Paired",
            "health_error_details": []
          },
          "desired": {
            "agent_auto_update_status": "Enabled",
            "automation_account_arm_id": "/subscriptions/sub/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa",
            "authentication_type": "SystemAssignedIdentity"
          },
          "after": null,
          "operation": {
            "url": "https://management.azure.com/operations/op1?api-version=2021-12-01",
            "status": "Succeeded",
            "polls": 1,
            "started_at": "2026-11-25T01:00:00Z",
            "finished_at": "2026-11-25T01:02:03.400000Z",
            "error": null
          }
        }
      ]
    }
  ]
}
"""


def varied_vaults() -> list[VaultReport]:
    """Vaults of every shape: failed, empty, and with mappings of each kind; odd characters."""
    failed_op = OperationReport(
        url=None,
        status=None,
        polls=0,
        started_at=None,
        finished_at=None,
        error=ErrorInfo(code="untrusted_url", message='a "quoted" \\ path\nand a line — ünïcode'),
    )
    still_running = OperationReport(
        url=OPERATION_URL + "&x=<>&",
        status="InProgress",
        polls=3,
        started_at=STARTED,
        finished_at=None,
        error=None,
    )
    before = MappingSettings(
        agent_auto_update_status=None,
        automation_account_arm_id="/subscriptions/s/aa/\u00e9\t",
        authentication_type="RunAsAccount",
        health_errors=2,
        state="Paired",
    )
    mappings = [
        MappingReport(
            id=MAPPING_ID + "1",
            result=MappingResult.SKIPPED,
            skip_reason=SkipReason.COMPLIANT,
            before=before,
            operation=None,
        ),
        MappingReport(
            id=MAPPING_ID + "2",
            result=MappingResult.FAILED,
            skip_reason=None,
            before=None,
            operation=failed_op,
        ),
        MappingReport(
            id=MAPPING_ID + "3",
            result=MappingResult.TIMED_OUT,
            skip_reason=None,
            before=before,
            desired=DesiredSettings("Disabled", None, None),
            operation=still_running,
        ),
    ]
    return [
        *example_report().vaults,
        vault(error=ErrorInfo(code="AuthorizationFailed", message="no access")),
        vault(),
        VaultReport(
            id=VAULT_ID + "-2",
            subscription_id="sub",
            status=VaultStatus.OK,
            error=None,
            listed_via=ListedVia.CONTAINERS,
            mappings=mappings,
        ),
    ]
