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
    """The tokens issued so far and when each expires (on the emulator's clock).

    A token is reported valid for `lifetime_seconds` but stops working `early_expiry_seconds`
    before that (never before it was issued).
    """

    __slots__ = ("_tokens", "early_expiry_seconds", "lifetime_seconds")

    def __init__(self, lifetime_seconds: float, *, early_expiry_seconds: float = 0.0) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.early_expiry_seconds = early_expiry_seconds
        self._tokens: dict[str, IssuedToken] = {}  # token -> what it was issued for

    def __repr__(self) -> str:
        return (
            f"TokenBook(lifetime_seconds={self.lifetime_seconds}, "
            f"early_expiry_seconds={self.early_expiry_seconds}, issued={len(self._tokens)})"
        )

    def issue(self, resource: str, client_id: str | None, now: float) -> tuple[str, IssuedToken]:
        """A new opaque token reported valid for `lifetime_seconds` from ``now``."""
        token = "emu." + secrets.token_urlsafe(32)
        works_for = max(self.lifetime_seconds - self.early_expiry_seconds, 0.0)
        issued = IssuedToken(
            resource, client_id, now, now + works_for, reported_expiry=now + self.lifetime_seconds
        )
        self._tokens[token] = issued
        return token, issued

    def issued(self) -> list[str]:
        """Every token issued so far, oldest first: the secrets themselves, for tests proving
        that none leaked."""
        return list(self._tokens)

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
