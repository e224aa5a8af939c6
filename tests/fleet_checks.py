"""The checks every run against the emulator earns, in either tier: nothing lost, the report true.

`check_run` is the one entry point: each targeted vault and each listed mapping appears once
with a final result, totals add up, every result agrees with what the emulator now holds, no
limit window was exceeded, no mapping was PATCHed while its operation ran, and the exit code is
the one DESIGN gives for what the report says. The integration tier calls it through
`run_checks.assert_run_consistent` (a CLI run), the unit tier with an in-process run's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asr_json import MappingJson, read_mapping

from orchestrator.emulator import EmulatorState

RESULTS = (
    "succeeded",
    "failed",
    "skipped",
    "timed_out",
    "not_started",
    "would_change",
    "interrupted",
    "unhealthy",
)
FINAL = frozenset(RESULTS)
OUTCOMES = {0: "succeeded", 1: "failed", 3: "timed_out", 130: "interrupted"}
SYSTEM_ASSIGNED = "systemassignedidentity"
# A mapping may fail after ASR accepted its PATCH: the operation then runs on without us.
FAILED_AFTER_ACCEPTANCE = frozenset({"untrusted_url"})
# A mapping refused before anything was sent for it (preflight, `keep` with nothing to keep).
REFUSED_UNSENT = frozenset(
    {"automation_account_not_found", "automation_account_identity_missing", "no_automation_account"}
)


def mappings_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for v in report["vaults"] for m in v["mappings"]]


def results_of(report: dict[str, Any]) -> Counter[str]:
    return Counter(m["result"] for m in mappings_of(report))


def carries(mapping: MappingJson, action: str, account: str | None) -> bool:
    """Whether the emulator's mapping JSON carries the settings ``action`` asks (healthy or not)."""
    details = mapping["properties"].get("providerSpecificDetails") or {}
    status = (details.get("agentAutoUpdateStatus") or "").lower()
    if action == "disable":
        return status == "disabled"
    return (
        status == "enabled"
        and (details.get("automationAccountArmId") or "").lower() == (account or "").lower()
        and (details.get("automationAccountAuthenticationType") or "").lower() == SYSTEM_ASSIGNED
    )


def is_desired(mapping: MappingJson, action: str, account: str | None) -> bool:
    """Whether the emulator's mapping JSON now has what ``action`` asks (DESIGN's rule 3)."""
    healthy = action == "disable" or not mapping["properties"].get("healthErrorDetails")
    return carries(mapping, action, account) and healthy


def design_exit_code(report: dict[str, Any]) -> int:
    """DESIGN's exit code for what a run's report shows: 130, then 1, then 3, else 0.

    A failure outranks a timeout: a monitoring check alerting on 1 must never miss one.
    """
    results = results_of(report)
    vault_codes = {v["error"]["code"] for v in report["vaults"] if v["status"] == "error"}
    subscription_failed = any(s["status"] == "error" for s in report.get("subscriptions") or [])
    error = (report.get("error") or {}).get("code")
    if error == "interrupted" or results["interrupted"] or "interrupted" in vault_codes:
        return 130
    failed_vaults = vault_codes - {"timed_out"}
    if (
        results["failed"]
        or results["unhealthy"]
        or failed_vaults
        or subscription_failed
        or error in ("no_targets", "report_path_unwritable")
    ):
        return 1
    if results["timed_out"] or "timed_out" in vault_codes or error == "deadline_passed":
        return 3
    return 0


def check_run(
    state: EmulatorState,
    report: dict[str, Any] | None,
    exit_code: int,
    *,
    action: str = "enable",
    account: str | Callable[[str], str] | None = None,
    vaults: Iterable[str] | None = None,
    expected_exit: int | None = None,
    log: str = "",
    get_slack: int = 0,
    since: Mapping[str, int] | None = None,
) -> Counter[str]:
    """Every check of the module docstring; returns the count of each mapping result.

    ``account``: the desired Automation account (enable; default: the fleet's), or a function
    of the vault id giving each vault's. ``vaults``: the
    targeted vault ids (default: every vault of the emulator). ``expected_exit``: what the test
    expects on top of DESIGN's rule, when it knows. ``log``: shown when a check fails.
    ``get_slack``: GETs the server may have seen beyond the report's count (aiohttp re-sends a
    GET once, past the run's counters, when the server drops a kept-alive connection).
    ``since``: the emulator's request counts before this run, when it is not the first.
    """
    assert report is not None, f"no report; exit {exit_code}; log:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]
    fleet_account = state.fleet.automation_account
    _assert_nothing_lost(state, report, vaults)
    _assert_totals_add_up(report)
    for vault in report["vaults"]:
        wanted = account(vault["id"]) if callable(account) else account or fleet_account
        for mapping in vault["mappings"]:
            _assert_mapping_agrees(state, mapping, action, wanted)
    _assert_within_limits(state)
    assert state.counters.patches_while_running == 0
    _assert_calls_counted(state, report, get_slack, since or {})
    expected = design_exit_code(report)
    assert exit_code == report["exit_code"] == expected, (exit_code, expected, log[-2000:])
    assert report["outcome"] == OUTCOMES[expected]
    if expected_exit is not None:
        assert exit_code == expected_exit, log[-3000:]
    return results_of(report)


