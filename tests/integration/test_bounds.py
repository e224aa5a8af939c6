"""Time and memory are bounded, whatever a server does: through the real CLI.

One `apply` (``fleet``), its limiters kept per subscription, meets three subscriptions:

- ``STARVED``: two vaults whose ``nextLink`` chains never end, beside healthy vaults that page
  with relative links and links missing ``api-version``. The get window (50 per minute) holds
  less than the chains' pages (2 x 40): without the reserve a listing leaves (10 %), they would
  spend it all before the first poll and none would be read for a minute; with it, the healthy
  vaults' operations are read to their end and the chains wait for the deadline.
- ``ENDLESS``: one chain of 7 MiB pages (gzipped on the wire), with budget to spare: cut off
  at ``max_pages_per_vault`` (40) with ``too_many_pages``; the CLI's peak RSS stays < 300 MB.
- ``SLOW``: a listing trickled a byte a second, a status trickled the same way and a listing
  that never answers, under a per-request limit of 1 s.

Another run meets a token endpoint that never answers, with a lock file held: the deadline
(3 s) ends it, exit 4, and the lock is free again.
"""

from __future__ import annotations

import fcntl
import functools
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hostile_runs import CliOutcome, Job, Runs, against, declare, runs_of
from loopback import API_VERSION, MAPPINGS, Answer, HostileArm, VaultScript, every_mapping
from scripted import first_then, never_answers, trickled

pytestmark = pytest.mark.integration

REQUEST_LIMIT = 1.0  # request_timeout_seconds
SLACK = 0.5  # what a cut-off may take beyond the limit on a busy machine
FLEET_DEADLINE = 4.5
MAX_PAGES = 40
GET_LIMIT = {"calls": 50, "per_seconds": 60}
LISTING_RESERVE = 5  # 10 % of the get limit: the healthy vaults' 5 operations need one read each
STARVED, ENDLESS, SLOW = (f"6d1c5b7e-2f0a-4a57-9a43-3c1f9c0e{n:04d}" for n in (1, 2, 3))
CHAINS = ("chain-1", "chain-2")  # in STARVED
HEALTHY = ("plain", "relative-next-link", "next-link-without-api-version")  # in STARVED
PAGE_PAD = b"x" * (7 * 1024 * 1024)  # `endless`'s: 280 MiB in all, kept they would pass 300 MB
RSS_LIMIT_KIB = 300 * 1024
AUTH_DEADLINE = 3.0


# --- answers -------------------------------------------------------------------------------


