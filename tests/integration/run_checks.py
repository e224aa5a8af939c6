"""The checks every reliability test makes after a run: nothing lost, the report tells the truth.

`assert_run_consistent` is the one helper: each targeted vault and each listed mapping appears
once with a final result, totals add up, every result agrees with what the emulator now holds,
no limit window was exceeded, no mapping was PATCHed while its operation ran, and the exit code
is the one DESIGN gives for what the report says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from cli_support import CliRun

from orchestrator.emulator import EmulatorServer

RESULTS = (
    "succeeded",
    "failed",
    "skipped",
    "timed_out",
    "not_started",
    "would_change",
    "interrupted",
)
FINAL = frozenset(RESULTS)
OUTCOMES = {0: "succeeded", 1: "failed", 3: "timed_out", 130: "interrupted"}
SYSTEM_ASSIGNED = "systemassignedidentity"
# A mapping may fail after ASR accepted its PATCH: the operation then runs on without us.
FAILED_AFTER_ACCEPTANCE = frozenset({"untrusted_url"})


def mappings_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for v in report["vaults"] for m in v["mappings"]]


def results_of(report: dict[str, Any]) -> Counter[str]:
    return Counter(m["result"] for m in mappings_of(report))


def is_desired(mapping: dict[str, Any], action: str, account: str | None) -> bool:
    """Whether the emulator's mapping JSON now has what ``action`` asks (DESIGN's rule 3)."""
    properties = mapping["properties"]
    details = properties.get("providerSpecificDetails") or {}
    status = (details.get("agentAutoUpdateStatus") or "").lower()
    if action == "disable":
        return status == "disabled"
    return (
        status == "enabled"
        and (details.get("automationAccountArmId") or "").lower() == (account or "").lower()
        and (details.get("automationAccountAuthenticationType") or "").lower() == SYSTEM_ASSIGNED
        and not properties.get("healthErrorDetails")
    )


def design_exit_code(report: dict[str, Any]) -> int:
    """DESIGN's exit code for what the report shows (order: 130, 3, 1, 0)."""
    results = results_of(report)
    vault_codes = {v["error"]["code"] for v in report["vaults"] if v["status"] == "error"}
    subscription_failed = any(s["status"] == "error" for s in report.get("subscriptions") or [])
    if results["interrupted"] or "interrupted" in vault_codes:
        return 130
    if results["timed_out"] or "timed_out" in vault_codes:
        return 3
    if results["failed"] or vault_codes or subscription_failed:
        return 1
    return 0


def assert_run_consistent(
    server: EmulatorServer,
    run: CliRun,
    *,
    action: str = "enable",
    account: str | None = None,
    vaults: Iterable[str] | None = None,
    exit_code: int | None = None,
) -> Counter[str]:
    """Every check of the module docstring; returns the count of each mapping result.

    ``account``: the desired Automation account (enable; default: the fleet's). ``vaults``: the
    targeted vault ids (default: every vault of the emulator). ``exit_code``: what the test
    expects on top of DESIGN's rule, when it knows.
    """
    report = run.report
    assert report is not None, f"no report; exit {run.exit_code}; stderr:\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    account = account if account is not None else server.state.fleet.automation_account
    _assert_nothing_lost(server, report, vaults)
    _assert_totals_add_up(report)
    for vault in report["vaults"]:
        for mapping in vault["mappings"]:
            _assert_mapping_agrees(server, mapping, action, account)
    _assert_within_limits(server)
    assert server.state.counters.patches_while_running == 0
    _assert_calls_counted(server, report)
    expected = design_exit_code(report)
    assert run.exit_code == report["exit_code"] == expected, (run.exit_code, expected)
    assert report["outcome"] == OUTCOMES[expected]
    if exit_code is not None:
        assert run.exit_code == exit_code, run.stderr[-3000:]
    return results_of(report)


