"""The literal secrets of one run, and the scrubbing that keeps them out of every output.

A server may echo what it was sent: a token in a 400's message, an identity header in a token
endpoint's error. Pattern-based redaction (``Bearer …``) misses a bare token, so the run also
remembers the exact values it must never print — each token it obtained, the managed-identity
header, secrets from its environment (a proxy's password among them) — and replaces them
wherever they appear: log lines, the report, stdout. One :class:`Secrets` per process, passed to
what writes; no global state.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import unquote, urlsplit

REDACTED: Final = "[redacted]"
# Shorter values are not scrubbed: they would blank ordinary words. Real secrets (tokens, GUID
# headers, client secrets) are far longer.
MIN_SECRET_LENGTH: Final = 12
# Environment variables whose values are secrets (by name); paths to secrets are not secrets.
_SECRET_NAME: Final = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|IDENTITY_HEADER|SIGNATURE|KEY")
_NOT_SECRET: Final = re.compile(r"(_FILE|_PATH|_DIR|_ENDPOINT|_URL|_ID)$")


class Secrets:
    """Literal values to scrub. Adding is cheap; scrubbing is one regex pass per text."""

    __slots__ = ("_pattern", "_values")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None  # rebuilt lazily after an add
        for value in values:
            self.add(value)

    def __repr__(self) -> str:
        return f"<Secrets {len(self._values)} values>"  # never the values themselves

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str | None, *, min_length: int = MIN_SECRET_LENGTH) -> None:
        """Never print ``value`` (nor its JSON-escaped form) from now on; a value shorter than
        ``min_length`` is not one (a guess from the environment may be any short word)."""
        if value is None or len(value.strip()) < min_length:
            return
        forms = {value, value.strip(), json.dumps(value)[1:-1]}
        if not forms <= self._values:
            self._values |= forms
            self._pattern = None

    def add_environment(self, environ: Mapping[str, str]) -> None:
        """Every value of a variable whose name says it holds a secret; the password of every
        ``*_PROXY`` URL (``http://user:password@proxy:3128``)."""
        for name, value in environ.items():
            upper = name.upper()
            if _SECRET_NAME.search(upper) and not _NOT_SECRET.search(upper):
                self.add(value)
            elif upper.endswith("_PROXY"):
                self.add_url_credentials(value)
        token_file = environ.get("AZURE_FEDERATED_TOKEN_FILE")
        if token_file:
            self.add(_read_small(token_file))

    def add_url_credentials(self, url: str) -> None:
        """The password of a URL's ``user:password@`` (a proxy's), and the pair, as written
        and percent-decoded."""
        userinfo, at, _ = urlsplit(url if "://" in url else f"//{url}").netloc.rpartition("@")
        _, colon, password = userinfo.partition(":")
        if not at or not colon or not password:
            return
        # Exact known secrets, however short: the pair always, the password from 4 characters
        # (a shorter one would redact ordinary words; the pair still hides it where it goes).
        for form in (password, userinfo):
            for value in (form, unquote(form)):
                self.add(value, min_length=4 if form is password else 1)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``[redacted]``."""
        if not self._values:
            return text
        if not any(value in text for value in self._values):
            return text  # the common case: one fast substring search per value, no regex
        if self._pattern is None:
            # Longest first, so a value containing another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in ordered))
        return self._pattern.sub(REDACTED, text)


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(64 * 1024)
    except (OSError, UnicodeDecodeError):
        return None


def from_environment() -> Secrets:
    """The secrets of this process's environment."""
    secrets = Secrets()
    secrets.add_environment(os.environ)
    return secrets
