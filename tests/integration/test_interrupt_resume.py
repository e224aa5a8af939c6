"""SIGINT and SIGTERM stop a real process cleanly; `apply --resume` picks up what it left.

Two `apply`s of two configs run side by side against one emulator and are signalled once ASR
accepted their first burst of PATCHes: each exits 130 with its report written. A PATCH that
never left the process (still waiting for the limiter) ends `not_started`; one ASR accepted
ends `interrupted` with its operation's URL. Then `--resume` of one report (its journal off, so
the report alone says what ran) tracks those operations to their end and PATCHes none of them.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_support import CliRun, StartEmulator, cli_env, finish, spawn_cli, until, write_config
from run_checks import assert_run_consistent

from orchestrator.emulator import EmulatorServer

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 21,
    "subscriptions": 1,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [3, 4],
    "shares": {"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.0, "unhealthy": 0.0},
    # Longer than the 3 s an interrupt grants in-flight work: still running when the run stops.
    "operation_seconds": [4.0, 4.5],
    "operation_failure_rate": 0.0,
}
BURST = 3  # PATCHes a run may send in any 2 s


def accepted_under(server: EmulatorServer, vaults: list[str]) -> int:
    prefixes = tuple(v.lower() + "/" for v in vaults)
    return sum(
        1
        for e in server.state.journal
        if e.method == "PATCH" and e.status == 202 and e.path.lower().startswith(prefixes)
    )


async def _interrupted(
    server: EmulatorServer,
    tmp_path: Path,
    name: str,
    vaults: list[str],
    signum: signal.Signals,
    burst: int = BURST,
) -> dict[str, Any]:
    """Run an apply of ``vaults``; once its first ``burst`` of PATCHes was accepted, send
    ``signum``."""
    config = write_config(
        tmp_path / f"{name}.yaml", server, action="enable", vaults=vaults, state_file=None,
        limits={"set": {"calls": burst, "per_seconds": 2}},
    )  # fmt: skip
    report = tmp_path / f"{name}.json"
    process = await spawn_cli(
        "apply", str(config), "--report", str(report), "--log-format", "json", env=cli_env(server)
    )
    await until(lambda: accepted_under(server, vaults) >= burst, "a burst", process=process)
    process.send_signal(signum)
    code, _, err = await finish(process)
    assert code == 130, err[-2000:]
    assert "Traceback" not in err
    loaded = json.loads(report.read_text())
    return {"config": config, "path": report, "report": loaded, "stderr": err}


async def test_signals_stop_runs_with_reports_and_resume_finishes_one(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    first, *rest = server.state.vault_ids()
    everything = len(server.state.fleet.vaults[first.lower()].mappings)
    sigint, sigterm = await asyncio.gather(
        _interrupted(server, tmp_path, "one", [first], signal.SIGINT, burst=everything),
        _interrupted(server, tmp_path, "rest", rest, signal.SIGTERM),
    )

    for stopped, name in ((sigint, "SIGINT"), (sigterm, "SIGTERM")):
        report = stopped["report"]
        assert report["outcome"] == "interrupted" and report["exit_code"] == 130
        assert report["error"]["code"] == "interrupted" and name in report["error"]["message"]
        mappings = [m for v in report["vaults"] for m in v["mappings"]]
        interrupted = [m for m in mappings if m["result"] == "interrupted"]
        assert interrupted and all(m["operation"]["url"] for m in interrupted)
    queued = [m for v in sigterm["report"]["vaults"] for m in v["mappings"]]
    assert {m["result"] for m in queued} == {"interrupted", "not_started"}
    assert all(m["operation"] is None for m in queued if m["result"] == "not_started")
    assert all(m["result"] == "interrupted" for m in sigint["report"]["vaults"][0]["mappings"])

    since = server.state.counters.requests.copy()
    code, _, err = await finish(
        await spawn_cli(
            "apply", str(sigint["config"]), "--resume", str(sigint["path"]),
            "--report", str(tmp_path / "resumed.json"), "--log-format", "json",
            env=cli_env(server),
        )
    )  # fmt: skip

    resumed = CliRun(code, "", err, json.loads((tmp_path / "resumed.json").read_text()))
    results = assert_run_consistent(server, resumed, vaults=[first], exit_code=0, since=since)
    assert results["succeeded"] == len(sigint["report"]["vaults"][0]["mappings"])
    assert server.state.counters.requests["set"] == since["set"]  # none PATCHed again