def _assert_nothing_lost(
    server: EmulatorServer, report: dict[str, Any], vaults: Iterable[str] | None
) -> None:
    targeted = {v.lower() for v in (vaults if vaults is not None else server.state.vault_ids())}
    reported = [v["id"].lower() for v in report["vaults"]]
    assert len(reported) == len(set(reported)), "a vault appears twice"
    assert set(reported) == targeted
    seen: set[str] = set()
    for vault in report["vaults"]:
        ids = [m["id"].lower() for m in vault["mappings"]]
        assert not seen & set(ids) and len(ids) == len(set(ids)), "a mapping appears twice"
        seen |= set(ids)
        assert all(m["result"] in FINAL for m in vault["mappings"])
        held = {m.key for m in server.state.fleet.vaults[vault["id"].lower()].mappings}
        if vault["status"] == "ok":
            assert set(ids) == held, f"vault {vault['id']} lost or invented mappings"
        else:
            assert vault["error"]["code"] and vault["error"]["message"]
            assert set(ids) <= held


def _assert_totals_add_up(report: dict[str, Any]) -> None:
    totals, results = report["totals"], results_of(report)
    mappings = mappings_of(report)
    assert totals["mappings"] == len(mappings) == sum(totals[r] for r in RESULTS)
    for result in RESULTS:
        assert totals[result] == results[result], result
    assert totals["changed"] == totals["mappings"] - totals["skipped"] - totals["would_change"]
    assert totals["vaults"] == len(report["vaults"])
    assert totals["vaults_failed"] == sum(1 for v in report["vaults"] if v["status"] == "error")


def _assert_mapping_agrees(
    server: EmulatorServer, mapping: dict[str, Any], action: str, account: str | None
) -> None:
    """succeeded <=> the emulator's mapping now has the setting; failed <=> it does not."""
    now = server.state.mapping(mapping["id"])
    desired = is_desired(now, action, account)
    result, operation, where = mapping["result"], mapping["operation"], mapping["id"]
    if result == "succeeded":
        assert desired, f"{where}: reported succeeded, emulator disagrees"
        return
    if result == "skipped":
        details = now["properties"].get("providerSpecificDetails") or {}
        before = mapping["before"]["agent_auto_update_status"]
        assert details.get("agentAutoUpdateStatus") == before, f"{where}: skipped yet changed"
        if mapping["skip_reason"] == "compliant":
            assert desired, where
        return
    if result == "failed":
        assert operation is not None and operation["error"], f"{where}: failed without an error"
        assert operation["error"]["code"] and operation["error"]["message"]
        if operation["error"]["code"] in FAILED_AFTER_ACCEPTANCE:
            return
        assert not desired, f"{where}: reported failed, emulator has the setting"
        if operation["url"]:
            assert _operation_outcome(server, operation["url"]) == "Failed", where
        else:
            assert not _patch_accepted(server, mapping["id"]), f"{where}: PATCH was accepted"
        return
    if result == "not_started":
        assert not desired, where
        assert not _patch_accepted(server, mapping["id"]), where
        return
    if result in ("timed_out", "interrupted"):
        assert operation is not None, f"{where}: {result} without an operation"
        if not operation["url"]:
            # The run ended while the PATCH was in flight or being retried: the report says so.
            assert operation["error"] and operation["error"]["code"] == "patch_unanswered", where


def _operation_outcome(server: EmulatorServer, url: str) -> str | None:
    operation_id = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    operation = server.state.operations.find(operation_id)
    if operation is None or operation.status(server.state.now()) == "InProgress":
        return None
    return str(operation.outcome)


def _patch_accepted(server: EmulatorServer, mapping_id: str) -> bool:
    wanted = mapping_id.lower()
    return any(
        entry.kind == "set" and entry.path.lower() == wanted and entry.status in (200, 202)
        for entry in server.state.journal
    )


def _assert_calls_counted(server: EmulatorServer, report: dict[str, Any]) -> None:
    """The report's call counts are what reached the server.

    aiohttp silently re-sends a GET once when the server drops the connection, past the run's
    counters (the xfail in test_fault_matrix.py), so with drops injected the server may see more GETs.
    """
    requests = server.state.counters.requests
    assert report["calls"]["set"] == requests["set"]
    drops = server.state.counters.faults["drop"]
    assert report["calls"]["get"] <= requests["get"] <= report["calls"]["get"] + drops


def _assert_within_limits(server: EmulatorServer) -> None:
    limits = server.state.spec.limits
    peaks = server.state.counters.peak_window
    assert peaks["set"] <= limits.set.calls, ("set", peaks["set"], limits.set.calls)
    assert peaks["get"] <= limits.get.calls, ("get", peaks["get"], limits.get.calls)
    assert server.state.counters.throttled["set"] == 0
    assert server.state.counters.throttled["get"] == 0
