"""Broken or hostile ARM answers, through the real CLI against a scripted loopback server.

One `HostileArm` serves a vault per misbehaviour (plus well-behaved ones) and ONE `apply` runs
over all of them, with a short deadline: each test then reads its own vault's fate from that
run. The affected vault or mapping must end with a clear error (or, for a status it can never
read, `timed_out` with its URL at the deadline); the others must not notice; the run must not
crash or hang. The same run discovers four more subscriptions, three of them hostile, and keeps
its limiters per subscription (`limits.scope: subscription`), so the vaults that answer 429 sit
in subscriptions of their own and their pauses touch nobody else. The PATCHes of vaults with
hostile statuses are accepted 0.3 s late, so the first operations the
poller reads to learn how long operations take (its scouts) are ones that end, and the hostile
ones become scouts in their places; else they would be parked behind scouts that never end,
read only at the deadline's last call.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hostile_runs import CliOutcome, Job, Runs, against, declare, runs_of
from loopback import (
    API_VERSION,
    MIB,
    Answer,
    HostileArm,
    VaultScript,
    accepted,
    mapping_id,
    names_of,
    succeeded,
)
from run_checks import RESULTS
from scripted import (
    ForeignLinks,
    first_then,
    fixed,
    json_answer,
    landing,
    later,
    raw_json,
    streamed,
)

pytestmark = pytest.mark.integration

CLIENT_CAP = 8 * MIB  # orchestrator.arm.transport.DEFAULT_MAX_BODY_BYTES
# Room for an unreadable status's first read (once the scouts taught), its 2-s backoff and a
# third read on a loaded 2-core CI machine, before the deadline's last call.
DEADLINE_SECONDS = 7.0
SLACK_SECONDS = 3.0
SCOUTS_FIRST_SECONDS = 0.3  # how late PATCHes of vaults with hostile statuses are accepted
DEEP = 200_000  # json.loads: RecursionError
LONG_NUMBER = "1" + "0" * 5_000  # json.loads: ValueError (int digits limit)


def _subscription(n: int) -> str:
    return f"6d1c5b7e-2f0a-4a57-9a43-3c1f9c0e{n + 1000:04d}"


SUB_NESTED, SUB_NUMBER, SUB_USERINFO, SUB_FOUND = (_subscription(n) for n in (101, 102, 103, 104))


# --- answers -------------------------------------------------------------------------------


def _mapping_with(**changes: Any) -> Answer:
    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        mapping = server.mapping(names_of(request)[0])
        for key, value in changes.items():
            if value is ...:
                mapping.pop(key)
            else:
                mapping[key] = value
        return {"value": [mapping]}

    return json_answer(make)


def _properties_without(key: str) -> Answer:
    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        mapping = server.mapping(names_of(request)[0])
        del mapping["properties"][key]
        return {"value": [mapping]}

    return json_answer(make)


def _next_link(link: Any) -> Answer:
    """A page with the vault's mapping and ``nextLink``: a value, or made from the request."""

    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        value = link(request, server) if callable(link) else link
        return {"value": [server.mapping(names_of(request)[0])], "nextLink": value}

    return json_answer(make)


def _alternating(request: web.Request, server: HostileArm) -> str:
    """Page A links to page B, B back to A: a loop two pages long."""
    url = request.url.with_query({"api-version": API_VERSION})
    return str(url if "$skiptoken" in request.query else url.update_query({"$skiptoken": "b"}))


def _accepted_with(**headers: str) -> Answer:
    """202 naming the status URL, with ``headers``; the change lands when read Succeeded."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        vault, mapping = names_of(request)
        server.pending[(vault, mapping)] = await request.json()
        status = server.status_url(vault, mapping)
        return web.Response(status=202, headers={"Azure-AsyncOperation": status, **headers})

    return answer


async def _accepted_at_location(request: web.Request, server: HostileArm) -> web.StreamResponse:
    vault, mapping = names_of(request)
    server.pending[(vault, mapping)] = await request.json()
    return web.Response(status=202, headers={"Location": server.status_url(vault, mapping)})


def _redirect(status: int, text: str = "", content_type: str = "text/plain") -> Answer:
    """A redirect to a path on the same server that records whoever follows it."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        target = f"{server.base_url}/redirected/{names_of(request)[0]}"
        return web.Response(
            status=status, text=text, content_type=content_type, headers={"Location": target}
        )

    return answer


