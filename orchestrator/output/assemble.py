"""The report made from a run's records: one vault's models at a time, as the report is written.

The records (:mod:`orchestrator.work.records`) are the run's state; nothing here changes them.
:class:`RunReport` pairs the report's head (everything but its vaults) with the settled
records, so that a large run's report never exists whole: each vault's models are built only
when its piece of the file is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.output.report import (
    MappingReport,
    OperationReport,
    ProtectedItemReport,
    Report,
    VaultReport,
)
from orchestrator.work.records import MappingWork, VaultWork


def mapping_report(work: MappingWork) -> MappingReport:
    """The report entry of one settled mapping record."""
    assert work.result is not None, "settle() every record before reporting"
    operation = None
    if work.started_at is not None or work.error is not None:
        operation = OperationReport(
            url=work.operation_url,
            status=work.status,
            polls=work.polls,
            started_at=work.started_at,
            finished_at=work.finished_at,
            error=work.error,
        )
    return MappingReport(
        id=work.id,
        result=work.result,
        skip_reason=work.skip_reason,
        before=work.before,
        desired=work.desired,
        after=work.after,
        operation=operation,
    )


def vault_report(vault: VaultWork) -> VaultReport:
    """The report entry of one settled vault record."""
    items = None
    if vault.agents is not None:
        items = [
            ProtectedItemReport(
                id=agent.id,
                name=agent.name,
                agent_version=agent.agent_version,
                agent_state=agent.state,
                agent_expiry=_utc(agent.agent_expiry),
                certificate_expiry=_utc(agent.certificate_expiry),
                last_heartbeat=_utc(agent.last_heartbeat),
            )
            for agent in vault.agents
        ]
    return VaultReport(
        id=vault.vault_id,
        subscription_id=vault.target.vault.subscription_id,
        status=vault.status,
        error=vault.error,
        listed_via=vault.listed_via,
        mappings=[mapping_report(m) for m in vault.mappings],
        protected_items=items,
    )


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run's report in two parts, so it is written one vault at a time.

    ``head`` is the report but its vaults: ``vaults`` is empty, ``totals`` were counted from the
    settled records. Each vault's models are built from its record only when it is written.
    """

    head: Report
    records: Sequence[VaultWork] = field(repr=False)

    @property
    def exit_code(self) -> int:
        return self.head.exit_code

    def vaults(self) -> Iterator[VaultReport]:
        return (vault_report(vault) for vault in self.records)

    def whole(self) -> Report:
        """The report as one model, every vault in it: costly for a large run."""
        return self.head.model_copy(update={"vaults": list(self.vaults())})
