"""The bearer token goes only to the configured ARM origin, proven through the real CLI.

`scripted.ForeignLinks` gives three vaults whose server-given links point at a `Recorder`: a raw
TCP listener that would log any connection at all (a request line, a TLS hello). Each link
differs from the ARM endpoint in one more part: a ``nextLink`` on another port; an
``Azure-AsyncOperation`` on another host (127.0.0.2 on the server's own port); a ``Location``
on another scheme (https). They are served in test_hostile_answers.py's one `apply` (a run is
a second of CPU: the vaults share it), beside vaults that behave. A second run's
``arm_endpoint`` is plain http off loopback: refused before anything is sent (the
private-address case is `tests/unit/test_config.py`'s).
"""

from __future__ import annotations

import asyncio
import functools

import pytest
import test_hostile_answers  # noqa: F401  # declares the run the foreign links are served in
from hostile_runs import CliOutcome, Job, Runs, against, declare, runs_of
from loopback import HostileArm, Recorder, VaultScript
from scripted import ForeignLinks

pytestmark = pytest.mark.integration

NEXT_LINK, ASYNC_OPERATION, LOCATION = ForeignLinks.VAULTS


def _jobs() -> dict[str, Job]:
    return {
        "plain_http_public_name": functools.partial(
            against,
            server=HostileArm({"well-behaved": VaultScript()}),
            config={"arm_endpoint": "http://management.example.com"},
        ),
    }


declare("origins", _jobs, plain_http_public_name=0.1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "origins")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> CliOutcome:
    return runs_of(tmp_path_factory, "hostile-answers").cli("mixed")


@pytest.mark.parametrize("vault", ForeignLinks.VAULTS)
def test_nothing_reaches_a_foreign_link(foreign: CliOutcome, vault: str) -> None:
    recorded = foreign.data["foreign"][vault]
    assert recorded["connections"] == 0, recorded["received"]


def test_the_token_went_only_to_the_configured_origin(foreign: CliOutcome) -> None:
    """Every ARM request the server saw carried a token it issued; nothing reached elsewhere."""
    issued = {f"Bearer {token}" for token in foreign.observed.tokens}
    assert foreign.observed.seen and all(s.authorization in issued for s in foreign.observed.seen)
    assert all(r["connections"] == 0 for r in foreign.data["foreign"].values())


def test_a_next_link_on_another_port_fails_its_vault_and_still_handles_its_first_page(
    foreign: CliOutcome,
) -> None:
    vault = foreign.vault(NEXT_LINK)
    assert (vault["status"], vault["error"]["code"]) == ("error", "untrusted_url")
    assert foreign.data["foreign"][NEXT_LINK]["url"] in vault["error"]["message"]
    assert "skiptoken" not in vault["error"]["message"]  # the refused URL without its query
    # What the first page listed was still handled: one vault's listing failure loses nothing.
    assert [m["result"] for m in vault["mappings"]] == ["succeeded"]


@pytest.mark.parametrize("vault", [ASYNC_OPERATION, LOCATION])
def test_a_status_url_off_the_origin_fails_its_mapping_and_nothing_more_is_sent(
    foreign: CliOutcome, vault: str
) -> None:
    mapping = foreign.mapping(vault)
    assert mapping["result"] == "failed"
    assert mapping["operation"]["error"]["code"] == "untrusted_url"
    assert mapping["operation"]["url"] is None
    # ASR accepted the PATCH before its answer named the foreign URL; it was not sent again and
    # no status was read anywhere (the vault's listing and its read-back are all that followed).
    requests = foreign.observed.requests_for(vault)
    assert [s.method for s in requests].count("PATCH") == 1
    assert all(
        s.path_qs.split("?")[0].endswith("ContainerMappings") for s in requests if s.method == "GET"
    )


def test_a_plain_http_endpoint_off_loopback_exits_2_before_any_call(runs: Runs) -> None:
    run = runs.cli("plain_http_public_name")
    assert run.exit_code == 2, run.stderr[-2000:]
    assert "arm_endpoint" in run.stderr
    assert run.report["outcome"] == "invalid"
    assert run.observed.seen == [] and "token_requests" not in run.observed.notes  # not a token


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
