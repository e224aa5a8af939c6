"""Helpers for the operator's flows run in process (`test_flows_*.py`): a rig, and the checks.

The flows are the ones the integration tier once proved through a subprocess; here they run on
virtual time through `inprocess.Rig`, and every run earns `fleet_checks.check_run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fleet_checks import check_run
from inprocess import EmulatorCredential, EmulatorTransport, InProcessRun, Rig
from structlog.testing import capture_logs
from virtual_clock import run_virtual

from orchestrator.app.commands import RunArgs, Terminal, run_async
from orchestrator.output.report import Command
from orchestrator.secrets import Secrets
from orchestrator.work.progress import Progress, ProgressSnapshot

QUICK: dict[str, Any] = {"operation_seconds": [1, 4], "operation_failure_rate": 0.0}
# Every mapping needs a change: no share is drawn into another condition.
ALL_CHANGE: dict[str, float] = {
    "not_a2a": 0.0,
    "not_paired": 0.0,
    "compliant": 0.0,
    "unhealthy": 0.0,
}


def rig(tmp_path: Path, **spec: Any) -> Rig:
    """A small fleet (one subscription of three vaults unless ``spec`` says otherwise)."""
    return Rig(
        tmp_path, {"seed": 11, "subscriptions": 1, "vaults_per_subscription": 3, **QUICK, **spec}
    )


def consistent(
    run: InProcessRun,
    *,
    action: str = "enable",
    account: str | Callable[[str], str] | None = None,
    vaults: Iterable[str] | None = None,
    exit_code: int | None = None,
    since: Mapping[str, int] | None = None,
) -> Counter[str]:
    """`fleet_checks.check_run` for an in-process run; the count of each mapping result.

    ``since``: the emulator's request counts before the run, when the rig ran before.
    """
    log = "\n".join(str(event) for event in run.events)
    return check_run(
        run.state,
        run.report,
        run.exit_code,
        action=action,
        account=account,
        vaults=vaults,
        expected_exit=exit_code,
        log=log,
        since=since,
    )


def by_id(run: InProcessRun) -> dict[str, dict[str, Any]]:
    """The report's mappings by lower-cased id."""
    return {m["id"].lower(): m for m in run.mappings()}


def changed(run: InProcessRun) -> list[dict[str, Any]]:
    """The report's mappings that were not skipped."""
    return [m for m in run.mappings() if m["result"] != "skipped"]


def codes(items: Iterable[dict[str, Any]]) -> list[str]:
    """The ``code`` of each warning or error."""
    return [item["code"] for item in items]


def watched(rig: Rig, config: Path, *, every: float = 0.25) -> tuple[int, list[ProgressSnapshot]]:
    """Run ``apply`` in process as `Rig.run` does, with a watch (what the live display gets)
    sampling the run's progress every ``every`` virtual seconds; the exit code and the samples."""
    samples: list[ProgressSnapshot] = []

    @contextlib.asynccontextmanager
    async def watch(progress: Progress) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                samples.append(progress.snapshot())
                await asyncio.sleep(every)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            samples.append(progress.snapshot())

    args = RunArgs(Command.APPLY, str(config), str(rig.directory / "report.json"))
    terminal = Terminal(io.StringIO(), stdout_is_tty=False, show=None, watch=watch)

    async def main() -> int:
        return await run_async(
            args,
            Secrets(),
            terminal,
            transport=lambda _: EmulatorTransport(rig.state),
            credential=lambda _: EmulatorCredential(rig.state),
            environ={},
        )

    with capture_logs():
        code = run_virtual(main())
    return code, samples
