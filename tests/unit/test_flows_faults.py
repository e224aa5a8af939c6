"""The fault matrix in process: each fault alone on a small fleet, on virtual time.

After every run `consistent` proves nothing was lost and the report tells the truth; each test
also proves its fault was really injected (the emulator's fault counter). All faults at once,
over real HTTP, are the integration tier's `test_fault_matrix.py`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from flows import consistent, rig

SMALL_FLEET: dict[str, Any] = {
    "vaults_per_subscription": 4,
    "mappings_per_vault": [2, 4],
    "shares": {"not_a2a": 0.1, "not_paired": 0.1, "compliant": 0.2, "unhealthy": 0.1},
    "page_size": 2,
}
ALL_LAND = {"failed": 0, "timed_out": 0, "not_started": 0, "unhealthy": 0}
FAULTS = {
    "http_500": ({"faults": {"http_500": 0.1}}, "http_500"),
    "http_503": ({"retry_after_seconds": 1, "faults": {"http_503": 0.15}}, "http_503"),
    "drop": ({"faults": {"drop": 0.15}}, "drop"),
    "throttle": ({"faults": {"throttle": 0.1}}, "throttle"),
    "throttle without Retry-After": (
        {"faults": {"throttle": 0.1}, "throttle_retry_after": "none"},
        "throttle",
    ),
    "status 404 for a while": ({"faults": {"status_404_seconds": 20.0}}, "status_404"),
    "slow": ({"faults": {"slow": 0.3, "slow_seconds": 5}}, "slow"),
    "drop after effect": ({"faults": {"drop_after_effect": 0.1}}, "drop_after_effect"),
    "slow after effect": (
        {"faults": {"slow_after_effect": 0.2, "slow_seconds": 90}},
        "slow_after_effect",
    ),
}


@pytest.mark.parametrize(("spec", "kind"), FAULTS.values(), ids=FAULTS.keys())
def test_a_fault_alone_is_weathered_and_every_change_lands(
    tmp_path: Path, spec: dict[str, Any], kind: str
) -> None:
    r = rig(tmp_path, seed=31, **SMALL_FLEET, **spec)
    run = r.run(config=r.write_config(subscriptions="all", request_timeout_seconds=60))
    counters = r.state.counters
    assert counters.faults[kind] > 0, f"no {kind} was injected"
    counters.patches_while_running -= counters.conflicts  # the 409s of settled lost answers
    results = consistent(run, exit_code=0)
    assert results["succeeded"] > 0
    assert {result: results[result] for result in ALL_LAND} == ALL_LAND
    if kind.startswith("throttle"):
        assert run.report is not None
        assert run.report["calls"]["throttled"] == counters.faults["throttle"]


def test_failing_operations_fail_their_own_mappings_and_exit_1(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, seed=37, **SMALL_FLEET, operation_failure_rate=0.5)
    run = r.run(config=r.write_config(subscriptions="all"))
    results = consistent(run, exit_code=1)
    assert results["failed"] > 0 and results["succeeded"] > 0
    failed = [m for m in run.mappings() if m["result"] == "failed"]
    assert {m["operation"]["error"]["code"] for m in failed} == {
        "ProtectionContainerMappingUpdateFailed"
    }


def test_operations_that_never_finish_end_timed_out_at_the_deadline(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, seed=38, **SMALL_FLEET, faults={"never_finish": 0.5})
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=2))
    results = consistent(run, exit_code=3)
    assert results["timed_out"] == r.state.counters.faults["never_finish"] > 0
    assert results["succeeded"] > 0
    assert run.virtual_seconds == pytest.approx(120, abs=1)
    for mapping in run.mappings():
        if mapping["result"] == "timed_out":
            operation = r.state.operations.find(
                mapping["operation"]["url"].split("?")[0].rsplit("/", 1)[-1]
            )
            assert operation is not None and math.isinf(operation.ends)
