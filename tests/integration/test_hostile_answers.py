"""Broken or hostile ARM answers, through the real CLI against a scripted loopback server.

One `HostileArm` serves a vault per misbehaviour (plus a well-behaved one) and one `apply` runs
over all of them: each test then reads its own vault's fate from that run. The affected vault
or mapping must end with a clear error (or, for a status it can never read, `timed_out` with
its URL at the deadline); the others must not notice; the run must not crash or hang. Runs
whose misbehaviour would touch every vault (discovery, a scope-wide 429 pause) run apart.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from cli_support import CliRun, cli_env
from loopback import ACCOUNT, SUBSCRIPTION, HostileArm, VaultScript, vault_name_of
from run_checks import RESULTS, design_exit_code
from scenarios import Outcomes, run_cli_process, run_jobs

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CLIENT_CAP = 8 * MIB  # orchestrator.arm.MAX_BODY_BYTES
DEADLINE_MINUTES = 0.05  # 3 s
SLACK_SECONDS = 4.0
GARBAGE_DEADLINE_MINUTES = 1.0  # never reached: the run ends when its operations do


# --- answers -------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def _fixed(text: str, status: int = 200, content_type: str = "text/html", **headers: str):
    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        return web.Response(status=status, text=text, content_type=content_type, headers=headers)

    return answer


def _body(make: Any, status: int = 200, **headers: str):
    """An answer whose JSON body is ``make(request, server)``."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        return _json(make(request, server), status, **headers)

    return answer


def _mapping_with(**changes: Any):
    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        mapping = server.mapping(vault_name_of(request))
        for key, value in changes.items():
            if value is ...:
                mapping.pop(key)
            else:
                mapping[key] = value
        return {"value": [mapping]}

    return _body(make)


def _properties_without(key: str):
    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        mapping = server.mapping(vault_name_of(request))
        del mapping["properties"][key]
        return {"value": [mapping]}

    return _body(make)


def _next_link(link: Any):
    """A page with the vault's mapping and ``nextLink``: a value, or made from the request."""

    def make(request: web.Request, server: HostileArm) -> dict[str, Any]:
        value = link(request, server) if callable(link) else link
        return {"value": [server.mapping(vault_name_of(request))], "nextLink": value}

    return _body(make)


def _alternating(request: web.Request, server: HostileArm) -> str:
    """Page A links to page B, B back to A: a loop two pages long."""
    url = request.url.with_query({"api-version": "2021-12-01"})
    return str(url if "$skiptoken" in request.query else url.update_query({"$skiptoken": "b"}))


def _streamed(total: int | None, *, prefix: bytes = b'{"value": [], "pad": "'):
    """A 200 JSON-looking body of ``total`` bytes (None: never ends); counts what it sent."""
    sent: dict[str, int] = {"bytes": 0}

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"x" * (256 * 1024)
        await response.write(prefix)
        try:
            while total is None or sent["bytes"] < total:
                await response.write(chunk)
                sent["bytes"] += len(chunk)
        except (ConnectionError, RuntimeError):
            return response  # the client stopped reading: what an endless body must cause
        await response.write(b'"}')
        await response.write_eof()
        return response

    answer.sent = sent  # type: ignore[attr-defined]
    return answer


def _accepted_with(**headers: str):
    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        status_url = server.status_url(vault_name_of(request))
        return web.Response(status=202, headers={"Azure-AsyncOperation": status_url, **headers})

    return answer


def _first_then(first: Any, then: Any):
    """``first`` for the first request, ``then`` for every later one."""
    calls = {"n": 0}

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        calls["n"] += 1
        return await (first if calls["n"] == 1 else then)(request, server)

    return answer


USERINFO_LINK = _next_link(
    lambda request, server: str(request.url.with_user("admin").with_password("hunter2"))
)
ACCEPTED = _accepted_with(**{"Retry-After": "0"})
SUCCEEDED = _body(lambda request, server: {"status": "Succeeded"})


