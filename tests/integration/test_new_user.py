"""A new user, with only the README: try the tool on the built-in emulator, end to end.

The fleet is the README's own example fleet block (two subscriptions), with three documented
keys changed so the test stays fast and certain: operations take 0.1-0.3 s instead of 2-20 s,
none fail, and any well-formed Automation account counts as one that exists
(`check_automation_accounts: false`). The config embeds it (`emulator:`), so `plan` and `apply`
need no Azure account and no server of the test's: each run starts its own emulator on the same
seed, so the two run side by side. `asr-autoupdate schema report` then validates both reports.
(`validate` of such a config is proven in process, in `tests/unit/test_flows_apply.py`.)
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cli_support import cli_env
from report_schema import assert_valid_report
from scenarios import run_cli_process

from orchestrator.cli import main

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
FAST = {
    "operation_seconds": [0.1, 0.3],
    "operation_failure_rate": 0.0,
    "check_automation_accounts": False,
}
# Any well-formed Automation account id will do against this emulator.
MY_ACCOUNT = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-automation/"
    "providers/Microsoft.Automation/automationAccounts/aa-mine"
)


def readme_fleet() -> dict[str, Any]:
    """The fleet block of the README's "built-in emulator" section."""
    section = README.read_text(encoding="utf-8").split("## The built-in emulator", 1)[1]
    block = re.search(r"```yaml\n(seed:.*?)```", section, re.DOTALL)
    assert block is not None, "the README no longer shows a fleet block"
    fleet = yaml.safe_load(block.group(1))
    assert isinstance(fleet, dict)
    return fleet


async def test_a_new_user_plans_applies_and_gets_valid_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = {**readme_fleet(), **FAST}
    assert fleet["subscriptions"] == 2
    config = tmp_path / "try.yaml"
    config.write_text(
        yaml.safe_dump(
            {"action": "enable", "automation_account": MY_ACCOUNT, "subscriptions": "all",
             "emulator": fleet},
            sort_keys=False,
        )
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the child runs here too: relative paths, as a person types
    env = cli_env(None, XDG_STATE_HOME=str(tmp_path / "state"))  # the journal: not the tester's
    planned, applied = await asyncio.gather(
        run_cli_process(["plan", config.name, "--report", "plan.json"], env),
        run_cli_process(["apply", config.name, "--report", "applied.json"], env),
    )
    assert planned[0] == 0, planned[2][-2000:]
    assert applied[0] == 0, applied[2][-2000:]

    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["totals"]["would_change"] > 0 and plan["calls"]["set"] == 0
    assert len({v["subscription_id"] for v in plan["vaults"]}) == 2
    done = json.loads((tmp_path / "applied.json").read_text())
    assert done["outcome"] == "succeeded"
    assert done["totals"]["succeeded"] == plan["totals"]["would_change"]  # same seed, same fleet
    assert [s["status"] for s in done["subscriptions"]] == ["ok", "ok"]

    assert main(["schema", "report"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in (plan, done):
        jsonschema.validate(report, schema)
        assert_valid_report(report)
    totals = done["totals"]  # the README's arithmetic
    assert totals["mappings"] == sum(
        totals[r]
        for r in ("succeeded", "failed", "skipped", "timed_out", "not_started", "would_change",
                  "interrupted", "unhealthy")
    )  # fmt: skip
    assert totals["changed"] == totals["mappings"] - totals["skipped"] - totals["would_change"]
