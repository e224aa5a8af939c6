"""Each cloud's token audience, its override, and a user-assigned identity, through the CLI.

`arm_endpoint` points every run at the emulator; the emulator's managed-identity endpoint
records what each token was asked for (`resource`, `client_id`), which is what is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import RunCli, StartEmulator, cli_env, write_config

pytestmark = pytest.mark.integration

USER_ASSIGNED = "5e7f2a63-1c4b-4d0e-9a8f-0b6c2d3e4f51"


@pytest.mark.parametrize(
    ("cloud", "audience"),
    [
        ("AzureCloud", "https://management.core.windows.net/"),
        ("AzureUSGovernment", "https://management.core.usgovcloudapi.net/"),
        ("AzureChinaCloud", "https://management.core.chinacloudapi.cn/"),
    ],
)
async def test_each_cloud_asks_for_a_token_for_its_own_audience(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path, cloud: str, audience: str
) -> None:
    server = await start_emulator(seed=51, subscriptions=1, vaults_per_subscription=1)
    config = write_config(
        tmp_path / "c.yaml", server, action="enable", cloud=cloud, subscriptions="all"
    )
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    tokens = server.state.counters.tokens
    assert tokens and {token.resource for token in tokens} == {audience}
    assert {token.client_id for token in tokens} == {None}  # the system-assigned identity
    assert server.state.counters.requests["get"] > 0  # and arm_endpoint was honoured


async def test_token_audience_overrides_the_clouds(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    server = await start_emulator(seed=52, subscriptions=1, vaults_per_subscription=1)
    config = write_config(
        tmp_path / "c.yaml",
        server,
        action="enable",
        cloud="AzureUSGovernment",
        token_audience="https://management.usgovcloudapi.net/",
        subscriptions="all",
    )
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    resources = {token.resource for token in server.state.counters.tokens}
    assert resources == {"https://management.usgovcloudapi.net/"}


@pytest.mark.parametrize("credential", ["managed_identity", "default"])
async def test_a_user_assigned_identity_is_asked_for_by_its_client_id(
    start_emulator: StartEmulator, run_cli: RunCli, tmp_path: Path, credential: str
) -> None:
    server = await start_emulator(seed=53, subscriptions=1, vaults_per_subscription=1)
    config = write_config(
        tmp_path / "c.yaml",
        server,
        action="enable",
        credential=credential,
        managed_identity_client_id=USER_ASSIGNED,
        subscriptions="all",
    )
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr
    tokens = server.state.counters.tokens
    assert tokens and {token.client_id for token in tokens} == {USER_ASSIGNED}