def _assert_nothing_lost(
    state: EmulatorState, report: dict[str, Any], vaults: Iterable[str] | None
) -> None:
    targeted = {v.lower() for v in (vaults if vaults is not None else state.vault_ids())}
    reported = [v["id"].lower() for v in report["vaults"]]
    assert len(reported) == len(set(reported)), "a vault appears twice"
    assert set(reported) == targeted
    seen: set[str] = set()
    for vault in report["vaults"]:
        ids = [m["id"].lower() for m in vault["mappings"]]
        assert not seen & set(ids) and len(ids) == len(set(ids)), "a mapping appears twice"
        seen |= set(ids)
        assert all(m["result"] in FINAL for m in vault["mappings"])
        held = {m.key for m in state.fleet.vaults[vault["id"].lower()].mappings}
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
    state: EmulatorState, mapping: dict[str, Any], action: str, account: str | None
) -> None:
    """succeeded <=> the emulator's mapping now has the setting; failed <=> it does not."""
    now = read_mapping(state, mapping["id"])
    result, operation, where = mapping["result"], mapping["operation"], mapping["id"]
    desired = is_desired(now, action, account)
    if result == "succeeded":
        assert desired, f"{where}: reported succeeded, emulator disagrees"
    elif result == "unhealthy":
        assert carries(now, action, account), f"{where}: unhealthy, yet not carrying the change"
        assert now["properties"]["healthErrorDetails"], where
        assert mapping["after"]["health_error_details"], f"{where}: unhealthy without details"
    elif result == "skipped":
        details = now["properties"].get("providerSpecificDetails") or {}
        before = mapping["before"]["agent_auto_update_status"]
        assert details.get("agentAutoUpdateStatus") == before, f"{where}: skipped yet changed"
        if mapping["skip_reason"] == "compliant":
            assert desired, where
    elif result == "failed":
        _assert_failure_agrees(state, mapping, desired)
    elif result == "not_started":
        assert not desired, where
        assert not _patch_accepted(state, mapping["id"]), where
    elif result in ("timed_out", "interrupted"):
        assert operation is not None, f"{where}: {result} without an operation"
        if not operation["url"]:
            # The run ended while the PATCH was in flight or being settled: the report says so.
            assert operation["error"] and operation["error"]["code"], where


def _assert_failure_agrees(state: EmulatorState, mapping: dict[str, Any], desired: bool) -> None:
    operation, where = mapping["operation"], mapping["id"]
    assert operation is not None and operation["error"], f"{where}: failed without an error"
    assert operation["error"]["code"] and operation["error"]["message"]
    if operation["error"]["code"] in FAILED_AFTER_ACCEPTANCE:
        return
    assert not desired, f"{where}: reported failed, emulator has the setting"
    if operation["url"]:
        assert _operation_outcome(state, operation["url"]) == "Failed", where
    else:
        assert not _patch_accepted(state, mapping["id"]), f"{where}: PATCH was accepted"
    if operation["error"]["code"] in REFUSED_UNSENT:
        assert not patched(state, mapping["id"]), f"{where}: refused, yet a PATCH was sent"


def _operation_outcome(state: EmulatorState, url: str) -> str | None:
    operation_id = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    operation = state.operations.find(operation_id)
    if operation is None or operation.status(state.now()) == "InProgress":
        return None
    return str(operation.outcome)


def patched(state: EmulatorState, mapping_id: str) -> list[int]:
    """The statuses of every PATCH the emulator saw for a mapping, oldest first."""
    wanted = mapping_id.lower()
    return [e.status for e in state.journal if e.kind == "set" and e.path.lower() == wanted]


def _patch_accepted(state: EmulatorState, mapping_id: str) -> bool:
    return any(status in (200, 202) for status in patched(state, mapping_id))


def _assert_calls_counted(
    state: EmulatorState, report: dict[str, Any], get_slack: int, since: Mapping[str, int]
) -> None:
    """The report's call counts are what reached the server."""
    sets = state.counters.requests["set"] - since.get("set", 0)
    gets = state.counters.requests["get"] - since.get("get", 0)
    assert report["calls"]["set"] == sets, (report["calls"], sets)
    assert report["calls"]["get"] <= gets <= report["calls"]["get"] + get_slack


def _assert_within_limits(state: EmulatorState) -> None:
    limits = state.spec.limits
    peaks = state.counters.peak_window
    assert peaks["set"] <= limits.set.calls, ("set", peaks["set"], limits.set.calls)
    assert peaks["get"] <= limits.get.calls, ("get", peaks["get"], limits.get.calls)
    assert state.counters.throttled["set"] == 0
    assert state.counters.throttled["get"] == 0
