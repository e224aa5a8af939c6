"""The run's ARM proxy (orchestrator.arm.proxy), read from the environment once per run: the same
choice aiohttp's ``trust_env`` made for every request, credentials sent to the proxy and never
printed, and a session that reads neither the environment nor ``~/.netrc`` itself.

Exchanges go over real loopback sockets on a real loop (``asyncio.run``), not virtual time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.helpers import get_env_proxy_for_url
from structlog.testing import capture_logs
from yarl import URL

from orchestrator.app.runner import RunEnvironment, _transport
from orchestrator.arm.proxy import ProxyRoute, environment_proxies, proxy_for
from orchestrator.arm.transport import AiohttpTransport, RawAnswer
from orchestrator.errors import ArmTransportError
from orchestrator.secrets import Secrets

ARM = "https://management.azure.com"
PASSWORD = "pr0xy-pa$$word-never-printed"
QUOTED = "pr0xy-pa%24%24word-never-printed"  # as written in a URL
WITH_CREDENTIALS = f"http://alice:{QUOTED}@proxy.corp.example:3128"


# --- the choice, made once ------------------------------------------------------------------


def test_an_https_endpoint_goes_through_https_proxy() -> None:
    choice = proxy_for(ARM, {"HTTPS_PROXY": "http://proxy.corp.example:3128"})
    assert choice.route == ProxyRoute("http://proxy.corp.example:3128")


def test_no_proxy_naming_the_arm_host_sends_the_calls_direct() -> None:
    proxied = {"HTTPS_PROXY": "http://proxy.corp.example:3128"}
    for no_proxy in ("management.azure.com", ".azure.com", "azure.com", "example.org, azure.com"):
        assert proxy_for(ARM, {**proxied, "NO_PROXY": no_proxy}).route is None, no_proxy
    assert proxy_for(ARM, {**proxied, "no_proxy": "*"}).route is None
    # A host that merely ends with the same letters is not in the domain.
    assert proxy_for(ARM, {**proxied, "NO_PROXY": "ure.com"}).route is not None


def test_the_endpoint_s_scheme_picks_the_variable() -> None:
    environ = {"HTTP_PROXY": "http://plain:3128", "HTTPS_PROXY": "http://secure:3128"}
    assert proxy_for("http://127.0.0.1:8080", environ).route == ProxyRoute("http://plain:3128")
    assert proxy_for(ARM, {"HTTP_PROXY": "http://plain:3128"}).route is None


def test_lower_case_names_win_and_http_proxy_is_ignored_under_cgi() -> None:
    assert environment_proxies({"HTTPS_PROXY": "http://upper", "https_proxy": "http://lower"}) == {
        "https": "http://lower"
    }
    assert "http" not in environment_proxies({"HTTP_PROXY": "http://p", "REQUEST_METHOD": "GET"})


def test_an_https_proxy_is_ignored_as_aiohttp_ignores_it() -> None:
    choice = proxy_for(ARM, {"HTTPS_PROXY": f"https://alice:{QUOTED}@proxy.corp.example:443"})
    assert choice.route is None
    assert choice.ignored == "https://proxy.corp.example:443"


ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://p:3128"},
    {"https_proxy": "http://lower:3128", "HTTPS_PROXY": "http://upper:3128"},
    {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "management.azure.com"},
    {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".azure.com,localhost"},
    {"HTTPS_PROXY": "http://p:3128", "no_proxy": "elsewhere.example"},
    {"HTTPS_PROXY": WITH_CREDENTIALS},
    {"HTTP_PROXY": "http://p:3128"},
    {"ALL_PROXY": "http://p:3128"},
    {"HTTPS_PROXY": "http://p:3128", "https_proxy": ""},
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
@pytest.mark.parametrize("endpoint", [ARM, "http://127.0.0.1:8080"])
def test_the_choice_is_the_one_aiohttp_s_trust_env_makes(
    environ: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """aiohttp's own per-request lookup over the same environment (netrc left out: the run
    never reads it) names the same proxy and credentials."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    expected: tuple[str, str, str] | None = None
    with contextlib.suppress(LookupError):
        proxy, auth = get_env_proxy_for_url(URL(endpoint))
        expected = (str(proxy), auth.login if auth else "", auth.password if auth else "")
    route = proxy_for(endpoint, environ).route
    if route is None:
        assert expected is None
        return
    url = URL(route.url)
    assert expected == (str(url.with_user(None)), url.user or "", url.password or "")


# --- credentials: sent to the proxy, never printed ----------------------------------------------


def test_credentials_are_kept_for_the_proxy_but_never_shown() -> None:
    route = proxy_for(ARM, {"HTTPS_PROXY": WITH_CREDENTIALS}).route
    assert route is not None and route.has_credentials
    assert route.display == "http://proxy.corp.example:3128"
    for shown in (repr(route), route.display):
        assert PASSWORD not in shown and QUOTED not in shown


def test_the_run_logs_the_proxy_it_chose_without_its_password() -> None:
    env = RunEnvironment(Secrets(), io.StringIO(), {"HTTPS_PROXY": WITH_CREDENTIALS})

    async def build() -> str:
        transport = _transport(ARM, env)
        await transport.close()
        return repr(transport)

    with capture_logs() as events:
        shown = asyncio.run(build())
    assert [e["proxy"] for e in events if e["event"] == "arm_proxy"] == [
        "http://proxy.corp.example:3128"
    ]
    assert PASSWORD not in repr(events) + shown and QUOTED not in repr(events) + shown


