"""Bearer tokens: issued by the managed-identity endpoint, checked on every ARM call.

A token remembers the ``resource`` it was issued for; ARM accepts it only when that is exactly
(case-insensitively) one of the audiences it serves, as ARM answers
``InvalidAuthenticationTokenAudience`` otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
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


def wrong_audience(resource: str, audiences: Iterable[str]) -> AuthFailure:
    """ARM's 401 for a token obtained for another audience."""
    allowed = ",".join(f"'{audience}'" for audience in audiences)
    return AuthFailure(
        "InvalidAuthenticationTokenAudience",
        f"The access token has been obtained for wrong audience or resource '{resource}'. "
        f"It should exactly match with one of the allowed audiences {allowed}.",
    )


class TokenBook:
    """The tokens issued so far and when each expires (on the emulator's clock).

    A token is reported valid for `lifetime_seconds` but stops working `early_expiry_seconds`
    before that (never before it was issued). ARM calls accept tokens issued for one of
    ``audiences`` only.
    """

    __slots__ = ("_allowed", "_tokens", "audiences", "early_expiry_seconds", "lifetime_seconds")

    def __init__(
        self,
        lifetime_seconds: float,
        *,
        early_expiry_seconds: float = 0.0,
        audiences: Iterable[str] = (),
    ) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.early_expiry_seconds = early_expiry_seconds
        self.audiences = tuple(audiences)  # empty: any audience is accepted
        self._allowed = frozenset(audience.lower() for audience in self.audiences)
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
        """None when ``authorization`` carries a token issued here, not expired, for ARM."""
        if not authorization:
            return MISSING
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return MALFORMED
        issued = self._tokens.get(token.strip())
        if issued is None:
            return UNKNOWN
        if now >= issued.expires_at:
            return EXPIRED
        if self._allowed and issued.resource.lower() not in self._allowed:
            return wrong_audience(issued.resource, self.audiences)
        return None
