"""A new user, with only the README: try the tool on the built-in emulator, end to end.

The fleet is the README's own example fleet block (two subscriptions), with two changes so
the test stays fast and certain: operations take 0.1-0.3 s instead of 2-20 s, and none fail.
Everything else is what the README says: the config keys from "The config", validate, plan,
the `subscriptions` list of the report, apply, and `asr-autoupdate schema report`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the venv
import pytest
import yaml
from cli_support import CLI_TIMEOUT, cli_env
from report_schema import assert_valid_report

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
FAST = {"operation_seconds": [0.1, 0.3], "operation_failure_rate": 0.0, "retry_after_seconds": 0}
# Any well-formed Automation account id will do against the emulator.
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


async def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    """``asr-autoupdate ARGS`` as a person would type it (no test-only flags)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", *args,
        cwd=cwd, env=cli_env(None),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def test_a_new_user_discovers_two_subscriptions_plans_applies_and_gets_a_valid_report(
    tmp_path: Path,
) -> None:
    fleet = {**readme_fleet(), **FAST}
    assert fleet["subscriptions"] == 2
    first = write(
        tmp_path / "try.yaml",
        {"action": "enable", "automation_account": MY_ACCOUNT, "subscriptions": "all",
         "emulator": fleet},
    )  # fmt: skip
    code, out, err = await cli("validate", first.name, cwd=tmp_path)
    assert code == 0, err
    assert "every vault of every subscription" in out and "built-in emulator" in out

    # plan once to learn the subscriptions; then name them, as "The config" shows
    code, _, err = await cli("plan", first.name, "--report", "found.json", cwd=tmp_path)
    assert code == 0, err
    found = json.loads((tmp_path / "found.json").read_text())
    subscriptions = [entry["id"] for entry in found["subscriptions"]]
    assert len(subscriptions) == 2
    named = write(
        tmp_path / "fleet.yaml",
        {"action": "enable", "automation_account": MY_ACCOUNT,
         "subscriptions": [{"id": sub} for sub in subscriptions], "emulator": fleet},
    )  # fmt: skip

    code, _, err = await cli("plan", named.name, "--report", "plan.json", cwd=tmp_path)
    assert code == 0, err
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["totals"]["would_change"] > 0 and plan["calls"]["set"] == 0
    assert {v["subscription_id"] for v in plan["vaults"]} == set(subscriptions)

    code, _, err = await cli("apply", named.name, "--report", "applied.json", cwd=tmp_path)
    assert code == 0, err
    applied = json.loads((tmp_path / "applied.json").read_text())
    assert applied["outcome"] == "succeeded"
    assert applied["totals"]["succeeded"] == plan["totals"]["would_change"]
    assert [s["status"] for s in applied["subscriptions"]] == ["ok", "ok"]

    code, printed, err = await cli("schema", "report", cwd=tmp_path)
    assert code == 0, err
    schema = json.loads(printed)
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in (found, plan, applied):
        jsonschema.validate(report, schema)
        assert_valid_report(report)
    totals = applied["totals"]  # the README's arithmetic
    results = ("succeeded", "failed", "skipped", "timed_out", "not_started", "would_change")
    assert totals["mappings"] == sum(totals[r] for r in (*results, "interrupted"))
    assert totals["changed"] == totals["mappings"] - totals["skipped"] - totals["would_change"]
