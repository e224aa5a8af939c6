"""The real CLI: `audit` of a fleet with every agent state, the metrics file of plan, apply and
audit, and the saved-report views of those very reports.

One emulator, three CLI runs (plan and audit side by side, then apply); `report show` and
`report html` then read the reports the runs left, through the command line's own entry.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_support import IDENTITY_HEADER, cli_env, write_config
from prometheus_client.parser import text_string_to_metric_families
from report_schema import assert_valid_report
from scenarios import QUICK, run_cli_process

from orchestrator.cli import main
from orchestrator.emulator import EmulatorServer, FleetSpec

pytestmark = pytest.mark.integration

FLEET: dict[str, Any] = {
    **QUICK,
    "seed": 41,
    "subscriptions": 2,
    "vaults_per_subscription": 3,
    "operation_failure_rate": 0.2,
    "protected_items": {
        "per_vault": [6, 8],
        "non_a2a": 0.1,
        "update_required": 0.2,
        "expiring": 0.2,
        "expired": 0.15,
        "unknown": 0.15,
    },
}
COMMANDS = ("plan", "audit", "apply")


async def _runs(directory: Path) -> dict[str, Any]:
    server = EmulatorServer(FleetSpec.model_validate(FLEET), identity_header=IDENTITY_HEADER)
    await server.start()
    try:
        config = write_config(
            directory / "config.yaml", server, action="enable", subscriptions="all"
        )
        env = cli_env(server)

        async def run(command: str) -> tuple[int, str]:
            argv = [command, str(config), "--log-format", "json"]
            argv += ["--report", str(directory / f"{command}.json")]
            argv += ["--metrics-file", str(directory / f"{command}.prom")]
            code, _, err = await run_cli_process(argv, env)
            return code, err

        read_only = await asyncio.gather(run("plan"), run("audit"))  # neither changes anything
        codes = {"plan": read_only[0], "audit": read_only[1], "apply": await run("apply")}
        expected = Counter(
            str(item.agent)
            for vault_id in server.state.vault_ids()
            for item in server.state.protected_items(vault_id)
            if item.a2a
        )
        sets = server.state.counters.requests["set"]
    finally:
        await server.stop()
    return {"codes": codes, "agents": expected, "sets": sets}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("audit")
    return directory, asyncio.run(_runs(directory))


def report(directory: Path, command: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / f"{command}.json").read_text())
    assert_valid_report(loaded)
    return loaded


def test_an_audit_judges_every_agent_state_and_exits_1_for_an_expired_one(
    runs: tuple[Path, dict[str, Any]],
) -> None:
    directory, facts = runs
    audit = report(directory, "audit")
    expected = facts["agents"]
    assert set(expected) == {"current", "update_required", "expiring", "expired", "unknown"}
    assert audit["totals"]["agents"] == {state: expected[state] for state in expected}
    items = [item for vault in audit["vaults"] for item in vault["protected_items"]]
    assert Counter(item["agent_state"] for item in items) == expected
    assert facts["codes"]["audit"][0] == audit["exit_code"] == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_the_metrics_file_parses_and_agrees_with_the_report(
    runs: tuple[Path, dict[str, Any]], command: str
) -> None:
    directory, _ = runs
    saved = report(directory, command)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families((directory / f"{command}.prom").read_text())
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[
            (
                f"asr_autoupdate_last_run_{name}",
                tuple(sorted({"command": command, **labels}.items())),
            )
        ]

    assert value("exit_code") == saved["exit_code"]
    assert value("outcome", outcome=saved["outcome"]) == 1
    assert value("vaults") == saved["totals"]["vaults"]
    for result in ("succeeded", "failed", "skipped", "would_change", "unhealthy", "timed_out"):
        assert value("mappings", result=result) == saved["totals"][result], result
    assert value("calls", kind="get") == saved["calls"]["get"]
    assert value("calls", kind="set") == saved["calls"]["set"]
    for state, count in (saved["totals"].get("agents") or {}).items():
        assert value("agents", state=state) == count


@pytest.mark.parametrize("command", COMMANDS)
def test_report_show_and_html_read_each_report_the_runs_left(
    runs: tuple[Path, dict[str, Any]], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, _ = runs
    saved = report(directory, command)
    assert main(["report", "show", str(directory / f"{command}.json")]) == 0
    shown = capsys.readouterr().out
    assert f"asr-autoupdate {command}" in shown and all(
        len(line) <= 80 for line in shown.splitlines()
    )
    page = directory / f"{command}.html"
    assert main(["report", "html", str(directory / f"{command}.json"), "-o", str(page)]) == 0
    html = page.read_text()
    assert f'data-value="{saved["totals"]["vaults"]}"' in html
    assert "http://" not in html and "https://" not in html


def test_plan_and_audit_send_nothing_and_apply_changes_what_plan_said(
    runs: tuple[Path, dict[str, Any]],
) -> None:
    directory, facts = runs
    plan, apply = report(directory, "plan"), report(directory, "apply")
    assert plan["calls"]["set"] == report(directory, "audit")["calls"]["set"] == 0
    assert facts["sets"] == apply["calls"]["set"] == plan["totals"]["would_change"]
