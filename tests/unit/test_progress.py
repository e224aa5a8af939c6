"""Progress counting (orchestrator.work.progress): vaults, PATCHes, operations by mapping id, the
limiters' waits, and the pace: PATCHes a minute and the time to send the queued ones."""

from __future__ import annotations

import pytest
from virtual_clock import run_virtual

from orchestrator.arm.limits import LimitScope, Quota
from orchestrator.arm.registry import LimiterRegistry
from orchestrator.asr.desired import Action, DesiredState
from orchestrator.asr.mapping import parse_mapping
from orchestrator.asr.targets import VaultId, VaultTarget
from orchestrator.work.outcomes import ErrorInfo, MappingResult
from orchestrator.work.progress import Phase, Progress
from orchestrator.work.records import MappingWork, Stage, VaultWork

SUB = "11111111-1111-1111-1111-111111111111"
VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"


class Clock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def vault(name: str = "v1", action: Action = Action.DISABLE) -> VaultWork:
    return VaultWork(
        VaultTarget(VaultId.parse(VAULT_ID.replace("/v1", f"/{name}")), DesiredState(action, None))
    )


def work(stage: Stage, result: MappingResult | None = None, name: str = "m1") -> MappingWork:
    raw = {
        "id": f"{VAULT_ID}/replicationProtectionContainerMappings/{name}",
        "properties": {"state": "Paired", "providerSpecificDetails": {"instanceType": "A2A"}},
    }
    record = MappingWork.listed(parse_mapping(raw), vault())
    record.stage, record.result = stage, result
    return record


def registry(set_calls: int = 200, per_seconds: float = 60.0) -> LimiterRegistry:
    return LimiterRegistry(
        set_limit=Quota(calls=set_calls, per_seconds=per_seconds),
        get_limit=Quota(calls=10_000, per_seconds=3_600),
        scope=LimitScope.RUN,
    )


# --- counting ------------------------------------------------------------------------------------


def test_an_accepted_patch_counts_as_running_until_its_operation_ends() -> None:
    progress = Progress(3)
    accepted = work(Stage.RUNNING)
    progress.queued()
    progress.patch_done(accepted)
    progress.tracking(accepted.id)
    assert progress.snapshot().operations_running == 1
    accepted.stage, accepted.result = Stage.DONE, MappingResult.SUCCEEDED
    progress.operation_done(accepted.id, accepted.result)
    snapshot = progress.snapshot()
    assert (snapshot.patches_sent, snapshot.operations_done, snapshot.operations_running) == (
        1,
        1,
        0,
    )
    assert (snapshot.patches_queued, snapshot.operations_failed) == (0, 0)


@pytest.mark.parametrize("result", [MappingResult.FAILED, MappingResult.UNHEALTHY])
def test_a_refused_patch_counts_as_refused_not_running(result: MappingResult) -> None:
    progress = Progress(1)
    progress.queued()
    progress.patch_done(work(Stage.DONE, result))
    snapshot = progress.snapshot()
    assert (snapshot.patches_sent, snapshot.patches_failed, snapshot.operations_running) == (
        1,
        1,
        0,
    )
    assert snapshot.patches_queued == 0


def test_an_operation_that_fails_counts_as_failed() -> None:
    progress = Progress(1)
    progress.tracking("M1")
    progress.operation_done("m1", MappingResult.FAILED)
    snapshot = progress.snapshot()
    assert (snapshot.operations_done, snapshot.operations_failed) == (1, 1)


def test_a_resumed_operation_counts_from_when_it_is_tracked() -> None:
    """Taken over from an earlier run: tracked before its mapping is listed, by id."""
    progress = Progress()
    progress.tracking(f"{VAULT_ID}/replicationProtectionContainerMappings/M1".upper())
    assert progress.snapshot().operations_running == 1
    progress.operation_done(f"{VAULT_ID}/replicationProtectionContainerMappings/m1", None)
    snapshot = progress.snapshot()
    assert (snapshot.operations_running, snapshot.operations_done) == (0, 1)


