"""A PATCH whose answer is lost after ASR acted on it, over a real socket, through the CLI.

Each fault of the matrix alone (and the deadline) is proven in process
(`tests/unit/test_flows_faults.py`, `test_flows_ambiguous.py`); what only a real socket shows is
aiohttp meeting a connection that drops after the PATCH was sent, and the tool not sending that
PATCH blindly again. Here the emulator handles every mapping's first PATCH and then the
connection is aborted — what `faults.drop_after_effect` does, aimed at every first PATCH so the
run is certain to meet it. The tool reads each mapping back; one whose change has not landed
yet is PATCHed once more, a 409 says the lost PATCH's operation runs, and from then on it only
reads until the change is there: every mapping ends `succeeded`, none `failed`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cli_support import IDENTITY_HEADER, CliRun, cli_env, write_config
from fleet_checks import patched
from run_checks import assert_run_consistent
from scenarios import run_cli_process

from orchestrator.emulator import EmulatorState, FleetSpec, InboundRequest, serve

pytestmark = pytest.mark.integration

FLEET = {
    "seed": 39,
    "subscriptions": 1,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [2, 3],
    "shares": {"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.0, "unhealthy": 0.0},
    # Still running when the tool reads back and PATCHes again: the 409 path is taken.
    "operation_seconds": [1.0, 1.5],
    "operation_failure_rate": 0.0,
}


@dataclass
class LosesFirstPatchAnswers:
    """The emulator over HTTP, aborting the connection of each mapping's first PATCH once the
    emulator has handled it (a `cli_support.ServesArm`)."""

    state: EmulatorState
    identity_header: str = IDENTITY_HEADER
    base_url: str = ""
    lost: list[str] = field(default_factory=list)  # lower-cased mapping ids, in order

    @property
    def token_endpoint(self) -> str:
        return self.base_url + "/msi/token"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        inbound = InboundRequest(
            request.method, str(request.url), dict(request.headers), await request.read()
        )
        answer = await serve(self.state, inbound)
        path = request.path.lower()
        if request.method == "PATCH" and path not in self.lost and answer.status == 202:
            self.lost.append(path)
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        return web.Response(
            status=answer.status, headers=dict(answer.headers), body=answer.body or None
        )


@pytest.fixture
async def lossy() -> AsyncIterator[LosesFirstPatchAnswers]:
    server = LosesFirstPatchAnswers(
        EmulatorState(FleetSpec.model_validate(FLEET), identity_header=IDENTITY_HEADER)
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


async def test_a_lost_patch_answer_is_settled_by_reading_back_never_resent_blindly(
    lossy: LosesFirstPatchAnswers, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", lossy, action="enable", subscriptions="all")
    report = tmp_path / "r.json"
    code, out, err = await run_cli_process(
        ["apply", str(config), "--report", str(report), "--log-format", "json"], cli_env(lossy)
    )
    run = CliRun(code, out, err, json.loads(report.read_text()) if report.exists() else None)
    counters = lossy.state.counters
    mappings = list(lossy.state.fleet.mappings)
    assert sorted(lossy.lost) == sorted(mappings)  # every mapping's first answer was lost
    ambiguous = [e for e in run.log_events() if e["event"] == "patch_ambiguous"]
    assert len(ambiguous) == len(mappings), "a lost answer was not taken for an ambiguous one"
    for key in mappings:
        statuses = patched(lossy.state, key)
        # One PATCH, then at most one more (answered 409: the first one's operation runs).
        assert statuses in ([202], [202, 409]), (key, statuses)
    assert counters.conflicts > 0, "the re-sent PATCHes no longer meet the running operation"
    assert counters.patches_while_running == counters.conflicts  # each of them answered 409
    counters.patches_while_running = 0  # accounted for, precisely, above
    results = assert_run_consistent(lossy, run, exit_code=0)
    assert results["succeeded"] == len(mappings)