@functools.cache
def _gzip_prefix() -> tuple[bytes, Any]:
    """The gzip stream of every big page's start (7 MiB of padding), and its compressor."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: a gzip stream
    return compressor.compress(
        b'{"value": [], "pad": "' + PAGE_PAD + b'", "nextLink": "'
    ), compressor


def _next_page(request: web.Request) -> bytes:
    page = int(request.query.get("$skiptoken", "0"))
    link = request.url.with_query({"api-version": API_VERSION, "$skiptoken": str(page + 1)})
    return str(link).encode()


async def _endless_and_big(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """Page n links to page n + 1, for ever; each page carries 7 MiB the client must drop
    (gzipped: the client inflates them; the server compressed them once)."""
    head, compressor = _gzip_prefix()
    page = compressor.copy()
    body = head + page.compress(_next_page(request) + b'"}') + page.flush()
    return web.Response(
        body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


async def _endless(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """Page n links to page n + 1, for ever."""
    body = b'{"value": [], "nextLink": "' + _next_page(request) + b'"}'
    return web.Response(body=body, content_type="application/json")


def _paged(link_of: Callable[[web.Request], str]) -> Answer:
    """m1 on a first page whose ``nextLink`` is ``link_of(request)``, m2 on the second; a second
    page asked for without ``api-version`` is refused, as ARM does."""

    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        vault = request.path.strip("/").split("/")[7]
        if "$skiptoken" not in request.query:
            return {"value": [server.mapping(vault, "m1")], "nextLink": link_of(request)}
        if "api-version" not in request.query:
            return {"error": {"code": "MissingApiVersionParameter", "message": "no api-version"}}
        return {"value": [server.mapping(vault, "m2")]}

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        body = make(request, server)
        return web.json_response(body, status=400 if "error" in body else 200)

    return answer


def _relative(request: web.Request) -> str:
    return f"{request.path}?api-version={API_VERSION}&$skiptoken=2"


def _without_api_version(request: web.Request) -> str:
    return str(request.url.with_query({"$skiptoken": "2"}))


NEVER_ENDS = b'{"value": [], "pad": "' + b"x" * 100 + b'"}'


def _fleet() -> HostileArm:
    def slow(**script: Any) -> VaultScript:
        return VaultScript(subscription=SLOW, **script)

    return HostileArm(
        {
            **{name: VaultScript(listing=_endless) for name in CHAINS},
            "plain": VaultScript(),
            "relative-next-link": VaultScript(listing=_paged(_relative), mappings=("m1", "m2")),
            "next-link-without-api-version": VaultScript(
                listing=_paged(_without_api_version), mappings=("m1", "m2")
            ),
            "endless": VaultScript(listing=_endless_and_big, subscription=ENDLESS),
            "listing-trickled-once": slow(listing=first_then(trickled(NEVER_ENDS), every_mapping)),
            "status-trickled": slow(status=trickled(NEVER_ENDS)),
            "listing-never-answers": slow(listing=never_answers("never:listing")),
        }
    )


async def _auth_run(directory: Path, *, token: Any) -> dict[str, Any]:
    """An apply whose token endpoint is ``token``, holding a lock file; is the lock free after?"""
    lock = directory / "run.lock"
    server = HostileArm({"plain": VaultScript()}, token=token)
    config = {"timeout_minutes": AUTH_DEADLINE / 60, "lock_file": str(lock)}
    outcome = await against(directory, server, config=config)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            outcome["lock_free"] = True
        except BlockingIOError:
            outcome["lock_free"] = False
    return outcome


def _jobs() -> dict[str, Job]:
    fleet = {
        "timeout_minutes": FLEET_DEADLINE / 60,
        "request_timeout_seconds": REQUEST_LIMIT,
        "max_pages_per_vault": MAX_PAGES,
        "limits": {"scope": "subscription", "get": GET_LIMIT},
    }
    return {
        "fleet": functools.partial(against, server=_fleet(), config=fleet),
        "token_hangs": functools.partial(_auth_run, token=never_answers("token")),
    }


declare("bounds", _jobs, fleet=FLEET_DEADLINE, token_hangs=AUTH_DEADLINE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "bounds")


@pytest.fixture(scope="module")
def fleet(runs: Runs) -> CliOutcome:
    return runs.cli("fleet")


def _pages(run: CliOutcome, vault: str) -> list[float]:
    """When the server was asked for each page of ``vault``'s mapping list."""
    return [s.at for s in run.observed.requests_for(vault) if f"/{MAPPINGS}?" in s.path_qs]


# --- a listing that never ends -------------------------------------------------------------


def test_an_endless_next_link_chain_fails_its_vault_with_too_many_pages(fleet: CliOutcome) -> None:
    vault = fleet.vault("endless")
    assert (vault["status"], vault["error"]["code"]) == ("error", "too_many_pages")
    assert f"stopped after {MAX_PAGES} pages" in vault["error"]["message"]
    # The page past the cap is read (it is what shows there are more), no further one.
    assert MAX_PAGES <= len(_pages(fleet, "endless")) <= MAX_PAGES + 1


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_vaults_beside_chains_that_would_spend_the_get_budget_still_finish(
    fleet: CliOutcome, name: str
) -> None:
    """Their operations were read to the end from the reserve the chains' listings left."""
    for mapping in fleet.vault(name)["mappings"]:
        assert mapping["result"] == "succeeded", mapping
        assert mapping["operation"]["polls"] >= 1