def _throttled(retry_after: str | None) -> Answer:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return fixed('{"error": {"code": "TooManyRequests"}}', 429, "application/json", **headers)


ACCEPTED = _accepted_with()
SUCCEEDED_STATUS = json_answer(lambda r, s: {"status": "Succeeded"})
USERINFO: Callable[[web.Request, HostileArm], str] = lambda request, server: str(  # noqa: E731
    request.url.with_user("admin").with_password("hunter2")
)
THROTTLED_TWICE = {  # name -> Retry-After of the two 429s before the PATCH is accepted
    "throttled-minus-one": "-1",
    "throttled-zero": "0",
    "throttled-without-retry-after": None,
    "throttled-one-second": "1",
}


def _scripts() -> dict[str, VaultScript]:
    """A vault per misbehaviour, with fresh answer state (counters, first-call flags)."""
    scripts = {
        "well-behaved": VaultScript(),
        # listings
        "listing-not-json": VaultScript(listing=fixed("<html><body>Bad gateway</body></html>")),
        "listing-without-value": VaultScript(listing=json_answer(lambda r, s: {"items": []})),
        "listing-value-not-a-list": VaultScript(
            listing=json_answer(lambda r, s: {"value": {"id": "x"}})
        ),
        "listing-a-json-array": VaultScript(listing=json_answer(lambda r, s: [1, 2, 3])),
        "mapping-properties-a-string": VaultScript(listing=_mapping_with(properties="Paired")),
        "mapping-without-id": VaultScript(listing=_mapping_with(id=...)),
        "mapping-id-a-number": VaultScript(listing=_mapping_with(id=12345)),
        "mapping-of-another-vault": VaultScript(listing=_mapping_with(id=mapping_id("elsewhere"))),
        "mapping-without-state": VaultScript(listing=_properties_without("state")),
        "listing-of-9-mib": VaultScript(listing=streamed(9 * MIB)),
        "listing-without-end": VaultScript(listing=streamed(None)),
        "next-link-to-itself": VaultScript(listing=_next_link(lambda r, s: str(r.url))),
        "next-link-loop-of-two": VaultScript(listing=_next_link(_alternating)),
        "next-link-a-number": VaultScript(listing=_next_link(42)),
        "next-link-with-userinfo": VaultScript(listing=_next_link(USERINFO)),
        "listing-redirected": VaultScript(listing=_redirect(301)),
        # PATCH answers
        "patch-202-without-status-url": VaultScript(patch=fixed("", 202)),
        "patch-202-without-status-url-lands": VaultScript(patch=landing(fixed("", 202))),
        "patch-400-not-json": VaultScript(patch=fixed("<h1>Bad Request</h1>", 400)),
        "patch-200-not-json": VaultScript(patch=fixed("<h1>OK</h1>", 200)),
        "patch-200-not-json-lands": VaultScript(patch=landing(fixed("<h1>OK</h1>", 200))),
        "patch-absurd-retry-after": VaultScript(patch=_accepted_with(**{"Retry-After": "9" * 30})),
        "patch-503-garbage-retry-after-once": VaultScript(
            patch=first_then(
                fixed("", 503, **{"Retry-After": "Fri, 99 Foo 2026 25:61:00"}), ACCEPTED
            )
        ),
        "patch-garbage-retry-after": VaultScript(
            patch=_accepted_with(**{"Retry-After": "soon-ish"})
        ),
        # operation status answers
        "status-not-json": VaultScript(status=fixed("<html>oops</html>")),
        "status-without-status": VaultScript(status=json_answer(lambda r, s: {"name": "op"})),
        "status-a-number": VaultScript(status=json_answer(lambda r, s: {"status": 42})),
        "status-nested-too-deep": VaultScript(
            status=raw_json('{"status": ' + "[" * DEEP + "]" * DEEP + "}")
        ),
        "status-number-too-long": VaultScript(
            status=raw_json('{"status": "InProgress", "percentComplete": ' + LONG_NUMBER + "}")
        ),
        "status-unknown-word": VaultScript(status=json_answer(lambda r, s: {"status": "Exploded"})),
        "status-without-end": VaultScript(status=streamed(None, prefix=b'{"status": "')),
        "status-failed-error-a-string": VaultScript(
            status=json_answer(lambda r, s: {"status": "Failed", "error": "boom"})
        ),
        "status-302-empty": VaultScript(patch=_accepted_at_location, status=_redirect(302)),
        "status-302-with-body": VaultScript(
            patch=_accepted_at_location,
            status=_redirect(
                302,
                json.dumps({"error": {"code": "Moved", "message": "look elsewhere"}}),
                "application/json",
            ),
        ),
        "status-garbage-retry-after-once": VaultScript(
            status=first_then(
                json_answer(lambda r, s: {"status": "InProgress"}, **{"Retry-After": "NaN"}),
                succeeded,
            )
        ),
        "status-not-json-once": VaultScript(
            status=first_then(fixed("<html>busy</html>"), succeeded)
        ),
        # 429s, each in a subscription of its own (its limiters are its own)
        "throttled-for-ever": VaultScript(subscription=_subscription(1), patch=_throttled("1e9")),
        # discovered
        "discovered": VaultScript(subscription=SUB_FOUND),
    }
    for n, (name, retry_after) in enumerate(THROTTLED_TWICE.items(), start=2):
        patch = first_then(_throttled(retry_after), ACCEPTED, times=2)
        scripts[name] = VaultScript(subscription=_subscription(n), patch=patch)
    # The poller learns how long operations take from the first few it tracks (its scouts), and
    # parks the others until they have taught it: let those be operations that end. Scouts of
    # one age are read one for all, the one seen running longest setting the pace: let the
    # statuses that end on a second read be older than those that never end.
    for name, script in scripts.items():
        if name.startswith("status-"):
            delay = SCOUTS_FIRST_SECONDS * (1 if name.endswith("-once") else 2)
            patch = later(script.patch or accepted, delay)
            scripts[name] = dataclasses.replace(script, patch=patch)
    return scripts


