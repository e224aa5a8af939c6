"""The operation journal's durability (orchestrator.work.journal): each record is in the file
(the kernel has it: a ``kill -9`` cannot lose it) when the call returns or first awaits;
``accepted`` returns only once an fsync covered its record; one fsync covers every record
written before it (group commit); ``ended`` is fsynced with the next one, unwaited.

The sync the journal uses (``os.fdatasync``, ``os.fsync`` where there is none) is wrapped to record, for each call, how many lines the file held: the real fsync
still runs. The ``kill -9`` across processes is ``tests/integration/test_journal.py``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.work.journal import Journal
from orchestrator.work.lro import StrategyKind
from orchestrator.work.resume import ResumePoint

VAULT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"


def point(n: int) -> ResumePoint:
    mapping = f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/m{n}"
    url = f"https://management.azure.com/op/{n}?api-version=2021-12-01"
    return ResumePoint(mapping, VAULT, "s", url, StrategyKind.AZURE_ASYNC_OPERATION, 0, None)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


SYNC = "fdatasync" if hasattr(os, "fdatasync") else "fsync"  # what the journal calls


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Lines in the journal at each fsync of it (the real fsync runs too)."""
    seen: list[int] = []
    real = getattr(os, SYNC)

    def recording(fd: int) -> None:
        real(fd)
        seen.append(len((tmp_path / "journal.jsonl").read_text().splitlines()))

    monkeypatch.setattr(os, SYNC, recording)
    return seen


async def test_an_accepted_record_is_written_before_the_first_await_and_fsynced_before_return(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    call = asyncio.ensure_future(journal.accepted(point(1)))
    await asyncio.sleep(0)  # the call ran up to its wait for the fsync
    assert [line["event"] for line in lines(journal.path)] == ["accepted"]
    await call
    assert fsyncs == [1]
    journal.close()


async def test_records_written_in_the_same_turn_share_one_fsync(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    returned: list[int] = []

    async def accept(n: int) -> None:
        await journal.accepted(point(n))
        returned.append(len(fsyncs))  # fsyncs done when this call went on

    await asyncio.gather(*(accept(n) for n in range(50)))
    assert fsyncs == [50]
    assert returned == [1] * 50
    journal.close()


async def test_an_ended_record_is_written_at_once_and_fsynced_on_the_next_turn_unwaited(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    await journal.accepted(point(1))
    journal.ended(point(1).mapping_id, "Succeeded")
    assert [line["event"] for line in lines(journal.path)] == ["accepted", "ended"]
    assert fsyncs == [1]
    await asyncio.sleep(0)
    assert fsyncs == [1, 2]
    journal.close()
    assert fsyncs == [1, 2]  # nothing left to fsync


async def test_close_fsyncs_what_is_not_yet(tmp_path: Path, fsyncs: list[int]) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    await journal.accepted(point(1))
    journal.ended(point(1).mapping_id, "Succeeded")
    journal.close()
    assert fsyncs == [1, 2]


async def test_a_record_written_while_an_fsync_is_due_joins_it(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    """Group commit across tasks: what any task writes before the fsync's turn comes is in it."""
    journal = Journal.open(tmp_path / "journal.jsonl")
    first = asyncio.ensure_future(journal.accepted(point(1)))
    await asyncio.sleep(0)
    journal.ended(point(1).mapping_id, "Succeeded")  # another task's record, same turn
    await first
    assert fsyncs == [2]
    journal.close()


def _failing_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_gone(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, SYNC, disk_gone)


async def test_a_failed_fsync_fails_the_accepted_calls_waiting_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    _failing_fsync(monkeypatch)
    results = await asyncio.gather(
        journal.accepted(point(1)), journal.accepted(point(2)), return_exceptions=True
    )
    assert [type(r) for r in results] == [OSError, OSError]
    monkeypatch.undo()
    journal.close()


async def test_an_accepted_record_whose_sync_failed_stays_open_through_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASR accepted the PATCH; its record was written but not synced, so the mapping failed
    here. The operation may still run: compaction keeps it for the next run to read."""
    journal = Journal.open(tmp_path / "journal.jsonl")
    await journal.accepted(point(1))
    _failing_fsync(monkeypatch)
    with pytest.raises(OSError, match="Input/output"):
        await journal.accepted(point(2))
    monkeypatch.undo()
    journal.ended(point(1).mapping_id, "Succeeded")
    assert journal.unended() == [point(2).mapping_id.lower()]
    journal.compact(journal.unended())
    reopened = Journal.open(tmp_path / "journal.jsonl")
    assert reopened.unended() == [point(2).mapping_id.lower()]
    reopened.close()


async def test_a_failed_fsync_no_call_waits_on_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    await journal.accepted(point(1))
    _failing_fsync(monkeypatch)
    with capture_logs() as events:
        journal.ended(point(1).mapping_id, "Succeeded")
        await asyncio.sleep(0)
    assert [e["event"] for e in events] == ["journal_not_synced"]
    monkeypatch.undo()
    journal.close()


async def test_a_cancelled_wait_leaves_the_record_written_and_the_others_unharmed(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    journal = Journal.open(tmp_path / "journal.jsonl")
    cancelled = asyncio.ensure_future(journal.accepted(point(1)))
    kept = asyncio.ensure_future(journal.accepted(point(2)))
    await asyncio.sleep(0)
    cancelled.cancel()
    await kept
    assert cancelled.cancelled()
    assert fsyncs == [2]
    assert [line["event"] for line in lines(journal.path)] == ["accepted", "accepted"]
    journal.close()
