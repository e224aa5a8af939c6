"""A sovereign cloud's token audience and a user-assigned identity through azure-identity's real
code path: the emulator's managed-identity endpoint records what each token was asked for
(`resource`, `client_id`), and its ARM accepts only tokens for the audiences it is given
(`token_audiences`), as the cloud's ARM does. Each cloud's audience, and the override, are proven
in process (`tests/unit/test_flows_discovery.py`); the system-assigned identity through
`credential: managed_identity` is every other CLI test's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import RunCli, StartEmulator, cli_env, write_config

pytestmark = pytest.mark.integration

USER_ASSIGNED = "5e7f2a63-1c4b-4d0e-9a8f-0b6c2d3e4f51"
CASES = {
    # The default credential chain finds the managed identity; it asks for the user-assigned one.
    "US Government, default chain, user-assigned": (
        {"cloud": "AzureUSGovernment", "credential": "default",
         "managed_identity_client_id": USER_ASSIGNED},
        "https://management.core.usgovcloudapi.net/",
        USER_ASSIGNED,
    ),
}  # fmt: skip


@pytest.mark.parametrize(("keys", "audience", "client_id"), CASES.values(), ids=CASES.keys())
async def test_the_token_is_asked_for_the_cloud_s_audience_and_the_configured_identity(
    start_emulator: StartEmulator,
    run_cli: RunCli,
    tmp_path: Path,
    keys: dict[str, str],
    audience: str,
    client_id: str | None,
) -> None:
    server = await start_emulator(
        seed=51, subscriptions=1, vaults_per_subscription=1, token_audiences=[audience]
    )
    config = write_config(tmp_path / "c.yaml", server, action="enable", subscriptions="all", **keys)
    run = await run_cli("plan", str(config), env=cli_env(server))
    assert run.exit_code == 0, run.stderr[-2000:]
    tokens = server.state.counters.tokens
    assert tokens and {(t.resource, t.client_id) for t in tokens} == {(audience, client_id)}
    assert run.report is not None and run.report["totals"]["mappings"] > 0  # ARM took the token
