"""`apply --restore REPORT` in process: every mapping REPORT changed goes back to its `before`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from asr_json import read_mappings
from flows import by_id, rig

from orchestrator.emulator import EmulatorState

FIELDS = ("agentAutoUpdateStatus", "automationAccountArmId", "automationAccountAuthenticationType")
MIXED = {
    "not_a2a": 0.1,
    "not_paired": 0.1,
    "compliant": 0.2,
    "unhealthy": 0.2,
    "run_as_account": 0.2,
}


def settings(state: EmulatorState) -> dict[str, dict[str, Any]]:
    """Each A2A mapping's auto-update settings, by lower-cased id."""
    found: dict[str, dict[str, Any]] = {}
    for mapping in read_mappings(state):
        details = mapping["properties"].get("providerSpecificDetails") or {}
        if details.get("instanceType") == "A2A":
            found[mapping["id"].lower()] = {key: details.get(key) for key in FIELDS}
    return found


def test_restore_puts_an_enabled_fleet_back_as_it_was(tmp_path: Path) -> None:
    r = rig(tmp_path, vaults_per_subscription=4, mappings_per_vault=[2, 4], shares=MIXED)
    original = settings(r.state)
    config = r.write_config(subscriptions="all")
    applied = r.run(config=config)
    assert applied.exit_code == 0
    changed = {m["id"].lower() for m in applied.mappings() if m["result"] == "succeeded"}
    assert len(changed) >= 6 and settings(r.state) != original
    shutil.copy(tmp_path / "report.json", tmp_path / "applied.json")
    sets = r.state.counters.requests["set"]

    restored = r.run(config=config, restore=str(tmp_path / "applied.json"))

    assert restored.exit_code == 0
    assert restored.report is not None and restored.report["command"] == "apply"
    assert set(by_id(restored)) == changed  # only what the report changed is considered
    now = settings(r.state)
    for key, was in original.items():
        if was["agentAutoUpdateStatus"] == "Enabled":
            assert now[key] == was, key  # its former account and authentication type
        else:
            # A disable PATCH names the status only; ASR keeps the account it last had.
            assert now[key]["agentAutoUpdateStatus"] == was["agentAutoUpdateStatus"], key
    sent = r.state.counters.requests["set"] - sets
    results = [m["result"] for m in restored.mappings()]
    assert sent == results.count("succeeded") and set(results) <= {"succeeded", "skipped"}
    # The Repair of an unhealthy mapping changed nothing to restore: it is compliant as it is.
    assert all(
        by_id(restored)[key]["skip_reason"] == "compliant"
        for key in changed
        if by_id(restored)[key]["result"] == "skipped"
    )


def test_restore_drives_each_mapping_to_its_own_before_with_runas_kept(tmp_path: Path) -> None:
    r = rig(tmp_path, shares={**MIXED, "run_as_account": 0.6, "compliant": 0.0, "unhealthy": 0.0})
    runas = {k for k, v in settings(r.state).items() if v[FIELDS[2]] == "RunAsAccount"}
    runas &= {k for k, v in settings(r.state).items() if v[FIELDS[0]] == "Enabled"}
    assert runas, "the seed draws no mapping enabled with RunAsAccount"
    config = r.write_config(subscriptions="all")
    assert r.run(config=config).exit_code == 0
    shutil.copy(tmp_path / "report.json", tmp_path / "applied.json")
    restored = r.run(config=config, restore=str(tmp_path / "applied.json"))
    assert restored.exit_code == 0
    for key in runas:
        assert settings(r.state)[key][FIELDS[2]] == "RunAsAccount", key
        assert by_id(restored)[key]["desired"]["authentication_type"] == "RunAsAccount"
