"""The operation journal and `--resume`, in process (a `kill -9` across processes is the
integration tier's `test_journal.py`).

A run that ends with operations still running leaves them in the journal; the next `apply` of
the same config, with no flag, tracks them first and never PATCHes a mapping while its operation
runs; the journal is then removed. A journal that cannot be written is a config error. A resumed
operation whose URL is gone (404: ASR forgot it) leaves its mapping to be checked afresh.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from flows import ALL_CHANGE, by_id, consistent, rig, watched

from orchestrator.emulator import EmulatorState, FaultKind
from orchestrator.work.progress import Phase

LONG = {"operation_seconds": [60, 120], "shares": ALL_CHANGE, "mappings_per_vault": [2, 3]}


def _journal_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_next_apply_takes_over_journalled_operations_and_patches_none_of_them(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, **LONG)
    journal = tmp_path / "journal.jsonl"
    config = r.write_config(subscriptions="all", timeout_minutes=0.5)
    first = r.run(config=config)
    assert consistent(first, exit_code=3)["timed_out"] == len(first.mappings())
    accepted = [line for line in _journal_lines(journal) if line["event"] == "accepted"]
    assert len(accepted) == len(first.mappings())  # compacted to the ones still running
    since = r.state.counters.requests.copy()

    second = r.run(config=r.write_config(subscriptions="all", timeout_minutes=5))

    assert r.state.counters.requests["set"] == since["set"]  # not one PATCH
    assert consistent(second, exit_code=0, since=since)["succeeded"] == len(second.mappings())
    # Tracked at once: read right after discovery and the vaults' first listings, before
    # anything else of the run (each vault's read-back comes only once its operations ended)
    # but the Automation account, read ahead as the listings start.
    reads = [url.split("?")[0] for _, url in second.transport.sent if "/msi/" not in url]
    earliest = reads[: 2 + len(r.state.vault_ids()) + 1 + len(accepted)]
    assert {str(line["url"]).split("?")[0] for line in accepted} <= set(earliest)
    assert {e["event"]: e.get("count") for e in second.events}["operations_resumed"] == len(
        accepted
    )
    assert not journal.exists()  # nothing left open: removed


def test_a_journal_that_cannot_be_written_exits_2_before_anything_is_sent(tmp_path: Path) -> None:
    r = rig(tmp_path)
    (tmp_path / "a-file").write_text("")
    run = r.run(
        config=r.write_config(subscriptions="all", state_file=str(tmp_path / "a-file" / "j"))
    )
    assert run.exit_code == 2
    assert sum(r.state.counters.requests.values()) == 0
    assert run.report is not None and "state_file" in run.report["error"]["message"]


def test_a_torn_last_journal_line_is_skipped(tmp_path: Path) -> None:
    r = rig(tmp_path, **LONG)
    journal = tmp_path / "journal.jsonl"
    assert r.run(config=r.write_config(subscriptions="all", timeout_minutes=0.5)).exit_code == 3
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    since = r.state.counters.requests.copy()
    second = r.run(config=r.write_config(subscriptions="all", timeout_minutes=5))
    # The torn line's mapping is PATCHed again: a 409 says its operation runs; it is waited out.
    assert r.state.counters.requests["set"] - since["set"] == 1 == r.state.counters.conflicts
    r.state.counters.patches_while_running = 0
    assert consistent(second, exit_code=0, since=since)["succeeded"] == len(second.mappings())


def _interrupt_after(seconds: float) -> Callable[[EmulatorState], None]:
    def schedule(_: EmulatorState) -> None:
        asyncio.get_running_loop().call_later(seconds, os.kill, os.getpid(), signal.SIGINT)

    return schedule


def test_resume_rechecks_a_mapping_whose_operation_url_expired(tmp_path: Path) -> None:
    r = rig(tmp_path, **LONG)
    config = r.write_config(subscriptions="all", state_file=None)
    first = r.run(config=config, before=_interrupt_after(10))
    assert first.exit_code == 130
    shutil.copy(tmp_path / "report.json", tmp_path / "first.json")
    lost, landed, *running = [m for m in first.mappings() if m["result"] == "interrupted"]
    assert running

    def expire(state: EmulatorState) -> None:
        """Every operation has ended; ASR forgot two: one that failed, one that succeeded."""
        for mapping in (lost, landed, *running):
            operation = state.operations.find(
                mapping["operation"]["url"].split("?")[0].rsplit("/", 1)[-1]
            )
            assert operation is not None
            operation.ends = 0.0
            if mapping in (lost, landed):
                operation.status_fault = FaultKind.STATUS_404_FOREVER
            if mapping is lost:
                operation.outcome = type(operation.outcome)("Failed")

    since = r.state.counters.requests.copy()
    second = r.run(config=config, resume=str(tmp_path / "first.json"), before=expire)

    consistent(second, exit_code=0, since=since)
    results = by_id(second)
    assert results[lost["id"].lower()]["result"] == "succeeded"  # PATCHed again: it needed it
    assert results[landed["id"].lower()]["skip_reason"] == "compliant"  # not PATCHed: it had it
    assert all(results[m["id"].lower()]["result"] == "succeeded" for m in running)
    patched = [e.path.lower() for e in r.state.journal if e.method == "PATCH"][since["set"] :]
    assert patched == [lost["id"].lower()]


def test_resume_with_a_report_of_mappings_the_config_does_not_target_exits_2(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, **LONG)
    sub = r.state.subscription_ids[0]
    config = r.write_config(subscriptions=[sub], state_file=None, timeout_minutes=0.5)
    assert r.run(config=config).exit_code == 3
    report = json.loads((tmp_path / "report.json").read_text())
    elsewhere = "/subscriptions/00000000-0000-0000-0000-00000000beef/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v9"
    report["vaults"][0]["id"] = elsewhere  # same config, same sha256: only the targets differ
    for mapping in report["vaults"][0]["mappings"]:
        mapping["id"] = (
            elsewhere
            + "/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/"
            + mapping["id"].rsplit("/", 1)[-1]
        )
    (tmp_path / "edited.json").write_text(json.dumps(report))
    since = sum(r.state.counters.requests.values())
    run = r.run(config=config, resume=str(tmp_path / "edited.json"))
    assert run.exit_code == 2
    assert sum(r.state.counters.requests.values()) == since
    assert (
        run.report is not None
        and "not among the config's targets" in run.report["error"]["message"]
    )


def test_journalled_operations_show_as_running_from_the_start(tmp_path: Path) -> None:
    """What the live display shows: the taken-over operations running before any has ended."""
    r = rig(tmp_path, **LONG)
    assert r.run(config=r.write_config(subscriptions="all", timeout_minutes=0.5)).exit_code == 3
    journalled = len(_journal_lines(tmp_path / "journal.jsonl"))
    code, samples = watched(r, r.write_config(subscriptions="all", timeout_minutes=5))
    assert code == 0
    running = [s for s in samples if s.phase is Phase.RUNNING]
    assert running and running[0].operations_running == journalled
    assert running[0].patches_sent == 0 and samples[-1].operations_done == journalled
