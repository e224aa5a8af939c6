"""Reports built from the models, for the tests of the views (terminal, HTML, metrics).

Deterministic: the n-th vault and mapping always end the same way, so tests can count.
Importable from unit and integration tests alike (``tests/`` holds a conftest, so pytest puts
it on the path).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Final

from orchestrator.asr.agents import AgentState
from orchestrator.asr.desired import Action, DesiredSettings
from orchestrator.asr.mapping import HealthError, MappingSettings
from orchestrator.asr.rules import SkipReason
from orchestrator.output.report import (
    Calls,
    Command,
    ConfigIdentity,
    MappingReport,
    OperationReport,
    ProtectedItemReport,
    Report,
    SubscriptionReport,
    VaultReport,
    count_totals,
    exit_code_for,
    flags_from_totals,
    outcome_for,
)
from orchestrator.work.outcomes import (
    ErrorInfo,
    ListedVia,
    MappingResult,
    Notice,
    SubscriptionStatus,
    VaultStatus,
)

STARTED: Final = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
ACCOUNT: Final = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-automation"
    "/providers/Microsoft.Automation/automationAccounts/aa-asr-fleet"
)
VAULT_ERROR_EVERY: Final = 50  # every 50th vault could not be listed

# What the n-th mapping of a run ends as, cycling (a skipped one with its reason).
APPLY_ENDINGS: Final = (
    (MappingResult.SUCCEEDED, None),
    (MappingResult.SKIPPED, SkipReason.COMPLIANT),
    (MappingResult.SUCCEEDED, None),
    (MappingResult.SKIPPED, SkipReason.NOT_A2A),
    (MappingResult.FAILED, None),
    (MappingResult.SKIPPED, SkipReason.COMPLIANT),
    (MappingResult.UNHEALTHY, None),
    (MappingResult.SKIPPED, SkipReason.NOT_PAIRED),
    (MappingResult.TIMED_OUT, None),
    (MappingResult.SUCCEEDED, None),
    (MappingResult.NOT_STARTED, None),
    (MappingResult.INTERRUPTED, None),
)
PLAN_ENDINGS: Final = (
    (MappingResult.WOULD_CHANGE, None),
    (MappingResult.SKIPPED, SkipReason.COMPLIANT),
    (MappingResult.SKIPPED, SkipReason.NOT_A2A),
    (MappingResult.WOULD_CHANGE, None),
    (MappingResult.SKIPPED, SkipReason.NOT_PAIRED),
    (MappingResult.SKIPPED, SkipReason.COMPLIANT),
)


def subscription_id(index: int) -> str:
    return f"{index + 1:08d}-aaaa-bbbb-cccc-{index + 1:012d}"


def vault_id(sub: str, index: int) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/rg-dr-{index % 7}/providers/"
        f"Microsoft.RecoveryServices/vaults/rsv-dr-{index:04d}"
    )


def mapping_id(vault: str, index: int) -> str:
    # ARM answers with a capital S; the containers' names are long, as in real fleets.
    return (
        vault.replace("/subscriptions/", "/Subscriptions/", 1)
        + "/replicationFabrics/asr-a2a-default-westeurope/replicationProtectionContainers/"
        "asr-a2a-default-westeurope-container/replicationProtectionContainerMappings/"
        f"westeurope-northeurope-24-hour-retention-policy-{index:03d}"
    )


def settings(
    status: str | None, *, account: str | None = ACCOUNT, health: tuple[HealthError, ...] = ()
) -> MappingSettings:
    return MappingSettings(
        agent_auto_update_status=status,
        automation_account_arm_id=account,
        authentication_type="SystemAssignedIdentity" if account else None,
        health_errors=len(health),
        state="Paired",
        health_error_details=health,
    )


HEALTH_ERROR: Final = HealthError(
    code="151185",
    message="The Automation account's managed identity has no access to the vault.",
    possible_causes="The identity was created but never given a role on the vault.",
    recommended_action="Assign the Contributor role on the vault to the Automation account's "
    "system-assigned identity, then repair the mapping.",
)


def mapping(
    vault: str, index: int, result: MappingResult, reason: SkipReason | None
) -> MappingReport:
    """A mapping that ended ``result``, with what a run of that ending records."""
    mid = mapping_id(vault, index)
    desired = DesiredSettings("Enabled", ACCOUNT, "SystemAssignedIdentity")
    if result is MappingResult.SKIPPED:
        return MappingReport(
            id=mid, result=result, skip_reason=reason, before=settings("Enabled"), operation=None
        )
    if result in (MappingResult.WOULD_CHANGE, MappingResult.NOT_STARTED):
        error = (
            ErrorInfo(code="max_changes_reached", message="--max-changes 100 reached")
            if result is MappingResult.NOT_STARTED
            else None
        )
        operation = (
            None
            if error is None
            else OperationReport(
                url=None, status=None, polls=0, started_at=None, finished_at=None, error=error
            )
        )
        return MappingReport(
            id=mid,
            result=result,
            skip_reason=None,
            before=settings("Disabled", account=None),
            desired=desired,
            operation=operation,
        )
    return MappingReport(
        id=mid,
        result=result,
        skip_reason=None,
        before=settings("Disabled", account=None),
        desired=desired,
        after=_after(result),
        operation=_operation(mid, result),
    )


def _after(result: MappingResult) -> MappingSettings | None:
    if result is MappingResult.SUCCEEDED:
        return settings("Enabled")
    if result is MappingResult.UNHEALTHY:
        return settings("Enabled", health=(HEALTH_ERROR,))
    return None


def _operation(mid: str, result: MappingResult) -> OperationReport:
    ended = result in (MappingResult.SUCCEEDED, MappingResult.UNHEALTHY, MappingResult.FAILED)
    error = (
        ErrorInfo(
            code="AuthorizationFailed",
            message="The client does not have authorization to perform action "
            "'Microsoft.RecoveryServices/vaults/replicationFabrics/write'.",
        )
        if result is MappingResult.FAILED
        else None
    )
    status = {MappingResult.FAILED: "Failed"}.get(result, "Succeeded" if ended else "InProgress")
    return OperationReport(
        url=f"https://management.azure.com{mid}/operationResults/op-1?api-version=2021-12-01",
        status=status,
        polls=3,
        started_at=STARTED + timedelta(seconds=5),
        finished_at=STARTED + timedelta(seconds=65) if ended else None,
        error=error,
    )


def protected_items(vault: str, index: int, count: int) -> list[ProtectedItemReport]:
    """``count`` items whose agents cycle through every state."""
    states = list(AgentState)
    items = []
    for n in range(count):
        state = states[(index + n) % len(states)]
        expiry = {
            AgentState.EXPIRED: STARTED - timedelta(days=3),
            AgentState.EXPIRING: STARTED + timedelta(days=12),
        }.get(state, STARTED + timedelta(days=300))
        known = state is not AgentState.UNKNOWN
        items.append(
            ProtectedItemReport(
                id=f"{vault}/replicationProtectedItems/vm-app-{index:04d}-{n}",
                name=f"vm-app-{index:04d}-{n}",
                agent_version="9.62.7172.1" if known else None,
                agent_state=state,
                agent_expiry=expiry if known else None,
                certificate_expiry=expiry if known else None,
                last_heartbeat=STARTED - timedelta(minutes=5) if known else None,
            )
        )
    return items


def vault(
    sub: str, index: int, endings: tuple[tuple[MappingResult, SkipReason | None], ...], audit: bool
) -> VaultReport:
    vid = vault_id(sub, index)
    if index % VAULT_ERROR_EVERY == VAULT_ERROR_EVERY - 1:
        return VaultReport(
            id=vid,
            subscription_id=sub,
            status=VaultStatus.ERROR,
            error=ErrorInfo(
                code="AuthorizationFailed", message="The client may not list the vault's mappings."
            ),
            mappings=[],
            protected_items=[] if audit else None,
        )
    count = 1 + (index * 7) % 6
    mappings = [mapping(vid, n, *endings[(index + n) % len(endings)]) for n in range(count)]
    return VaultReport(
        id=vid,
        subscription_id=sub,
        status=VaultStatus.OK,
        error=None,
        listed_via=ListedVia.CONTAINERS if index % 9 == 0 else ListedVia.VAULT,
        mappings=mappings,
        protected_items=protected_items(vid, index, 1 + index % 4) if audit else None,
    )


def fleet_report(
    *, vaults: int = 500, subscriptions: int = 5, command: Command = Command.APPLY
) -> Report:
    """A discovered fleet of ``vaults`` vaults over ``subscriptions`` subscriptions.

    ``apply`` ends every result; ``plan`` and ``audit`` would-change and skipped ones; ``audit``
    adds agents in every state. Discovery also met a disabled and an unreadable subscription.
    """
    audit = command is Command.AUDIT
    endings = APPLY_ENDINGS if command is Command.APPLY else PLAN_ENDINGS
    subs = [subscription_id(n) for n in range(subscriptions)]
    vault_reports = [vault(subs[n % subscriptions], n, endings, audit) for n in range(vaults)]
    return assemble(
        command,
        vault_reports,
        subscriptions=[
            *(
                SubscriptionReport(
                    id=sub,
                    status=SubscriptionStatus.OK,
                    state="Enabled",
                    error=None,
                    vaults_found=sum(v.subscription_id == sub for v in vault_reports),
                )
                for sub in subs
            ),
            SubscriptionReport(
                id="99999999-0000-0000-0000-000000000098",
                status=SubscriptionStatus.SKIPPED,
                state="Disabled",
                error=None,
                vaults_found=0,
            ),
            SubscriptionReport(
                id="99999999-0000-0000-0000-000000000099",
                status=SubscriptionStatus.ERROR,
                state="Enabled",
                error=ErrorInfo(code="AuthorizationFailed", message="may not list vaults"),
                vaults_found=0,
            ),
        ],
        warnings=[
            Notice(
                code="subscription_not_enabled",
                message="subscription 99999999-0000-0000-0000-000000000098 is Disabled",
            ),
            Notice(
                code="filter_matched_nothing",
                message=f"exclude entry rsv-old matched no vault in subscription {subs[0]}",
            ),
        ],
    )


def assemble(
    command: Command,
    vaults: list[VaultReport],
    *,
    subscriptions: list[SubscriptionReport] | None = None,
    warnings: list[Notice] | None = None,
    error: ErrorInfo | None = None,
    calls: Calls | None = None,
) -> Report:
    """A report of ``vaults`` whose totals, exit code and outcome follow from them."""
    results = Counter(m.result for v in vaults for m in v.mappings)
    audit = command is Command.AUDIT
    agents = Counter(i.agent_state for v in vaults for i in v.protected_items or [])
    totals = count_totals(
        results,
        vaults=len(vaults),
        vaults_failed=sum(v.status is VaultStatus.ERROR for v in vaults),
        agents=agents if audit else None,
    )
    exit_code = exit_code_for(flags_from_totals(totals))
    return Report(
        tool_version="0.2.0",
        run_id="run-7f3c2a",
        command=command,
        action=Action.ENABLE,
        config=ConfigIdentity(path="/etc/asr-autoupdate/fleet.yaml", sha256="ab" * 32),
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=754.25),
        duration_s=754.25,
        outcome=outcome_for(exit_code),
        exit_code=int(exit_code),
        error=error,
        warnings=warnings or [],
        totals=totals,
        calls=calls or Calls(get=12345, set=678, throttled=9, retried=21),
        vaults=vaults,
        subscriptions=subscriptions,
    )