def _hostile_server(foreign: ForeignLinks) -> HostileArm:
    return HostileArm(
        {**_scripts(), **foreign.scripts()},
        sock=foreign.server_socket,
        vault_lists={
            SUB_NESTED: raw_json('{"value": ' + "[" * DEEP + "]" * DEEP + "}"),
            SUB_NUMBER: raw_json('{"value": [], "count": ' + LONG_NUMBER + "}"),
            SUB_USERINFO: json_answer(
                lambda request, server: {"value": [], "nextLink": USERINFO(request, server)}
            ),
        },
    )


async def _mixed(directory: Path) -> dict[str, Any]:
    """The one apply over every scripted vault (and `ForeignLinks`' vaults, whose recorders
    listen meanwhile: test_origins.py reads them)."""
    foreign = ForeignLinks()
    server = _hostile_server(foreign)
    explicit = [server.vault_id(n) for n, s in server.vaults.items() if s.subscription != SUB_FOUND]
    config = {
        "timeout_minutes": DEADLINE_SECONDS / 60,
        "request_timeout_seconds": 5.0,
        "limits": {"scope": "subscription"},
        "vaults": explicit,
        "subscriptions": [{"id": s} for s in (SUB_NESTED, SUB_NUMBER, SUB_USERINFO, SUB_FOUND)],
    }
    await foreign.start()
    try:
        outcome = await against(directory, server, config=config)
    finally:
        await foreign.stop()
    outcome["foreign"] = foreign.recorded()
    return outcome


def _jobs() -> dict[str, Job]:
    return {"mixed": _mixed}


declare("hostile-answers", _jobs, mixed=DEADLINE_SECONDS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "hostile-answers")


@pytest.fixture(scope="module")
def mixed(runs: Runs) -> CliOutcome:
    return runs.cli("mixed")


# --- the run as a whole --------------------------------------------------------------------


def test_a_run_full_of_hostile_answers_ends_by_its_deadline_with_a_whole_report(
    mixed: CliOutcome,
) -> None:
    report = mixed.report
    assert "Traceback" not in mixed.stderr, mixed.stderr[-3000:]
    assert report["duration_s"] < DEADLINE_SECONDS + SLACK_SECONDS
    # Failures outrank the timeouts: exit 1, though operations were still running.
    assert mixed.exit_code == report["exit_code"] == 1
    assert report["error"]["code"] == "deadline_passed"
    assert {v["id"].lower() for v in report["vaults"]} == {
        i.lower() for i in mixed.observed.vault_ids.values()
    }
    totals, mappings = report["totals"], [m for v in report["vaults"] for m in v["mappings"]]
    assert totals["mappings"] == len(mappings) == sum(totals[r] for r in (*RESULTS, "unhealthy"))
    assert totals["timed_out"] > 0 and totals["failed"] > 0


