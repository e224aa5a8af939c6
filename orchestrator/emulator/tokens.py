"""Bearer tokens: issued by the managed-identity endpoint, checked on every ARM call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from orchestrator.emulator.journal import IssuedToken


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why ARM answers 401: the ARM error code and message."""

    code: str
    message: str


MISSING = AuthFailure(
    "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
)
MALFORMED = AuthFailure(
    "AuthenticationFailed",
    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
)
UNKNOWN = AuthFailure("InvalidAuthenticationToken", "The access token is invalid.")
EXPIRED = AuthFailure(
    "ExpiredAuthenticationToken",
    "The access token expiry UTC time is earlier than current UTC time.",
)


class TokenBook:
    """The tokens issued so far and when each expires (on the emulator's clock)."""

    __slots__ = ("_tokens", "lifetime_seconds")

    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._tokens: dict[str, IssuedToken] = {}  # token -> what it was issued for

    def __repr__(self) -> str:
        return f"TokenBook(lifetime_seconds={self.lifetime_seconds}, issued={len(self._tokens)})"

    def issue(self, resource: str, client_id: str | None, now: float) -> tuple[str, IssuedToken]:
        """A new opaque token valid for `lifetime_seconds` from ``now``."""
        token = "emu." + secrets.token_urlsafe(32)
        issued = IssuedToken(resource, client_id, now, now + self.lifetime_seconds)
        self._tokens[token] = issued
        return token, issued

    def check(self, authorization: str | None, now: float) -> AuthFailure | None:
        """None when ``authorization`` carries a token issued here and not expired."""
        if not authorization:
            return MISSING
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return MALFORMED
        issued = self._tokens.get(token.strip())
        if issued is None:
            return UNKNOWN
        return EXPIRED if now >= issued.expires_at else None
