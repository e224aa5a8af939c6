"""The checks every reliability test makes after a CLI run: nothing lost, the report tells the truth.

`assert_run_consistent` is the one helper (see `fleet_checks.check_run`, which the in-process
tier shares): each targeted vault and each listed mapping appears once with a final result,
totals add up, every result agrees with what the emulator now holds, no limit window was
exceeded, no mapping was PATCHed while its operation ran, and the exit code is the one DESIGN
gives for what the report says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from cli_support import CliRun, ServesArm
from fleet_checks import (
    FINAL,
    OUTCOMES,
    RESULTS,
    SYSTEM_ASSIGNED,
    check_run,
    design_exit_code,
    is_desired,
    mappings_of,
    results_of,
)

__all__ = [
    "FINAL",
    "OUTCOMES",
    "RESULTS",
    "SYSTEM_ASSIGNED",
    "assert_run_consistent",
    "design_exit_code",
    "is_desired",
    "mappings_of",
    "results_of",
]


def assert_run_consistent(
    server: ServesArm,
    run: CliRun,
    *,
    action: str = "enable",
    account: str | None = None,
    vaults: Iterable[str] | None = None,
    exit_code: int | None = None,
    since: Mapping[str, int] | None = None,
) -> Counter[str]:
    """`fleet_checks.check_run` for a CLI run; returns the count of each mapping result.

    ``account``: the desired Automation account (enable; default: the fleet's). ``vaults``: the
    targeted vault ids (default: every vault of the emulator). ``exit_code``: what the test
    expects on top of DESIGN's rule, when it knows. ``since``: the emulator's request counts
    before this run, when it is not the emulator's first.
    """
    faults = server.state.counters.faults
    return check_run(
        server.state,
        run.report,
        run.exit_code,
        action=action,
        account=account,
        vaults=vaults,
        expected_exit=exit_code,
        log=run.stderr,
        get_slack=faults["drop"] + faults["drop_after_effect"],
        since=since,
    )