def mixed_scripts() -> dict[str, VaultScript]:
    """A vault per misbehaviour, with fresh answer state (counters, first-call flags)."""
    return {
        "well-behaved": VaultScript(),
        # listings
        "listing-not-json": VaultScript(listing=_fixed("<html><body>Bad gateway</body></html>")),
        "listing-without-value": VaultScript(listing=_body(lambda r, s: {"items": []})),
        "listing-value-not-a-list": VaultScript(listing=_body(lambda r, s: {"value": {"id": "x"}})),
        "listing-a-json-array": VaultScript(listing=_body(lambda r, s: [1, 2, 3])),
        "mapping-properties-a-string": VaultScript(listing=_mapping_with(properties="Paired")),
        "mapping-without-id": VaultScript(listing=_mapping_with(id=...)),
        "mapping-id-a-number": VaultScript(listing=_mapping_with(id=12345)),
        "mapping-of-another-vault": VaultScript(
            listing=_mapping_with(
                id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/x/providers/"
                "Microsoft.RecoveryServices/vaults/elsewhere/replicationFabrics/f/"
                "replicationProtectionContainers/c/replicationProtectionContainerMappings/m1"
            )
        ),
        "mapping-without-state": VaultScript(listing=_properties_without("state")),
        "listing-of-9-mib": VaultScript(listing=_streamed(9 * MIB)),
        "listing-without-end": VaultScript(listing=_streamed(None)),
        "next-link-to-itself": VaultScript(listing=_next_link(lambda r, s: str(r.url))),
        "next-link-loop-of-two": VaultScript(listing=_next_link(_alternating)),
        "next-link-a-number": VaultScript(listing=_next_link(42)),
        "next-link-with-userinfo": VaultScript(listing=USERINFO_LINK),
        # PATCH answers
        "patch-202-without-status-url": VaultScript(patch=_fixed("", 202)),
        "patch-400-not-json": VaultScript(patch=_fixed("<h1>Bad Request</h1>", 400)),
        "patch-200-not-json": VaultScript(patch=_fixed("<h1>OK</h1>", 200)),
        "patch-absurd-retry-after": VaultScript(patch=_accepted_with(**{"Retry-After": "9" * 30})),
        "patch-503-garbage-retry-after-once": VaultScript(
            patch=_first_then(
                _fixed("", 503, **{"Retry-After": "Fri, 99 Foo 2026 25:61:00"}), ACCEPTED
            )
        ),
        # operation status answers
        "status-not-json": VaultScript(status=_fixed("<html>oops</html>")),
        "status-without-status": VaultScript(status=_body(lambda r, s: {"name": "op"})),
        "status-a-number": VaultScript(status=_body(lambda r, s: {"status": 42})),
        "status-unknown-word": VaultScript(status=_body(lambda r, s: {"status": "Exploded"})),
        "status-without-end": VaultScript(status=_streamed(None, prefix=b'{"status": "')),
        "status-failed-error-a-string": VaultScript(
            status=_body(lambda r, s: {"status": "Failed", "error": "boom"})
        ),
    }


def garbage_retry_after_scripts() -> dict[str, VaultScript]:
    """Answers after which the poller falls back to its own wait (5 s) before it reads again:
    a ``Retry-After`` that means nothing, a status it could not read. They run apart from
    `mixed_scripts`' short deadline."""
    return {
        "well-behaved": VaultScript(),
        "patch-garbage-retry-after": VaultScript(
            patch=_accepted_with(**{"Retry-After": "soon-ish"})
        ),
        "status-garbage-retry-after-once": VaultScript(
            status=_first_then(
                _body(lambda r, s: {"status": "InProgress"}, **{"Retry-After": "NaN"}), SUCCEEDED
            )
        ),
        "status-not-json-once": VaultScript(
            status=_first_then(_fixed("<html>busy</html>"), SUCCEEDED)
        ),
    }


DISCOVERY_WITH_USERINFO = HostileArm(
    {"well-behaved": VaultScript()},
    vault_list=_body(
        lambda request, server: {
            "value": [{"id": server.vault_id("well-behaved")}],
            "nextLink": str(request.url.with_user("admin").with_password("hunter2")),
        }
    ),
)
SCOPE_PAUSED = HostileArm(
    {
        "throttled-for-ever": VaultScript(
            patch=_fixed("", 429, content_type="application/json", **{"Retry-After": "1e9"})
        ),
        "well-behaved": VaultScript(),
    }
)


# --- running -------------------------------------------------------------------------------


async def _run_against(
    directory: Path, *, server: HostileArm, config: dict[str, Any]
) -> tuple[HostileArm, CliRun]:
    """``apply`` against ``server`` (its vaults, unless ``config`` says otherwise)."""
    await server.start()
    try:
        keys = {
            "action": "enable",
            "automation_account": ACCOUNT,
            "credential": "managed_identity",
            "arm_endpoint": server.base_url,
            "timeout_minutes": DEADLINE_MINUTES,
            "vaults": [server.vault_id(name) for name in server.vaults],
            **config,
        }
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(keys, sort_keys=False))
        report = directory / "report.json"
        env = cli_env(
            None, IDENTITY_ENDPOINT=server.token_endpoint, IDENTITY_HEADER=server.identity_header
        )
        argv = ["apply", str(path), "--report", str(report), "--log-format", "json"]
        code, out, err = await run_cli_process(argv, env)
    finally:
        await server.stop()
    loaded = json.loads(report.read_text()) if report.exists() else None
    return server, CliRun(code, out, err, loaded)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    jobs = {
        "mixed": functools.partial(_run_against, server=HostileArm(mixed_scripts()), config={}),
        "discovery": functools.partial(
            _run_against,
            server=DISCOVERY_WITH_USERINFO,
            config={"vaults": [], "subscriptions": [{"id": SUBSCRIPTION}]},
        ),
        "garbage_retry_after": functools.partial(
            _run_against,
            server=HostileArm(garbage_retry_after_scripts()),
            config={"timeout_minutes": GARBAGE_DEADLINE_MINUTES},
        ),
        "scope_paused": functools.partial(
            _run_against, server=SCOPE_PAUSED, config={"timeout_minutes": 0.05}
        ),
    }
    return run_jobs(tmp_path_factory.mktemp("hostile"), jobs)


