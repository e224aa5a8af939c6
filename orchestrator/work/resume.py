"""`apply --resume REPORT`: pick up the operations an earlier run left running.

The operations an earlier report left ``interrupted`` or ``timed_out`` are tracked again from the
start of the run. A mapping whose resumed operation is still running is never PATCHed again: it
takes its result from that operation when it ends. Everything else is applied as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.output.report import MappingResult, Report
from orchestrator.work.lro import PollVerdict

if TYPE_CHECKING:
    from orchestrator.work.poller import TrackedOperation
    from orchestrator.work.records import MappingWork

RESUMABLE = frozenset({MappingResult.INTERRUPTED, MappingResult.TIMED_OUT})


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """One operation an earlier run left running."""

    mapping_id: str
    vault_name: str
    subscription_id: str
    url: str
    polls: int
    started_at: datetime | None


def resume_points(report: Report) -> list[ResumePoint]:
    """The operations ``report`` left running (interrupted or timed out, with a status URL)."""
    points: list[ResumePoint] = []
    for vault in report.vaults:
        name = vault.id.rstrip("/").rsplit("/", 1)[-1]
        for mapping in vault.mappings:
            operation = mapping.operation
            if mapping.result in RESUMABLE and operation is not None and operation.url:
                points.append(
                    ResumePoint(
                        mapping_id=mapping.id,
                        vault_name=name,
                        subscription_id=vault.subscription_id,
                        url=operation.url,
                        polls=operation.polls,
                        started_at=operation.started_at,
                    )
                )
    return points


@dataclass(slots=True, eq=False)
class ResumedOperation:
    """A resumed operation and, once listed, the mapping record that takes its result."""

    point: ResumePoint
    operation: TrackedOperation | None = field(default=None, repr=False)  # None: not trackable
    verdict: PollVerdict | None = None  # set when the operation ended
    work: MappingWork | None = field(default=None, repr=False)