# --- over loopback: the proxy gets the requests and the credentials; nothing else is read -------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _serve(
    handler: Handler, send: Callable[[int], Awaitable[list[RawAnswer | Exception]]]
) -> tuple[list[bytes], list[RawAnswer | Exception]]:
    """A loopback server running ``handler`` for each connection; ``send(port)`` on a real loop.
    The request heads the server read, and what each send returned or raised."""
    heads: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                heads.append(head)
                await handler(reader, writer)

    async def main() -> list[RawAnswer | Exception]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        try:
            return await send(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            for writer in writers:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            await server.wait_closed()

    return heads, asyncio.run(main())


async def _ok(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    await writer.drain()


async def _refuse_tunnel(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def _send_all(transport: AiohttpTransport, urls: list[str]) -> list[RawAnswer | Exception]:
    results: list[RawAnswer | Exception] = []
    try:
        for url in urls:
            try:
                headers = {"Authorization": "Bearer t0ken"}
                answer = await transport.send("GET", url, headers=headers, body=None, time_limit=9)
                results.append(answer)
            except ArmTransportError as exc:
                results.append(exc)
    finally:
        await transport.close()
    return results


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode("latin1"))


def test_plain_http_calls_go_to_the_proxy_with_its_credentials() -> None:
    """Each request reaches the proxy, in absolute form, with Proxy-Authorization."""
    urls = [f"http://arm.invalid/subscriptions/{n}?api-version=x" for n in range(3)]

    async def send(port: int) -> list[RawAnswer | Exception]:
        environ = {"HTTP_PROXY": f"http://alice:{QUOTED}@127.0.0.1:{port}"}
        return await _send_all(AiohttpTransport(proxy=proxy_for(urls[0], environ).route), urls)

    heads, results = _serve(_ok, send)
    assert [r.status for r in results if isinstance(r, RawAnswer)] == [200, 200, 200]
    assert [h.split(b"\r\n", 1)[0] for h in heads] == [f"GET {u} HTTP/1.1".encode() for u in urls]
    for head in heads:
        assert b"Proxy-Authorization: " + _basic("alice", PASSWORD) in head
        assert b"Authorization: Bearer t0ken" in head


def test_an_https_call_asks_the_proxy_for_a_tunnel_with_its_credentials() -> None:
    async def send(port: int) -> list[RawAnswer | Exception]:
        environ = {"HTTPS_PROXY": f"http://alice:{QUOTED}@127.0.0.1:{port}"}
        route = proxy_for(ARM, environ).route
        return await _send_all(AiohttpTransport(proxy=route), [f"{ARM}/subscriptions"])

    heads, results = _serve(_refuse_tunnel, send)
    (head,) = heads
    assert head.startswith(b"CONNECT management.azure.com:443 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: " + _basic("alice", PASSWORD) in head
    assert b"Bearer" not in head  # the token stays inside the tunnel
    assert isinstance(results[0], ArmTransportError)


def test_the_session_reads_neither_proxy_variables_nor_netrc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Given no proxy, calls go direct whatever the process environment says; a ``.netrc``
    entry for the host is not sent (nor does it clash with the bearer token)."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard: a proxy here would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def send(port: int) -> list[RawAnswer | Exception]:
        return await _send_all(AiohttpTransport(), [f"http://127.0.0.1:{port}/subscriptions"])

    heads, results = _serve(_ok, send)
    (head,) = heads
    assert head.startswith(b"GET /subscriptions HTTP/1.1\r\n")
    assert b"Authorization: Bearer t0ken" in head and b"netrc" not in head
    assert [r.status for r in results if isinstance(r, RawAnswer)] == [200]


def test_a_proxy_s_refusal_quotes_no_credentials_however_short() -> None:
    """aiohttp quotes the proxy URL it was given in a refused tunnel's error, and that error's
    text becomes a mapping's message: the URL it gets has no credentials, and a short password
    (below the length a secret from the environment needs) is scrubbed all the same."""

    async def send(port: int) -> list[RawAnswer | Exception]:
        environ = {"HTTPS_PROXY": f"http://bob:hunter2@127.0.0.1:{port}"}
        route = proxy_for(ARM, environ).route
        return await _send_all(AiohttpTransport(proxy=route), [f"{ARM}/subscriptions"])

    heads, results = _serve(_refuse_tunnel, send)
    (error,) = results
    assert isinstance(error, ArmTransportError)
    assert "hunter2" not in str(error)
    assert "bob" not in str(error)
    assert b"Proxy-Authorization: " + _basic("bob", "hunter2") in heads[0]
    secrets = Secrets()
    secrets.add_environment({"HTTPS_PROXY": "http://bob:hunter2@127.0.0.1:3128"})
    assert secrets.scrub("proxy said no to bob:hunter2, hunter2") == (
        "proxy said no to [redacted], [redacted]"
    )


def test_a_proxy_without_credentials_takes_netrc_s_as_azure_identity_does(
    tmp_path: Path,
) -> None:
    """aiohttp's trust_env (so azure-identity's token requests) takes a proxy's credentials from
    ~/.netrc when its URL has none: so do the ARM calls; the URL's own win; no file, none."""
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login carol password s3cret/pass\n")
    rc.chmod(0o600)
    environ = {"HTTPS_PROXY": "http://127.0.0.1:3128", "NETRC": str(rc)}
    route = proxy_for(ARM, environ).route
    assert route is not None
    assert route.url == "http://carol:s3cret%2Fpass@127.0.0.1:3128"
    assert route.display == "http://127.0.0.1:3128"
    own = proxy_for(ARM, {**environ, "HTTPS_PROXY": "http://dave:pw12@127.0.0.1:3128"}).route
    assert own is not None and own.url == "http://dave:pw12@127.0.0.1:3128"
    missing = proxy_for(ARM, {**environ, "NETRC": str(tmp_path / "none")}).route
    assert missing is not None and not missing.has_credentials