@pytest.fixture(scope="module")
def mixed(outcomes: Outcomes) -> tuple[HostileArm, CliRun]:
    server, run = outcomes["mixed"]
    assert run.report is not None, run.stderr[-3000:]
    return server, run


def _vault(mixed: tuple[HostileArm, CliRun], name: str) -> dict[str, Any]:
    server, run = mixed
    assert run.report is not None
    wanted = server.vault_id(name).lower()
    (vault,) = [v for v in run.report["vaults"] if v["id"].lower() == wanted]
    return vault


def _mapping(mixed: tuple[HostileArm, CliRun], name: str) -> dict[str, Any]:
    (mapping,) = _vault(mixed, name)["mappings"]
    return mapping


# --- the run as a whole --------------------------------------------------------------------


def test_a_run_full_of_hostile_answers_ends_by_its_deadline_with_a_whole_report(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    server, run = mixed
    assert run.report is not None
    assert run.report["duration_s"] < DEADLINE_MINUTES * 60 + SLACK_SECONDS
    assert run.exit_code == run.report["exit_code"] == design_exit_code(run.report) == 3
    assert {v["id"].lower() for v in run.report["vaults"]} == {
        server.vault_id(name).lower() for name in server.vaults
    }
    totals, mappings = (
        run.report["totals"],
        [m for v in run.report["vaults"] for m in v["mappings"]],
    )
    assert totals["mappings"] == len(mappings) == sum(totals[r] for r in RESULTS)
    assert all(m["result"] in RESULTS for m in mappings)


def test_the_well_behaved_vault_succeeds_among_hostile_ones(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    assert _vault(mixed, "well-behaved")["status"] == "ok"
    assert _mapping(mixed, "well-behaved")["result"] == "succeeded"


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
    "next-link-to-itself": "paging did not end",
    "next-link-loop-of-two": "paging did not end",
    "next-link-a-number": "nextLink",
}


@pytest.mark.parametrize("name", list(BROKEN_LISTINGS))
def test_a_broken_listing_fails_its_vault_with_invalid_response(
    mixed: tuple[HostileArm, CliRun], name: str
) -> None:
    vault = _vault(mixed, name)
    assert vault["status"] == "error"
    assert vault["error"]["code"] == "invalid_response"
    assert BROKEN_LISTINGS[name] in vault["error"]["message"]


@pytest.mark.parametrize("name", ["next-link-to-itself", "next-link-loop-of-two"])
def test_a_looping_next_link_is_read_once_per_page_and_its_mappings_still_handled(
    mixed: tuple[HostileArm, CliRun], name: str
) -> None:
    server, _ = mixed
    pages = [s for s in server.requests_for(name) if "ContainerMappings?" in s.path_qs]
    assert len(pages) == (1 if name == "next-link-to-itself" else 2)
    assert _mapping(mixed, name)["result"] == "succeeded"  # listed once, though pages repeat


def test_an_endless_listing_is_cut_off_after_the_body_cap(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    server, _ = mixed
    sent = server.vaults["listing-without-end"].listing.sent["bytes"]  # type: ignore[union-attr]
    # The client stops reading past 8 MiB; what more went out sat in socket buffers.
    assert CLIENT_CAP <= sent <= CLIENT_CAP + 16 * MIB


def test_a_mapping_without_a_state_is_skipped_not_paired(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    mapping = _mapping(mixed, "mapping-without-state")
    assert (mapping["result"], mapping["skip_reason"]) == ("skipped", "not_paired")


def test_a_next_link_with_userinfo_fails_its_vault_as_untrusted_url(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    vault = _vault(mixed, "next-link-with-userinfo")
    assert vault["error"]["code"] == "untrusted_url"
    assert "hunter2" not in json.dumps(vault)


def test_a_discovery_next_link_with_userinfo_ends_in_a_report_not_a_crash(
    outcomes: Outcomes,
) -> None:
    _, run = outcomes["discovery"]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.report is not None and run.exit_code == run.report["exit_code"] == 1
    (subscription,) = run.report["subscriptions"]
    assert subscription["error"]["code"] == "untrusted_url"


# --- PATCH answers -------------------------------------------------------------------------

REFUSED_PATCHES = {
    "patch-202-without-status-url": ("invalid_response", "status URL"),
    "patch-400-not-json": ("http_400", "400"),
    "patch-200-not-json": ("invalid_response", "not JSON"),
}


@pytest.mark.parametrize("name", list(REFUSED_PATCHES))
def test_a_broken_patch_answer_fails_its_mapping_with_a_clear_error(
    mixed: tuple[HostileArm, CliRun], name: str
) -> None:
    mapping = _mapping(mixed, name)
    code, fragment = REFUSED_PATCHES[name]
    assert mapping["result"] == "failed"
    assert mapping["operation"]["error"]["code"] == code
    assert fragment in mapping["operation"]["error"]["message"]


def test_a_garbage_retry_after_on_a_503_is_ignored_and_the_patch_retried(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    server, _ = mixed
    assert _mapping(mixed, "patch-503-garbage-retry-after-once")["result"] == "succeeded"
    patches = [
        s for s in server.requests_for("patch-503-garbage-retry-after-once") if s.method == "PATCH"
    ]
    assert len(patches) == 2


@pytest.mark.parametrize("name", ["patch-garbage-retry-after", "status-garbage-retry-after-once"])
def test_a_garbage_retry_after_on_an_accepted_operation_is_ignored_and_the_change_lands(
    outcomes: Outcomes, name: str
) -> None:
    server, run = outcomes["garbage_retry_after"]
    assert run.report is not None, run.stderr[-2000:]
    assert run.exit_code == 0 and run.report["duration_s"] < GARBAGE_DEADLINE_MINUTES * 60
    assert _mapping((server, run), name)["result"] == "succeeded"


def test_an_absurd_retry_after_is_honoured_until_the_deadline_without_a_hang(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    server, _ = mixed
    mapping = _mapping(mixed, "patch-absurd-retry-after")
    assert mapping["result"] == "timed_out" and mapping["operation"]["url"]
    assert mapping["operation"]["polls"] == 0  # never polled before the server's Retry-After
    assert not [s for s in server.seen if s.path_qs.startswith("/operations/patch-absurd")]


# --- operation status answers --------------------------------------------------------------

UNREADABLE_STATUSES = ["status-not-json", "status-without-status", "status-a-number"]


@pytest.mark.parametrize("name", [*UNREADABLE_STATUSES, "status-without-end"])
def test_a_status_unreadable_to_the_end_leaves_its_mapping_timed_out_with_its_url(
    mixed: tuple[HostileArm, CliRun], name: str
) -> None:
    mapping = _mapping(mixed, name)
    assert mapping["result"] == "timed_out"  # a failed read is not the operation's failure
    assert mapping["operation"]["url"].startswith(mixed[0].base_url + "/operations/" + name)
    assert mapping["operation"]["polls"] >= 1


def test_a_status_unreadable_once_is_read_again_and_the_change_lands(outcomes: Outcomes) -> None:
    server, run = outcomes["garbage_retry_after"]
    mapping = _mapping((server, run), "status-not-json-once")
    assert mapping["result"] == "succeeded"
    assert mapping["operation"]["polls"] == 2


def test_an_unknown_status_word_counts_as_running_until_the_deadline(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    mapping = _mapping(mixed, "status-unknown-word")
    assert mapping["result"] == "timed_out" and mapping["operation"]["url"]
    assert mapping["operation"]["polls"] >= 1


def test_a_timed_out_mapping_reports_the_last_status_asr_answered(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    assert _mapping(mixed, "status-unknown-word")["operation"]["status"] == "Exploded"


def test_a_failed_status_with_a_malformed_error_fails_its_mapping_with_a_generic_code(
    mixed: tuple[HostileArm, CliRun],
) -> None:
    mapping = _mapping(mixed, "status-failed-error-a-string")
    assert mapping["result"] == "failed"
    assert mapping["operation"]["error"]["code"] == "operation_failed"
    assert "Failed" in mapping["operation"]["error"]["message"]


# --- a scope-wide pause --------------------------------------------------------------------


def test_an_absurd_retry_after_on_a_429_pauses_the_scope_only_until_the_deadline(
    outcomes: Outcomes,
) -> None:
    server, run = outcomes["scope_paused"]
    assert run.report is not None, run.stderr[-2000:]
    assert run.report["duration_s"] < 0.05 * 60 + SLACK_SECONDS
    assert run.exit_code == run.report["exit_code"] == 3
    assert run.report["calls"]["throttled"] >= 1
    # ASR never accepted that PATCH: it is reported unfinished, never succeeded or failed.
    assert _mapping((server, run), "throttled-for-ever")["result"] in ("timed_out", "not_started")
