"""Where the bearer token may go (orchestrator.arm.origin): the configured endpoint's scheme,
host and port, without userinfo; every server-supplied URL passes this check before use."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.arm.origin import Origin, TrustedOrigin
from orchestrator.errors import UntrustedUrlError

ENDPOINT = "http://127.0.0.1:9"
LOCAL = TrustedOrigin(ENDPOINT)
AZURE = TrustedOrigin("https://management.azure.com")


@pytest.mark.parametrize(
    "url",
    [
        f"{ENDPOINT}/subscriptions/s/x?api-version=2021-12-01",
        "HTTP://127.0.0.1:9/x",
        ENDPOINT,
        f"{ENDPOINT}/",
        f"{ENDPOINT}?a=b",
    ],
)
def test_urls_on_the_configured_origin_are_trusted(url: str) -> None:
    LOCAL.check(url)


def test_a_default_port_matches_an_endpoint_that_omits_it() -> None:
    AZURE.check("https://MANAGEMENT.azure.com:443/subscriptions?api-version=1")
    AZURE.check("https://management.azure.com/subscriptions")
    with pytest.raises(UntrustedUrlError):
        AZURE.check("http://management.azure.com/subscriptions")
    with pytest.raises(UntrustedUrlError):
        AZURE.check("https://management.azure.com:8443/subscriptions")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:9/x",  # another host
        "http://127.0.0.1:10/x",  # another port
        "http://127.0.0.1/x",  # the scheme's default port, not the endpoint's
        "https://127.0.0.1:9/x",  # another scheme
        "http://127.0.0.1.evil.test:9/x",  # a look-alike host
        "http://127.0.0.1:90/x",  # a port the endpoint's is a prefix of
        "http://user@127.0.0.1:9/x",  # credentials in the URL: aiohttp would not send ours
        "http://user:password@127.0.0.1:9/x",
        "http://127.0.0.1:9@evil.test/x",  # the endpoint as userinfo of another host
        "http://127.0.0.1:99999/x",  # no valid port at all
        "/subscriptions/x",  # relative: no origin at all
        "",
    ],
)
def test_urls_off_the_configured_origin_are_refused(url: str) -> None:
    with pytest.raises(UntrustedUrlError) as raised:
        LOCAL.check(url)
    assert raised.value.code == "untrusted_url"
    assert "http://127.0.0.1:9" in raised.value.message  # names where tokens may go


def test_a_fragment_does_not_change_where_a_url_goes() -> None:
    LOCAL.check("http://127.0.0.1:9#@evil.test/x")  # the host is 127.0.0.1; '#…' is not sent


@pytest.mark.parametrize(
    "url", ["https://[evil/x", "http://127.0.0.1:9[/x", "http://]/", "http://127.0.0.1:9]"]
)
def test_a_url_that_cannot_be_parsed_is_refused_as_untrusted(url: str) -> None:
    with pytest.raises(UntrustedUrlError):
        LOCAL.check(url)


def test_a_refused_urls_query_and_userinfo_are_left_out_of_the_error() -> None:
    url = "http://admin:hunter2@127.0.0.2:9/op?sig=SECRET"
    with pytest.raises(UntrustedUrlError) as raised:
        LOCAL.check(url)
    assert "SECRET" not in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert "127.0.0.2:9/op" in str(raised.value)
    assert raised.value.url == url


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Management.Azure.com/x", Origin("https", "management.azure.com", 443)),
        ("HTTP://localhost/x", Origin("http", "localhost", 80)),
        ("http://[::1]:5000/x", Origin("http", "::1", 5000)),
        ("http://h:notaport/x", Origin("http", "h", 80)),
    ],
)
def test_an_origin_is_scheme_host_and_port_with_the_default_filled_in(
    url: str, origin: Origin
) -> None:
    assert Origin.of(url) == origin


def test_an_origin_reads_as_a_url() -> None:
    assert str(Origin("https", "management.azure.com", 443)) == "https://management.azure.com:443"
    assert repr(AZURE) == "<TrustedOrigin https://management.azure.com:443>"


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:9", "https://management.azure.com", "http://[::1]:5000", "https://a:b@h"],
)
@given(
    tail=st.text(alphabet="/?#@:.abch1279%-", max_size=24),
    head=st.sampled_from(["", "http://", "https://", "HTTP://", "http://x@"]),
)
def test_the_fast_path_decides_exactly_as_a_full_parse(endpoint: str, head: str, tail: str) -> None:
    """Every URL is trusted exactly when its parsed origin is the endpoint's and it has no
    userinfo, whether the check took the prefix shortcut or parsed it. (Brackets, which
    urlsplit cannot always parse, are the test above's.)"""
    trusted = TrustedOrigin(endpoint)
    url = (head + tail) if head else (endpoint + tail)
    expected = Origin.of(url) == Origin.of(endpoint) and urlsplit(url).username is None
    try:
        trusted.check(url)
    except UntrustedUrlError:
        accepted = False
    else:
        accepted = True
    assert accepted is expected