def test_an_operation_ending_that_was_never_tracked_never_makes_running_negative() -> None:
    progress = Progress(1)
    progress.operation_done("never-tracked", MappingResult.FAILED)
    snapshot = progress.snapshot()
    assert snapshot.operations_running == 0
    assert (snapshot.operations_done, snapshot.operations_failed) == (0, 0)


def test_an_operation_ending_twice_is_counted_once() -> None:
    progress = Progress(1)
    progress.tracking("m1")
    progress.operation_done("m1", MappingResult.SUCCEEDED)
    progress.operation_done("m1", MappingResult.SUCCEEDED)
    assert progress.snapshot().operations_done == 1


def test_tracking_the_same_mapping_twice_runs_one_operation() -> None:
    progress = Progress(1)
    progress.tracking("m1")
    progress.tracking("M1")
    assert progress.snapshot().operations_running == 1


def test_unqueueing_never_goes_below_zero() -> None:
    progress = Progress(1)
    progress.queued()
    progress.unqueued()
    progress.unqueued()
    assert progress.snapshot().patches_queued == 0


def test_a_listed_vault_adds_its_mappings_and_a_failed_one_counts_as_failed() -> None:
    progress = Progress(2)
    good = vault("v1")
    good.add(work(Stage.LISTED))
    progress.vault_listed(good)
    broken = vault("v2")
    broken.fail(ErrorInfo(code="http_404", message="gone"))
    progress.vault_listed(broken)
    snapshot = progress.snapshot()
    assert (snapshot.vaults_listed, snapshot.vaults_failed, snapshot.mappings_listed) == (2, 1, 1)
    assert snapshot.vaults_total == 2


def test_a_snapshot_carries_the_limiters_totals_once_they_are_watched() -> None:
    progress = Progress()
    assert progress.snapshot().limits is None
    limits = registry()
    progress.watch_limits(limits)

    async def pause() -> None:
        limits.scope_for(SUB).set.pause(0.0)

    run_virtual(pause())
    snapshot_limits = progress.snapshot().limits
    assert snapshot_limits is not None and snapshot_limits.pauses == 1


def test_the_phase_moves_as_the_runner_says() -> None:
    progress = Progress()
    assert progress.snapshot().phase is Phase.STARTING
    progress.begin(Phase.DISCOVERING)
    assert progress.snapshot().phase is Phase.DISCOVERING
    assert str(Phase.RUNNING) == "working"


def test_the_total_is_unknown_until_the_runner_says() -> None:
    progress = Progress()
    assert progress.snapshot().vaults_total is None
    progress.vaults_total = 7
    assert progress.snapshot().vaults_total == 7


def test_the_repr_shows_the_counts() -> None:
    progress = Progress(3)
    progress.tracking("m1")
    assert repr(progress) == ("<Progress starting vaults=0/3 patches=0 operations=0 running=1>")


# --- the pace --------------------------------------------------------------------------------


def test_the_rate_is_patches_a_minute_since_the_run_began() -> None:
    clock = Clock()
    progress = Progress(clock=clock)
    assert progress.snapshot().rate is None  # nothing sent yet
    for _ in range(30):
        progress.queued()
        progress.patch_done(work(Stage.RUNNING))
    clock.now += 120.0
    assert progress.snapshot().rate == pytest.approx(15.0)


def test_the_eta_is_the_queued_patches_at_the_set_quotas_pace() -> None:
    progress = Progress(clock=Clock())
    progress.watch_limits(registry(set_calls=200, per_seconds=60.0))
    for _ in range(500):
        progress.queued()
    assert progress.snapshot().eta_s == pytest.approx(150.0)  # 500 at 200 a minute


def test_there_is_no_eta_without_limiters_or_with_nothing_to_send() -> None:
    progress = Progress(clock=Clock())
    progress.queued()
    assert progress.snapshot().eta_s is None  # no limiters yet
    progress.watch_limits(registry())
    progress.unqueued()
    assert progress.snapshot().eta_s is None  # nothing queued, nothing running


def test_with_only_operations_running_nothing_is_left_to_send() -> None:
    progress = Progress(clock=Clock())
    progress.watch_limits(registry())
    progress.tracking("m1")
    assert progress.snapshot().eta_s == 0.0
