"""Where the bearer token may go: the configured ARM endpoint's scheme, host and port, only.

A ``nextLink``, ``Azure-AsyncOperation`` or ``Location`` URL comes from the server; one on any
other origin (another host or port, a look-alike host, a ``user:password@``) is refused before
anything is sent to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from orchestrator.errors import UntrustedUrlError

# What may follow the endpoint's origin in a URL for its authority to end there: a path, a query
# or nothing. Anything else (a port, a longer look-alike host, a '#') gets the full check.
_AFTER_ORIGIN: Final = frozenset({"", "/", "?"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port: the only place the bearer token may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        default = 443 if scheme == "https" else 80
        return cls(scheme, (parts.hostname or "").lower(), port if port is not None else default)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class TrustedOrigin:
    """The configured endpoint's origin, and the check every URL passes before it is used."""

    __slots__ = ("_origin", "_prefix")

    def __init__(self, endpoint: str) -> None:
        self._origin = Origin.of(endpoint)
        self._prefix = _origin_prefix(endpoint)

    def __repr__(self) -> str:
        return f"<TrustedOrigin {self._origin}>"

    def check(self, url: str) -> None:
        """Raise :class:`UntrustedUrlError` unless ``url`` is on this origin, without userinfo."""
        prefix = self._prefix
        if (
            prefix
            and url.startswith(prefix)
            and url[len(prefix) : len(prefix) + 1] in _AFTER_ORIGIN
        ):
            # The authority ends where the endpoint's does, so it is the endpoint's, without
            # userinfo: no parse for the client's own URLs and ARM's links (every request).
            return
        try:
            parts = urlsplit(url)
            trusted = Origin.of(url) == self._origin and parts.username is None
        except ValueError:  # a URL Python cannot even parse (an unbalanced '[') is no one's
            trusted = False
        if not trusted:
            raise UntrustedUrlError(url, str(self._origin))


def _origin_prefix(endpoint: str) -> str | None:
    """``scheme://host[:port]`` exactly as the endpoint spells it, for `check_origin`'s fast path.

    None when the endpoint is unusual (not http(s), no host, userinfo, a bad port, characters
    that urlsplit drops): then every URL gets the full check.
    """
    parts = urlsplit(endpoint)
    try:
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    prefix = f"{parts.scheme}://{parts.netloc}"
    return prefix if endpoint.startswith(prefix) else None
