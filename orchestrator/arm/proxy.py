"""The proxy for the run's ARM calls: read from the environment once per run, not per request.

The contract honours ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` for ARM calls, as
azure-identity (aiohttp's ``trust_env``) honours them for tokens. aiohttp's ``trust_env`` reads
them again for every request, in a thread, and consults ``~/.netrc`` in another: two thread hops
per request. Every ARM call goes to one origin (:mod:`orchestrator.arm.origin` refuses any
other), so :func:`proxy_for` decides once, by the same rules, for the run's endpoint:

- the variable of the endpoint's scheme (``https_proxy`` for ``https://``, ``http_proxy`` for
  ``http://``), lower case before upper case, ``HTTP_PROXY`` ignored under CGI
  (``REQUEST_METHOD`` set), as :func:`urllib.request.getproxies_environment` reads them;
  ``ALL_PROXY`` is not among them (aiohttp ignores it too);
- no proxy when ``NO_PROXY`` names the endpoint's host (``*``, the host, or a domain it is in),
  as :func:`urllib.request.proxy_bypass_environment` matches it;
- an ``https://`` proxy is not supported by aiohttp's ``trust_env``, which ignores it: so here.

Credentials in the proxy's URL (``http://user:password@proxy:3128``) become the
``Proxy-Authorization`` aiohttp sends the proxy; they never appear in `repr`, `display` or a log
line, and :meth:`orchestrator.secrets.Secrets.add_environment` scrubs the password. A proxy URL
without credentials takes those ``$NETRC`` (or ``~/.netrc``) holds for the proxy's host, as
aiohttp's ``trust_env`` (and so azure-identity's token requests) does; ``.netrc`` is never read
for the ARM host itself (ARM calls carry a bearer token). Only the environment is read, never a
platform's system proxy settings (the Windows registry, macOS System Configuration).
"""

from __future__ import annotations

import netrc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

_SUPPORTED: Final = frozenset({"http"})  # proxy schemes aiohttp's trust_env accepts for ARM


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """The proxy ARM calls go through: its URL, credentials included for aiohttp to send."""

    url: str = field(repr=False)  # may carry user:password: never print it

    @property
    def display(self) -> str:
        """The proxy's URL without its credentials: for logs."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    @property
    def has_credentials(self) -> bool:
        return "@" in urlsplit(self.url).netloc

    def __repr__(self) -> str:
        auth = " with credentials" if self.has_credentials else ""
        return f"<ProxyRoute {self.display}{auth}>"


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """What the environment says for one endpoint: a route, or why there is none."""

    route: ProxyRoute | None
    ignored: str | None = None  # a proxy named but unusable (an https:// one): its display


def proxy_for(endpoint: str, environ: Mapping[str, str]) -> ProxyChoice:
    """The proxy ``environ`` names for ARM calls to ``endpoint`` (see the module's rules)."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    proxies = environment_proxies(environ)
    named = proxies.get(scheme)
    if named is None or bypassed(parts.hostname or "", proxies.get("no")):
        return ProxyChoice(None)
    route = ProxyRoute(named if "://" in named else f"http://{named}")
    if urlsplit(route.url).scheme.lower() not in _SUPPORTED:
        return ProxyChoice(None, ignored=route.display)
    return ProxyChoice(route if route.has_credentials else _netrc_credentials(route, environ))


def _netrc_credentials(route: ProxyRoute, environ: Mapping[str, str]) -> ProxyRoute:
    """``route`` with the credentials ``$NETRC`` (or ``~/.netrc``) holds for the proxy's host,
    as aiohttp's ``trust_env`` and so azure-identity's token requests take them; else as it is.
    An unreadable or malformed file gives none (aiohttp's rule too)."""
    parts = urlsplit(route.url)
    home = environ.get("HOME")
    path = environ.get("NETRC") or str((Path(home) if home else Path.home()) / ".netrc")
    try:
        entry = netrc.netrc(path).authenticators(parts.hostname or "")
    except (OSError, netrc.NetrcParseError):
        return route
    if entry is None or not entry[0] or not entry[2]:
        return route
    userinfo = f"{quote(entry[0], safe='')}:{quote(entry[2], safe='')}"
    return ProxyRoute(urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}")))


def environment_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """``<scheme>_proxy`` variables by scheme (``no`` for ``no_proxy``), as urllib reads them.

    The same rules as :func:`urllib.request.getproxies_environment`, over a given mapping:
    lower-case names win over upper-case ones, an empty lower-case value unsets, and
    ``HTTP_PROXY`` in upper case is ignored when ``REQUEST_METHOD`` is set (CVE-2016-1000110).
    """
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if value and lowered.endswith("_proxy"):
            proxies[lowered[:-6]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy"):
            scheme = name.lower()[:-6]
            if value:
                proxies[scheme] = value
            else:
                proxies.pop(scheme, None)
    return proxies


def bypassed(host: str, no_proxy: str | None) -> bool:
    """Whether ``no_proxy`` (``NO_PROXY``'s value) names ``host``, as urllib matches them.

    :func:`urllib.request.proxy_bypass_environment`'s rules, for a host without a port: ``*``
    matches every host; each comma-separated entry, without leading dots, matches that host and
    every host in that domain, case-insensitively.
    """
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if name and (host == name or host.endswith(f".{name}")):
            return True
    return False
