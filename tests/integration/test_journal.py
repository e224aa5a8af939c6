"""Nothing lost on a crash, across real processes: `kill -9` of an `apply`, then the next one.

The first `apply` is killed (SIGKILL: no handler, no report, no journal compaction) once ASR
accepted some of its PATCHes and each is on disk in the journal. The second `apply` of the same
config, with no flag, takes those operations over — reads them at once, shows them running —
sends no PATCH to a mapping while its operation runs, PATCHes the rest, ends every mapping in
one final state, and removes the journal. The killed run's lock does not block it. The journal
is where `state_file: default` puts it: under `$XDG_STATE_HOME`, named by the config's path.
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import pytest
from cli_support import (
    CliRun,
    StartEmulator,
    cli_env,
    finish,
    journal_lines,
    spawn_cli,
    until,
    write_config,
)
from run_checks import assert_run_consistent

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 81,
    "subscriptions": 1,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [2, 3],
    "shares": {"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.0, "unhealthy": 0.0},
    "operation_seconds": [1.5, 2.0],
    "operation_failure_rate": 0.0,
}
BURST = 4  # PATCHes the run may send in any 2 s: the kill falls between two bursts


async def test_a_killed_apply_s_operations_are_taken_over_by_the_next_apply(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    config = write_config(
        tmp_path / "fleet.yaml", server, action="enable", subscriptions="all",
        state_file="default", lock_file=str(tmp_path / "run.lock"),
        limits={"set": {"calls": BURST, "per_seconds": 2}},
    )  # fmt: skip
    # `state_file: default`: $XDG_STATE_HOME/asr-autoupdate/journal-<16 hex of sha256(path)>.jsonl
    digest = hashlib.sha256(str(config.resolve()).encode()).hexdigest()[:16]
    journal = tmp_path / "xdg" / "asr-autoupdate" / f"journal-{digest}.jsonl"
    env = cli_env(server, XDG_STATE_HOME=str(tmp_path / "xdg"))
    argv = ["apply", str(config), "--log-format", "json"]
    first = await spawn_cli(*argv, "--report", str(tmp_path / "first.json"), env=env)

    total = len(server.state.fleet.mappings)

    def a_burst_on_disk() -> bool:
        """Every PATCH ASR accepted is journalled, and some are yet to be sent: the next burst
        is two seconds away, so none is in flight when the kill comes."""
        accepted = [line for line in journal_lines(journal) if line["event"] == "accepted"]
        return BURST <= len(accepted) == server.state.counters.operations_started < total

    await until(a_burst_on_disk, "a burst of PATCHes was journalled", process=first)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert not (tmp_path / "first.json").exists()  # killed: no report, no compaction
    taken = {line["mapping"].lower(): line["url"] for line in journal_lines(journal)}
    running = server.state.counters.operations_started
    since = server.state.counters.requests.copy()
    assert len(taken) == running < total

    code, _, err = await finish(
        await spawn_cli(*argv, "--report", str(tmp_path / "second.json"), env=env)
    )

    report = json.loads((tmp_path / "second.json").read_text())
    run = CliRun(code, "", err, report)
    # Among its checks: not one PATCH reached a mapping while its operation ran.
    results = assert_run_consistent(server, run, exit_code=0, since=since)
    assert results["succeeded"] == len(run.results())
    for mapping in (m for vault in report["vaults"] for m in vault["mappings"]):
        url = taken.get(mapping["id"].lower())
        if url is not None:  # taken over, not sent again: it kept the first run's operation
            assert mapping["operation"]["url"] == url
    patches = [e.path.lower() for e in server.state.journal if e.method == "PATCH"]
    assert len(patches) == len(set(patches))  # each mapping PATCHed once, by one run or the other
    assert not set(patches[running:]) & set(taken)
    resumed = [e for e in run.log_events() if e["event"] == "operations_resumed"]
    assert [e["count"] for e in resumed] == [running]
    assert not journal.exists()  # nothing left open: removed
