"""A PATCH whose answer was lost after it took effect, in process: settled by reading back.

The emulator's `faults.drop_after_effect` handles a request, then drops the connection. The
tool reads the mapping back; when the change is not there yet it PATCHes once more, and a 409
then says the lost PATCH's operation runs: from then on it only reads, and the mapping ends
`succeeded` (or `timed_out` at the deadline), never `failed`. The emulator counts every PATCH to
a mapping whose operation runs (`patches_while_running`), the ones it answers 409 included
(`conflicts`): so the two are equal, and no PATCH ever follows a 409 or an accepted one.
"""

from __future__ import annotations

from pathlib import Path

from fleet_checks import patched
from flows import ALL_CHANGE, changed, consistent, rig

from orchestrator.emulator import NO_ANSWER

LOST: dict[str, object] = {
    "faults": {"drop_after_effect": 0.5},
    "shares": ALL_CHANGE,
    "mappings_per_vault": [3, 4],
}


def test_a_lost_patch_answer_is_read_back_and_a_409_is_waited_out_never_resent(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, operation_seconds=[5, 10], **LOST)
    # A long deadline (virtual time is free): a status read fails half the time, backing off.
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=60))
    counters = r.state.counters
    sent = {m["id"]: patched(r.state, m["id"]) for m in changed(run)}
    assert any(NO_ANSWER in statuses for statuses in sent.values()), "no PATCH answer was lost"
    assert counters.conflicts > 0, "no re-sent PATCH met the lost one's operation"
    assert counters.patches_while_running == counters.conflicts
    assert counters.conflicts <= sum(len(statuses) - 1 for statuses in sent.values())
    # Each PATCH after a mapping's first followed a lost answer: never a 409, never a 202.
    assert all(s == NO_ANSWER for statuses in sent.values() for s in statuses[:-1]), sent
    counters.patches_while_running = 0  # accounted for precisely above
    results = consistent(run, exit_code=0)
    assert results["succeeded"] == len(sent)


def test_a_409_after_a_lost_answer_ends_timed_out_at_the_deadline_never_failed(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, operation_seconds=[600, 900], **LOST)
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=2))
    counters = r.state.counters
    sent = {m["id"]: (m, patched(r.state, m["id"])) for m in changed(run)}
    resent = [m for m, statuses in sent.values() if len(statuses) > 1]
    conflicted = [m for m, statuses in sent.values() if 409 in statuses]
    assert conflicted, "no re-sent PATCH met the running operation"
    assert {m["result"] for m in resent} == {"timed_out"}
    assert {m["operation"]["error"]["code"] for m in conflicted} == {"Conflict"}
    # Every PATCH into a running operation was answered 409 (some of those answers were lost).
    assert counters.patches_while_running == counters.conflicts >= len(conflicted)
    assert all(s == NO_ANSWER for _, statuses in sent.values() for s in statuses[:-1])
    assert run.exit_code == 3 and run.report is not None, (
        run.exit_code,
        run.report and run.report["totals"],
    )
    assert run.report["totals"]["failed"] == 0