@pytest.mark.parametrize("name", ["well-behaved", "discovered"])
def test_a_well_behaved_vault_succeeds_among_hostile_ones(mixed: CliOutcome, name: str) -> None:
    assert mixed.vault(name)["status"] == "ok"
    mapping = mixed.mapping(name)
    assert mapping["result"] == "succeeded"
    # Read back once the change ended (verification): it carries what was asked.
    assert mapping["after"]["agent_auto_update_status"] == "Enabled"


# --- listings ------------------------------------------------------------------------------

BROKEN_LISTINGS = {
    "listing-not-json": "not JSON",
    "listing-without-value": "'value'",
    "listing-value-not-a-list": "'value'",
    "listing-a-json-array": "'value'",
    "mapping-properties-a-string": "properties",
    "mapping-without-id": "id",
    "mapping-id-a-number": "id",
    "mapping-of-another-vault": "not under the vault",
    "listing-of-9-mib": "larger than",
    "listing-without-end": "larger than",
    "next-link-a-number": "nextLink",
}


@pytest.mark.parametrize("name", list(BROKEN_LISTINGS))
def test_a_broken_listing_fails_its_vault_with_invalid_response(
    mixed: CliOutcome, name: str
) -> None:
    vault = mixed.vault(name)
    assert vault["status"] == "error"
    assert vault["error"]["code"] == "invalid_response"
    assert BROKEN_LISTINGS[name] in vault["error"]["message"]


@pytest.mark.parametrize("name", ["next-link-to-itself", "next-link-loop-of-two"])
def test_a_looping_next_link_fails_its_vault_after_reading_each_page_once(
    mixed: CliOutcome, name: str
) -> None:
    vault = mixed.vault(name)
    assert (vault["status"], vault["error"]["code"]) == ("error", "too_many_pages")
    assert "paging did not end" in vault["error"]["message"]
    pages = [s for s in mixed.observed.requests_for(name) if "ContainerMappings?" in s.path_qs]
    assert len(pages) == (1 if name == "next-link-to-itself" else 2)
    assert mixed.mapping(name)["result"] == "succeeded"  # listed once, though pages repeat


def test_an_endless_listing_is_cut_off_after_the_body_cap(mixed: CliOutcome) -> None:
    (sent,) = mixed.observed.notes["streamed:listing-without-end"]
    # The client stops reading past 8 MiB; what more went out sat in socket buffers.
    assert CLIENT_CAP <= sent <= CLIENT_CAP + 16 * MIB


def test_a_mapping_without_a_state_is_skipped_not_paired(mixed: CliOutcome) -> None:
    mapping = mixed.mapping("mapping-without-state")
    assert (mapping["result"], mapping["skip_reason"]) == ("skipped", "not_paired")


def test_a_next_link_with_userinfo_fails_its_vault_as_untrusted_url(mixed: CliOutcome) -> None:
    vault = mixed.vault("next-link-with-userinfo")
    assert vault["error"]["code"] == "untrusted_url"
    assert "hunter2" not in json.dumps(vault)


def test_a_redirected_listing_fails_its_vault_and_is_never_followed(mixed: CliOutcome) -> None:
    vault = mixed.vault("listing-redirected")
    assert (vault["status"], vault["error"]["code"]) == ("error", "redirect_not_followed")
    assert not [s for s in mixed.observed.seen if s.path_qs.startswith("/redirected/")]


# --- discovery -----------------------------------------------------------------------------

BROKEN_DISCOVERY = {
    SUB_NESTED: ("invalid_response", "nested too deep"),
    SUB_NUMBER: ("invalid_response", "not JSON"),
    SUB_USERINFO: ("untrusted_url", "refused"),
}


@pytest.mark.parametrize(
    "subscription", list(BROKEN_DISCOVERY), ids=["nested", "number", "userinfo"]
)
def test_an_unreadable_vault_list_fails_its_subscription_with_a_code_not_a_crash(
    mixed: CliOutcome, subscription: str
) -> None:
    (entry,) = [s for s in mixed.report["subscriptions"] if s["id"] == subscription]
    code, fragment = BROKEN_DISCOVERY[subscription]
    assert (entry["status"], entry["error"]["code"]) == ("error", code)
    assert fragment in entry["error"]["message"]
    assert "hunter2" not in json.dumps(entry)


