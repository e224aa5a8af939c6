"""The exception tree of asr-autoupdate. Every error the package raises on purpose is here.

    AsrAutoUpdateError
    ├── ConfigError           bad config or usage; names file, key path, problem  → exit 2
    ├── AuthenticationError   no token from the configured credential              → exit 4
    │   └── StaleTokenError     the credential hands back a token ARM called expired
    ├── LockHeldError         another run holds the lock file                      → exit 5
    ├── ReportError           a report (`--resume`, `--retry`, `report show`…) cannot be read → exit 2
    ├── SendWithdrawn         the caller withdrew a request before it was sent (an interrupt)
    └── ArmError              one ARM request failed for good; carries {code, message}
        ├── ArmHttpError        ARM answered an error status (after any retries)
        ├── ArmTransportError   no answer: connection failed, dropped or too slow; says if it was sent
        ├── ArmResponseError    the answer was not what ARM promises (not JSON, wrong shape, too big)
        ├── ArmAuthenticationError  mid-run, no token ARM accepts could be had for this call
        └── UntrustedUrlError   a URL from the server points off the configured ARM origin

Library errors (aiohttp, azure-identity, pydantic, yaml) are mapped to these once, at the
boundary that calls the library, with ``raise … from exc``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class AsrAutoUpdateError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AsrAutoUpdateError):
    """The config (or the command line) is invalid; nothing may be sent."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class AuthenticationError(AsrAutoUpdateError):
    """The configured credential could not produce a token."""

    def __init__(self, credential: str, detail: str) -> None:
        self.credential = credential
        self.detail = detail
        super().__init__(f"could not get a token with credential {credential!r}: {detail}")


class StaleTokenError(AuthenticationError):
    """The credential hands back a token ARM already rejected as expired (its cache trusts the
    token's own expiry; ARM's clock disagrees). A later try gets a new one.

    ``expires_in``: seconds until that token's own expiry, when the cache lets it go.
    """

    def __init__(self, credential: str, *, expires_in: float | None = None) -> None:
        self.expires_in = expires_in
        super().__init__(
            credential, "the credential returned a token the server rejected as expired"
        )


class LockHeldError(AsrAutoUpdateError):
    """Another run holds the lock file."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"another run holds the lock file {path}")


class ReportError(AsrAutoUpdateError, ValueError):
    """A report file could not be read back: missing, not JSON, or not a v1 report."""


class SendWithdrawn(AsrAutoUpdateError):
    """The caller withdrew a request before it left (the run is stopping): nothing was sent."""


class ArmError(AsrAutoUpdateError):
    """One ARM call failed for good. ``code`` and ``message`` go into the report as they are."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class ArmHttpError(ArmError):
    """ARM answered ``status``; ``code``/``message`` come from its error body when it had one."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        super().__init__(code, message)


class ArmTransportError(ArmError):
    """The request got no HTTP answer (connection refused, dropped, too slow).

    ``sent``: whether the request may have reached the server. False only when nothing was
    written (the connection was never made): only then is a change certainly not under way.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        self.sent = sent
        super().__init__("connection_error", message)


class ArmResponseError(ArmError):
    """The answer broke ARM's promises: not JSON, missing or mistyped fields, too large, a
    listing that never ends (``code`` says which, default ``invalid_response``).

    ``status``: the HTTP status of the answer, when it is known (a 2xx whose body cannot be
    read was still accepted).
    """

    def __init__(
        self, message: str, *, code: str = "invalid_response", status: int | None = None
    ) -> None:
        self.status = status
        super().__init__(code, message)


class ArmAuthenticationError(ArmError):
    """No token ARM accepts could be had for this call (mid-run: a refresh failed)."""

    def __init__(self, detail: str) -> None:
        super().__init__("authentication_failed", detail)


class UntrustedUrlError(ArmError):
    """A server-supplied URL is off the configured ARM origin; nothing was sent to it."""

    def __init__(self, url: str, origin: str) -> None:
        self.url = url
        super().__init__(
            "untrusted_url", f"refused to follow a URL outside {origin}: {_redact_query(url)}"
        )


def _redact_query(url: str) -> str:
    """Drop the query string and any user:password@: either may carry a secret."""
    try:
        parts = urlsplit(url.split("?", 1)[0])
    except ValueError:
        return "(a URL that cannot be parsed)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
