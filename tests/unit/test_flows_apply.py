"""The basic runs in process: validate, plan, apply (enable and disable), the answer shapes of
an accepted PATCH, a bad config, and a credential that cannot even be built."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flows import changed, consistent, rig

from orchestrator.app.commands import RunArgs, Terminal, run_async, validate
from orchestrator.output.report import Command
from orchestrator.secrets import Secrets


def test_validate_prints_the_targets_and_sends_nothing(tmp_path: Path) -> None:
    r = rig(tmp_path)
    vault = r.state.vault_ids()[0]
    out = io.StringIO()
    config = r.write_config(vaults=[vault], subscriptions=[r.state.subscription_ids[0]])
    code = validate(
        RunArgs(Command.VALIDATE, str(config), None), Secrets(), Terminal(out, False, None)
    )
    assert code == 0
    assert vault in out.getvalue() and r.state.subscription_ids[0] in out.getvalue()
    assert sum(r.state.counters.requests.values()) == 0


def test_validate_of_a_config_with_an_emulator_block_says_so_and_starts_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "try.yaml"
    config.write_text(
        "action: enable\n"
        "automation_account: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups"
        "/rg-automation/providers/Microsoft.Automation/automationAccounts/aa-mine\n"
        "subscriptions: all\n"
        "emulator: {seed: 1, subscriptions: 2}\n"
    )
    out = io.StringIO()
    code = validate(
        RunArgs(Command.VALIDATE, str(config), None), Secrets(), Terminal(out, False, None)
    )
    assert code == 0
    assert "every vault of every subscription" in out.getvalue()
    assert "built-in emulator" in out.getvalue()


def test_plan_sends_no_patch_and_reports_what_would_change(tmp_path: Path) -> None:
    r = rig(tmp_path, subscriptions=2)
    run = r.run("plan", config=r.write_config(subscriptions="all"))
    assert run.exit_code == 0 and run.report is not None
    assert r.state.counters.requests["set"] == 0
    assert run.report["totals"]["would_change"] > 0 and run.report["totals"]["changed"] == 0
    assert all(m["desired"] for m in run.mappings() if m["result"] == "would_change")


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_apply_changes_what_needs_it_and_the_emulator_agrees(tmp_path: Path, action: str) -> None:
    r = rig(tmp_path, vaults_per_subscription=5)
    run = r.run(config=r.write_config(action=action, subscriptions="all"))
    results = consistent(run, action=action, exit_code=0)
    assert results["succeeded"] == r.state.counters.requests["set"] > 0


def test_location_only_operations_are_tracked_to_their_end(tmp_path: Path) -> None:
    r = rig(tmp_path, lro_headers="location")
    run = r.run(config=r.write_config(subscriptions="all"))
    consistent(run, exit_code=0)
    assert all("operationResults" in m["operation"]["url"] for m in changed(run))


def test_a_200_patch_is_done_without_polling(tmp_path: Path) -> None:
    r = rig(tmp_path, sync_patch_rate=1.0)
    run = r.run(config=r.write_config(subscriptions="all"))
    assert consistent(run, exit_code=0)["succeeded"] > 0
    assert all(m["operation"]["polls"] == 0 for m in changed(run))


def test_a_bad_config_exits_2_naming_the_file_and_key_and_reaches_no_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = rig(tmp_path)
    run = r.run(config=r.write_config("c.yaml", vaults=["/subscriptions/nope"]))
    assert run.exit_code == 2
    err = capsys.readouterr().err
    assert "c.yaml" in err and "vaults[0]" in err and err.count("vaults[0]") == 1
    assert sum(r.state.counters.requests.values()) == 0
    assert run.report is not None and run.report["outcome"] == "invalid"


async def test_a_credential_that_cannot_even_be_built_exits_4_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """workload_identity with none of its environment variables: azure-identity refuses it."""
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    r = rig(tmp_path)
    config = r.write_config(action="disable", credential="workload_identity", subscriptions="all")
    out = io.StringIO()
    args = RunArgs(Command.APPLY, str(config), "-")
    code = await run_async(args, Secrets(), Terminal(out, False, None), environ={})
    assert code == 4
    assert "Traceback" not in capsys.readouterr().err
    assert '"outcome": "unauthenticated"' in out.getvalue()
    assert "workload_identity" in out.getvalue()
