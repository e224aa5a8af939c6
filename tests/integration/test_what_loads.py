"""What the real CLI loads: only what its command needs (its start is part of every run's time).

Each run reports its imports through Python's own ``PYTHONPROFILEIMPORTTIME`` (one
``import time: … | module`` line on stderr per module), so the CLI runs unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import CliRun, RunCli, StartEmulator, cli_env, write_config

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 3,
    "subscriptions": 1,
    "vaults_per_subscription": 1,
    "mappings_per_vault": [2, 2],
    "operation_seconds": [0.1, 0.2],
    "operation_failure_rate": 0.0,
}
EMULATOR = "orchestrator.emulator"
TERMINAL_ONLY = ("orchestrator.output.display", "orchestrator.output.summary", "rich.live")
AUTHENTICATES = ("azure.identity", "aiohttp")


def loaded(run: CliRun) -> set[str]:
    """The modules the run imported, from its import-time lines."""
    lines = (line for line in run.stderr.splitlines() if line.startswith("import time:"))
    return {line.rsplit("|", 1)[1].strip() for line in lines} - {"package"}


async def test_an_apply_against_an_endpoint_loads_no_emulator_and_no_terminal_display(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli(
        "apply", str(config), env=cli_env(server, PYTHONPROFILEIMPORTTIME="1")
    )  # fmt: skip

    assert run.exit_code == 0, run.stderr[-2000:]
    modules = loaded(run)
    assert "orchestrator.work.engine" in modules  # the lines were read
    assert not {m for m in modules if m == EMULATOR or m.startswith(EMULATOR + ".")}
    assert not modules & set(TERMINAL_ONLY)


async def test_validate_loads_neither_a_credential_nor_the_network_stack(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(**FLEET)
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all")
    run = await run_cli(
        "validate", str(config), env=cli_env(server, PYTHONPROFILEIMPORTTIME="1"), report=False
    )

    assert run.exit_code == 0, run.stderr[-2000:]
    modules = loaded(run)
    assert "orchestrator.config.model" in modules
    assert not {m for m in modules if m.startswith((EMULATOR, *AUTHENTICATES))}


async def test_a_config_with_an_emulator_block_loads_the_emulator_to_check_it(
    run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.yaml", None, action="disable", subscriptions="all", emulator=FLEET
    )
    run = await run_cli(
        "validate", str(config), env=cli_env(None, PYTHONPROFILEIMPORTTIME="1"), report=False
    )

    assert run.exit_code == 0, run.stderr[-2000:]
    assert EMULATOR in loaded(run)
    assert "against the built-in emulator" in run.stdout