def test_chains_that_would_spend_the_get_budget_take_all_but_its_reserve(
    fleet: CliOutcome,
) -> None:
    pages = sum(len(_pages(fleet, name)) for name in CHAINS)
    starved = [
        s for s in fleet.observed.seen if f"/{STARVED}/" in s.path_qs.replace("/Sub", "/sub")
    ]
    assert len(starved) <= GET_LIMIT["calls"] + len(HEALTHY) + 2  # the gets, and the PATCHes
    assert pages < len(CHAINS) * MAX_PAGES  # they never got to their cap…
    assert pages <= GET_LIMIT["calls"] - LISTING_RESERVE  # …the window was spent but the reserve
    for name in CHAINS:  # still listing when the deadline came
        assert fleet.vault(name)["error"]["code"] == "timed_out"


def test_an_endless_chain_of_large_pages_keeps_the_cli_small(fleet: CliOutcome) -> None:
    """41 pages of 7 MiB each went through; the CLI's peak RSS stays under 300 MB."""
    rss = fleet.data["max_rss_kib"]
    assert rss is not None and rss < RSS_LIMIT_KIB, f"peak RSS {rss / 1024:.0f} MiB"


# --- links, resolved -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relative-next-link", "next-link-without-api-version"])
def test_a_next_link_is_resolved_against_the_endpoint_and_given_the_runs_api_version(
    fleet: CliOutcome, name: str
) -> None:
    second_pages = [
        s.path_qs for s in fleet.observed.requests_for(name) if "skiptoken=2" in s.path_qs
    ]
    assert second_pages, "the second page was never asked for"
    assert all(f"api-version={API_VERSION}" in p for p in second_pages)
    assert {m["id"].rsplit("/", 1)[1] for m in fleet.vault(name)["mappings"]} == {"m1", "m2"}


# --- time limits on one request ------------------------------------------------------------


def test_a_listing_trickled_a_byte_a_second_is_cut_off_and_read_again(fleet: CliOutcome) -> None:
    (trickle,) = fleet.observed.notes["trickled:listing-trickled-once"]
    began, ended, sent = trickle
    assert ended - began <= REQUEST_LIMIT + SLACK and sent <= 2
    assert fleet.mapping("listing-trickled-once")["result"] == "succeeded"


def test_a_status_trickled_a_byte_a_second_is_cut_off_each_time_until_the_deadline(
    fleet: CliOutcome,
) -> None:
    trickles = fleet.observed.notes["trickled:status-trickled"]
    assert len(trickles) >= 2  # each read cut off, and read again
    assert all(ended - began <= REQUEST_LIMIT + SLACK for began, ended, _ in trickles)
    mapping = fleet.mapping("status-trickled")
    # A read under way when the deadline came is not counted.
    assert mapping["result"] == "timed_out" and 1 <= mapping["operation"]["polls"] <= len(trickles)


def test_a_listing_that_never_answers_costs_each_attempt_only_the_limit(fleet: CliOutcome) -> None:
    attempts = fleet.observed.notes["never:listing"]
    assert 2 <= len(attempts) <= 6  # the retry policy's attempts, within the deadline
    assert all(ended - began <= REQUEST_LIMIT + SLACK for began, ended in attempts)
    vault = fleet.vault("listing-never-answers")
    assert vault["status"] == "error" and vault["error"]["code"] in (
        "timed_out",
        "connection_error",
    )


def test_the_fleet_run_ends_by_its_deadline_with_a_whole_report(fleet: CliOutcome) -> None:
    report = fleet.report
    assert "Traceback" not in fleet.stderr, fleet.stderr[-3000:]
    assert report["duration_s"] < FLEET_DEADLINE + 2
    assert fleet.exit_code == report["exit_code"] == 1  # the endless vault failed


# --- authentication inside the deadline ----------------------------------------------------


def test_a_token_endpoint_that_hangs_ends_the_run_at_its_deadline_with_exit_4(runs: Runs) -> None:
    run = runs.cli("token_hangs")
    report = run.report
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.exit_code == report["exit_code"] == 4
    assert report["outcome"] == "unauthenticated"
    assert report["error"]["code"] == "authentication_failed"
    assert AUTH_DEADLINE - 0.5 <= report["duration_s"] < AUTH_DEADLINE + 2
    assert run.observed.notes["token"], "the token endpoint was never asked"
    assert run.observed.seen == []  # no ARM call without a token
    assert run.data["lock_free"]