def test_the_subscription_listed_well_gives_its_vault(mixed: CliOutcome) -> None:
    (entry,) = [s for s in mixed.report["subscriptions"] if s["id"] == SUB_FOUND]
    assert (entry["status"], entry["vaults_found"]) == ("ok", 1)


# --- PATCH answers -------------------------------------------------------------------------


def test_a_patch_refused_with_an_unreadable_400_fails_its_mapping(mixed: CliOutcome) -> None:
    mapping = mixed.mapping("patch-400-not-json")
    assert mapping["result"] == "failed"
    assert mapping["operation"]["error"]["code"] == "http_400"
    assert "400" in mapping["operation"]["error"]["message"]


@pytest.mark.parametrize(
    ("name", "code"),
    [("patch-202-without-status-url", "no_status_url"), ("patch-200-not-json", "invalid_response")],
)
def test_an_accepted_patch_that_cannot_be_followed_is_read_back_until_the_deadline(
    mixed: CliOutcome, name: str, code: str
) -> None:
    """ASR took it (2xx) but said nothing readable: it may yet land, so never `failed`; an
    operation may run on it, so never PATCHed again: only read back, after waits that double
    (READ_BACK_FIRST_WAIT, 2 s)."""
    mapping = mixed.mapping(name)
    assert mapping["result"] == "timed_out"
    assert mapping["operation"]["error"]["code"] == code
    requests = mixed.observed.requests_for(name)
    patches = [s.at for s in requests if s.method == "PATCH"]
    readbacks = [
        s.at for s in requests if s.method == "GET" and s.path_qs.split("?")[0].endswith("/m1")
    ]
    assert len(patches) == 1
    assert readbacks and readbacks[0] - patches[0] >= 2.0 - 0.02


@pytest.mark.parametrize("name", ["patch-202-without-status-url-lands", "patch-200-not-json-lands"])
def test_an_accepted_patch_that_cannot_be_followed_succeeds_once_read_back(
    mixed: CliOutcome, name: str
) -> None:
    mapping = mixed.mapping(name)
    assert mapping["result"] == "succeeded"
    assert mapping["after"]["agent_auto_update_status"] == "Enabled"
    assert sum(s.method == "PATCH" for s in mixed.observed.requests_for(name)) == 1


def test_a_garbage_retry_after_on_a_503_is_ignored_and_the_patch_retried(
    mixed: CliOutcome,
) -> None:
    name = "patch-503-garbage-retry-after-once"
    assert mixed.mapping(name)["result"] == "succeeded"
    assert sum(s.method == "PATCH" for s in mixed.observed.requests_for(name)) == 2


@pytest.mark.parametrize("name", ["patch-garbage-retry-after", "status-garbage-retry-after-once"])
def test_a_garbage_retry_after_on_an_accepted_operation_is_ignored_and_the_change_lands(
    mixed: CliOutcome, name: str
) -> None:
    assert mixed.mapping(name)["result"] == "succeeded"


def test_an_absurd_retry_after_is_honoured_until_the_deadline_without_a_hang(
    mixed: CliOutcome,
) -> None:
    mapping = mixed.mapping("patch-absurd-retry-after")
    assert mapping["result"] == "timed_out" and mapping["operation"]["url"]
    assert mapping["operation"]["polls"] == 0  # never polled before the server's Retry-After
    assert not [s for s in mixed.observed.seen if s.path_qs.startswith("/operations/patch-absurd")]


# --- 429s ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(THROTTLED_TWICE))
def test_a_429_is_backed_off_then_the_patch_is_sent_again_and_lands(
    mixed: CliOutcome, name: str
) -> None:
    """`Retry-After` -1, 0 or none: exponential backoff with jitter (≥ 0.25 s, then ≥ 0.5 s),
    never retries in a spin; a positive one is waited out."""
    assert mixed.mapping(name)["result"] == "succeeded"
    patches = [s.at for s in mixed.observed.requests_for(name) if s.method == "PATCH"]
    assert len(patches) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(patches)]
    floors = [1.0, 1.0] if THROTTLED_TWICE[name] == "1" else [0.25, 0.5]
    assert all(gap >= floor - 0.02 for gap, floor in zip(gaps, floors, strict=True)), gaps


