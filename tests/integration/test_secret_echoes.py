"""No token, Authorization value, identity header or secret from the environment reaches a log
line, the report or stdout — even when a server echoes them back.

Full applies at ``--log-level debug`` against a `HostileArm` that issues 1 s tokens (so several
are issued) and echoes what it was sent: ``Bearer <token>``, the identity header and the
``AZURE_CLIENT_SECRET`` of the CLI's environment in a 400's message, a bare token in a PATCH's
500 and in a status read's 500; one PATCH is throttled. Once with JSON logs and the report in a
file, once with console logs and the report on stdout. A third run's token endpoint keeps
failing (500), echoing the identity header it was sent: azure-identity tries it a few times and
gives up, exit 4 (that run also proves a failing token endpoint costs seconds and sends nothing
to ARM). Every token the server issued is searched for, whole and by its random part.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypedDict

import pytest
from aiohttp import web
from hostile_runs import CliOutcome, Job, Runs, against, declare, runs_of
from loopback import HOSTILE_IDENTITY_HEADER, HostileArm, VaultScript, accepted
from scripted import first_then

pytestmark = pytest.mark.integration

CLIENT_SECRET = "s3cr3t-client-value-7Q~xv9"
TALK_SECONDS = 3.0  # the talkative runs' deadline
REDACTED = "[redacted]"


def _echo(status: int, message: Any) -> Any:
    """An ARM error whose message is ``message(request)``: what the server was sent."""

    async def answer(request: web.Request, server: HostileArm) -> web.StreamResponse:
        await request.read()
        body = {"error": {"code": f"Echo{status}", "message": message(request)}}
        return web.json_response(body, status=status)

    return answer


def _bare_token(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


ECHO_400 = _echo(
    400,
    lambda r: (
        f"refused {r.headers.get('Authorization')} with identity header "
        f"{HOSTILE_IDENTITY_HEADER} and client secret {CLIENT_SECRET}"
    ),
)
ECHO_500 = _echo(500, lambda r: f"token {_bare_token(r)} could not be processed")


async def _echoing_token_endpoint(request: web.Request, server: HostileArm) -> web.StreamResponse:
    """Fails every request, echoing the identity header it was sent."""
    header = request.headers.get("X-IDENTITY-HEADER")
    body = {
        "error": "server_error",
        "error_description": f"X-IDENTITY-HEADER {header} could not be checked",
    }
    return web.json_response(body, status=500)


def _talkative() -> HostileArm:
    return HostileArm(
        {
            "well-behaved": VaultScript(),
            "echo-400": VaultScript(patch=ECHO_400),
            "echo-500": VaultScript(patch=ECHO_500),
            "echo-in-status": VaultScript(status=ECHO_500),
            "throttled-once": VaultScript(
                patch=first_then(_echo(429, lambda r: "slow down"), accepted)
            ),
        },
        token_lifetime=1,
    )


class _Talk(TypedDict):
    """What the talkative runs share, for `against`."""

    config: Mapping[str, Any]
    env: Mapping[str, str]
    log_level: str


def _jobs() -> dict[str, Job]:
    talk: _Talk = {
        "config": {"timeout_minutes": TALK_SECONDS / 60},
        "env": {"AZURE_CLIENT_SECRET": CLIENT_SECRET},
        "log_level": "debug",
    }
    return {
        "json": functools.partial(against, server=_talkative(), log_format="json", **talk),
        "console": functools.partial(
            against, server=_talkative(), log_format="console", report_to_file=False, **talk
        ),
        "identity_echo": functools.partial(
            against,
            server=HostileArm({"well-behaved": VaultScript()}, token=_echoing_token_endpoint),
            log_level="debug",
        ),
    }


declare("secrets", _jobs, json=TALK_SECONDS, console=TALK_SECONDS, identity_echo=5.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return runs_of(tmp_path_factory, "secrets")


def _secrets(run: CliOutcome) -> list[str]:
    tokens = run.observed.tokens
    return [
        HOSTILE_IDENTITY_HEADER,
        CLIENT_SECRET,
        *tokens,
        *(f"Bearer {token}" for token in tokens),
        *(token.split(".", 1)[1] for token in tokens),  # the random part alone
    ]


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_full_apply_writes_no_token_or_header_value_anywhere(runs: Runs, log_format: str) -> None:
    run = runs.cli(log_format)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert len(run.observed.tokens) >= 2  # the run renewed its token
    assert run.report["calls"]["throttled"] >= 1
    assert run.stderr.count("\n") > 20  # debug logging really talked
    written = run.everything_written()
    assert ("report file" in written) == (log_format == "json")  # console: report on stdout
    for where, text in written.items():
        for secret in _secrets(run):
            assert secret not in text, f"a secret reached {where}"


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize("vault", ["echo-400", "echo-500"])
def test_a_secret_echoed_in_an_error_is_redacted_in_the_report(
    runs: Runs, log_format: str, vault: str
) -> None:
    """The echo did reach the run (the mapping's error is the echo: failed on a 400; a 500 may
    have been acted on, so timed_out); what it carried did not get out."""
    run = runs.cli(log_format)
    mapping = run.mapping(vault)
    assert mapping["result"] == ("failed" if vault == "echo-400" else "timed_out")
    message = mapping["operation"]["error"]["message"]
    assert REDACTED in message, message
    if vault == "echo-400":
        assert message.count(REDACTED) >= 3  # the token, the identity header, the client secret


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_token_echoed_in_a_status_read_is_redacted_in_the_logs(
    runs: Runs, log_format: str
) -> None:
    run = runs.cli(log_format)
    lines = [
        line
        for line in run.stderr.splitlines()
        if "status_read_failed" in line and "echo-in-status" in line
    ]
    assert lines and all(f"token {REDACTED} could not be processed" in line for line in lines)
    assert run.mapping("echo-in-status")["result"] == "timed_out"


def test_an_identity_header_echoed_by_the_token_endpoint_is_not_written_anywhere(
    runs: Runs,
) -> None:
    run = runs.cli("identity_echo")
    assert run.exit_code == run.report["exit_code"] == 4, run.stderr[-2000:]
    assert run.report["error"]["code"] == "authentication_failed"
    for where, text in run.everything_written().items():
        assert HOSTILE_IDENTITY_HEADER not in text, f"the identity header reached {where}"
    # The endpoint's echo did reach the run's error, with the value blanked out.
    assert f"X-IDENTITY-HEADER {REDACTED}" in run.report["error"]["message"]


def test_a_token_endpoint_that_keeps_failing_exits_4_quickly_and_sends_nothing(
    runs: Runs,
) -> None:
    run = runs.cli("identity_echo")
    assert run.exit_code == 4 and run.report["outcome"] == "unauthenticated"
    assert run.report["duration_s"] < 15
    assert "Traceback" not in run.stderr
    assert run.observed.seen == []  # no ARM call without a token
    # azure-identity tries the endpoint a few times, then gives up: it does not hammer it.
    assert 1 <= len(run.observed.notes["token_requests"]) <= 5
