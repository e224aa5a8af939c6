"""Operations an earlier run left running, taken over by this one.

They come from two places: the operation journal (a run killed mid-way, with no flag) and
``apply --resume REPORT`` (the operations a report left ``interrupted`` or ``timed_out``). Both
become :class:`ResumePoint`; the engine tracks each at once, before anything is sent, and never
PATCHes a mapping while its resumed operation may still run: the mapping takes its result from
that operation when it ends. One whose status URL is gone (404: it ended long ago and ASR forgot
it) leaves the mapping to be decided afresh from its listing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.asr.mapping import MappingSnapshot
from orchestrator.work.lro import PollVerdict, StrategyKind
from orchestrator.work.records import MappingWork


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """One operation an earlier run left running."""

    mapping_id: str
    vault_id: str
    subscription_id: str
    url: str
    kind: StrategyKind
    polls: int
    started_at: datetime | None

    @property
    def vault_name(self) -> str:
        return self.vault_id.rstrip("/").rsplit("/", 1)[-1]


def merge_points(*sources: Iterable[ResumePoint]) -> list[ResumePoint]:
    """One point per mapping (case-insensitive); a later source's point wins over an earlier's.

    The journal comes last: it knows the URL's kind, which a report does not record.
    """
    merged: dict[str, ResumePoint] = {}
    for source in sources:
        for point in source:
            merged[point.mapping_id.lower()] = point
    return list(merged.values())


@dataclass(slots=True, eq=False)
class ResumedOperation:
    """A resumed operation and, once its mapping is listed, the record that takes its result.

    ``verdict`` is set when it ended; a verdict with UNREADABLE means its URL is gone.
    """

    point: ResumePoint
    trackable: bool = True  # False: its URL is refused (off the ARM origin)
    verdict: PollVerdict | None = None
    adopter: MappingWork | None = field(default=None, repr=False)  # its record, once listed
    snapshot: MappingSnapshot | None = field(default=None, repr=False)  # as listed