def test_the_backoff_after_a_429_is_jittered(mixed: CliOutcome) -> None:
    """Three scopes throttled alike did not back off in step: the pauses the run chose (its
    `throttled` log lines, to the millisecond) differ. Equal ones would be a backoff without
    jitter (by chance, about one in 60,000). The run's own figures, not the server's arrival
    times: on a loaded machine a starved event loop can send three retries in one turn."""
    pauses = [
        json.loads(line)
        for line in mixed.stderr.splitlines()
        if line.startswith("{") and '"event": "throttled"' in line
    ]
    without_wait = [p["pause_s"] for p in pauses if p.get("retry_after") is None]
    assert len(without_wait) >= 2 * (len(THROTTLED_TWICE) - 1), pauses
    first_pauses = {round(p, 3) for p in without_wait}
    assert len(first_pauses) > 1, first_pauses


def test_an_absurd_retry_after_on_a_429_pauses_its_own_scope_only_until_the_deadline(
    mixed: CliOutcome,
) -> None:
    assert mixed.report["calls"]["throttled"] >= 1 + 2 * len(THROTTLED_TWICE)
    # ASR never accepted that PATCH: it is reported unfinished, never succeeded or failed.
    mapping = mixed.mapping("throttled-for-ever")
    assert mapping["result"] in ("timed_out", "not_started")
    patches = [s for s in mixed.observed.requests_for("throttled-for-ever") if s.method == "PATCH"]
    assert len(patches) == 1  # paused (for 300 s, clamped) until the deadline


# --- operation status answers --------------------------------------------------------------

UNREADABLE_STATUSES = [
    "status-not-json",
    "status-without-status",
    "status-a-number",
    "status-nested-too-deep",
    "status-number-too-long",
    "status-302-empty",
    "status-302-with-body",
]


@pytest.mark.parametrize("name", [*UNREADABLE_STATUSES, "status-without-end"])
def test_a_status_unreadable_to_the_end_leaves_its_mapping_timed_out_with_its_url(
    mixed: CliOutcome, name: str
) -> None:
    mapping = mixed.mapping(name)
    assert mapping["result"] == "timed_out"  # a failed read is not the operation's failure
    assert mapping["operation"]["url"].startswith(f"{mixed.observed.base_url}/operations/{name}/")
    assert mapping["operation"]["polls"] >= 1


@pytest.mark.parametrize("name", UNREADABLE_STATUSES)
def test_an_unreadable_status_is_that_read_only_and_read_again(
    mixed: CliOutcome, name: str
) -> None:
    assert mixed.mapping(name)["operation"]["polls"] >= 2
    reads = [
        e
        for e in mixed.log_events()
        if e["event"] == "status_read_failed" and e.get("vault") == name
    ]
    assert len(reads) >= 2


@pytest.mark.parametrize("name", ["status-302-empty", "status-302-with-body"])
def test_a_redirected_status_is_an_unreadable_read_never_followed(
    mixed: CliOutcome, name: str
) -> None:
    errors = {
        e["error"].split(":")[0]
        for e in mixed.log_events()
        if e["event"] == "status_read_failed" and e.get("vault") == name
    }
    assert errors == {"redirect_not_followed"}
    assert not [s for s in mixed.observed.seen if s.path_qs.startswith("/redirected/")]


def test_a_status_unreadable_once_is_read_again_and_the_change_lands(mixed: CliOutcome) -> None:
    mapping = mixed.mapping("status-not-json-once")
    assert mapping["result"] == "succeeded"
    assert mapping["operation"]["polls"] == 2


def test_an_unknown_status_word_counts_as_running_until_the_deadline(mixed: CliOutcome) -> None:
    mapping = mixed.mapping("status-unknown-word")
    assert mapping["result"] == "timed_out" and mapping["operation"]["url"]
    assert mapping["operation"]["polls"] >= 1


def test_a_timed_out_mapping_reports_the_last_status_asr_answered(mixed: CliOutcome) -> None:
    assert mixed.mapping("status-unknown-word")["operation"]["status"] == "Exploded"


def test_a_failed_status_with_a_malformed_error_fails_its_mapping_with_a_generic_code(
    mixed: CliOutcome,
) -> None:
    mapping = mixed.mapping("status-failed-error-a-string")
    assert mapping["result"] == "failed"
    assert mapping["operation"]["error"]["code"] == "operation_failed"
    assert "Failed" in mapping["operation"]["error"]["message"]
