"""The bearer token goes only to the configured ARM origin, proven through the real CLI.

The emulator's `faults.foreign_links` points a `nextLink`, `Azure-AsyncOperation` or `Location`
at a `Recorder`: a raw TCP listener that would log any connection at all (a request line, a TLS
hello). Each link differs from the ARM endpoint in one more part: another port; another host
(127.0.0.2 on the emulator's own port); another scheme (https).
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest
from loopback import Recorder, reserve_port
from run_checks import assert_run_consistent, mappings_of
from scenarios import QUICK, Job, Outcome, Outcomes, Scenario, run_jobs, run_scenario

from orchestrator.emulator import FleetSpec, generate_fleet

pytestmark = pytest.mark.integration

FLEET: dict[str, Any] = {
    "subscriptions": 1,
    "vaults_per_subscription": 3,
    "mappings_per_vault": [2, 3],
    "shares": {"not_a2a": 0.0, "not_paired": 0.0, "compliant": 0.0, "unhealthy": 0.0},
}
REMOTE_PLAIN_HTTP = {
    "plain_http_private_address": "http://10.255.255.1:8080",
    "plain_http_public_name": "http://management.example.com",
}


def _vault_ids(spec: dict[str, Any]) -> list[str]:
    """The vaults the emulator will generate for ``spec`` (generation is seeded)."""
    fleet = generate_fleet(FleetSpec.model_validate({**QUICK, **spec}))
    return [vault.id for vault in fleet.vaults.values()]


def _foreign(
    seed: int, link: str, url: str, *, port: int = 0, **spec: Any
) -> tuple[Scenario, list[str]]:
    """A fleet whose ``link`` points at ``url``, targeted by explicit vault ids."""
    full = {**FLEET, "seed": seed, **spec, "faults": {"foreign_links": {link: url}}}
    vaults = _vault_ids(full)
    return Scenario(full, {"subscriptions": None, "vaults": vaults}, port=port), vaults


async def _beside(directory: Path, *, recorder: Recorder, scenario: Scenario) -> Outcome:
    await recorder.start()
    try:
        return await run_scenario(directory, scenario)
    finally:
        await recorder.stop()


@pytest.fixture(scope="module")
def recorders() -> dict[str, Recorder]:
    reservation = reserve_port("127.0.0.1")  # a free port on 127.0.0.1 for the emulator…
    shared_port = reservation.getsockname()[1]
    other_host = Recorder(sock=reserve_port("127.0.0.2", shared_port))  # …and 127.0.0.2 on it
    reservation.close()
    return {"next_link": Recorder(), "async_operation": other_host, "location": Recorder()}


@pytest.fixture(scope="module")
def targeted(recorders: dict[str, Recorder]) -> dict[str, tuple[Scenario, list[str]]]:
    other_host = recorders["async_operation"]
    return {
        "next_link": _foreign(71, "next_link", recorders["next_link"].url(), page_size=1),
        # The emulator listens on 127.0.0.1 on the port the recorder holds on 127.0.0.2.
        "async_operation": _foreign(72, "async_operation", other_host.url(), port=other_host.port),
        "location": _foreign(
            73, "location", recorders["location"].url("https"), lro_headers="location"
        ),
    }


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
    recorders: dict[str, Recorder],
    targeted: dict[str, tuple[Scenario, list[str]]],
) -> Outcomes:
    jobs: dict[str, Job] = {
        name: functools.partial(_beside, recorder=recorders[name], scenario=scenario)
        for name, (scenario, _) in targeted.items()
    }
    for name, endpoint in REMOTE_PLAIN_HTTP.items():
        scenario = Scenario({**FLEET, "seed": 74}, {"arm_endpoint": endpoint})
        jobs[name] = functools.partial(run_scenario, scenario=scenario)
    return run_jobs(tmp_path_factory.mktemp("origins"), jobs)


def _assert_refused(outcome: Outcome, recorder: Recorder, vaults: list[str]) -> None:
    assert recorder.connections == 0, recorder.received
    assert_run_consistent(outcome.server, outcome.run, vaults=vaults, exit_code=1)


def test_a_next_link_on_another_port_fails_its_vault_and_nothing_reaches_it(
    outcomes: Outcomes,
    recorders: dict[str, Recorder],
    targeted: dict[str, tuple[Scenario, list[str]]],
) -> None:
    outcome = outcomes["next_link"]
    _assert_refused(outcome, recorders["next_link"], targeted["next_link"][1])
    assert outcome.run.report is not None
    vaults = outcome.run.report["vaults"]
    assert vaults and {v["error"]["code"] for v in vaults} == {"untrusted_url"}
    assert all(recorders["next_link"].url() in v["error"]["message"] for v in vaults)
    assert outcome.server.state.counters.faults["foreign_link"] == len(vaults)
    # What the first page listed was still handled: one vault's listing failure loses nothing.
    assert all(len(v["mappings"]) == 1 for v in vaults)


def test_an_async_operation_url_on_another_host_fails_its_mapping_and_nothing_reaches_it(
    outcomes: Outcomes,
    recorders: dict[str, Recorder],
    targeted: dict[str, tuple[Scenario, list[str]]],
) -> None:
    outcome = outcomes["async_operation"]
    assert outcome.server.port == recorders["async_operation"].port  # only the host differs
    _assert_refused(outcome, recorders["async_operation"], targeted["async_operation"][1])
    _assert_every_change_failed_untrusted(outcome)


def test_a_location_url_on_another_scheme_fails_its_mapping_and_nothing_reaches_it(
    outcomes: Outcomes,
    recorders: dict[str, Recorder],
    targeted: dict[str, tuple[Scenario, list[str]]],
) -> None:
    outcome = outcomes["location"]
    _assert_refused(outcome, recorders["location"], targeted["location"][1])
    _assert_every_change_failed_untrusted(outcome)


def _assert_every_change_failed_untrusted(outcome: Outcome) -> None:
    assert outcome.run.report is not None
    mappings = mappings_of(outcome.run.report)
    assert mappings and all(m["result"] == "failed" for m in mappings)
    assert {m["operation"]["error"]["code"] for m in mappings} == {"untrusted_url"}
    assert all(m["operation"]["url"] is None for m in mappings)
    # ASR accepted each PATCH before the answer named the foreign URL; nothing more was sent.
    assert outcome.server.state.counters.operations_started == len(mappings)


@pytest.mark.parametrize("name", sorted(REMOTE_PLAIN_HTTP))
def test_a_plain_http_endpoint_off_loopback_exits_2_before_any_call(
    outcomes: Outcomes, name: str
) -> None:
    outcome = outcomes[name]
    assert outcome.run.exit_code == 2, outcome.run.stderr[-2000:]
    assert "arm_endpoint" in outcome.run.stderr
    assert outcome.run.report is not None and outcome.run.report["outcome"] == "invalid"
    assert sum(outcome.server.state.counters.requests.values()) == 0  # not even a token


async def test_the_recorder_would_see_any_connection() -> None:
    """The negative proofs above mean something: a recorder notices even a bare connection."""
    recorder = Recorder()
    await recorder.start()
    try:
        _, writer = await asyncio.open_connection(recorder.host, recorder.port)
        writer.write(b"\x16\x03\x01")  # the first bytes of a TLS hello
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            if recorder.received:
                break
            await asyncio.sleep(0.01)
    finally:
        await recorder.stop()
    assert recorder.connections == 1 and recorder.received == [b"\x16\x03\x01"]
