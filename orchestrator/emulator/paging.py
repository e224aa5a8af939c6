"""Paged lists: opaque ``$skiptoken`` continuation tokens and absolute ``nextLink`` URLs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

T = TypeVar("T")
SKIPTOKEN = "$skiptoken"


def encode_skiptoken(offset: int) -> str:
    """An opaque token for the page starting at ``offset``."""
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> int | None:
    """The offset a token names, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


def page(items: Sequence[T], offset: int, size: int) -> tuple[Sequence[T], int | None]:
    """The page at ``offset`` and the offset of the next page (None on the last)."""
    end = offset + size
    return items[offset:end], (end if end < len(items) else None)


def next_link(base: str, raw_path: str, api_version: str, offset: int) -> str:
    """The absolute URL of the page at ``offset`` on ``base`` (the origin the client used).

    ``raw_path`` is the request's path as sent (still percent-encoded).
    """
    query = urlencode({"api-version": api_version, SKIPTOKEN: encode_skiptoken(offset)})
    return f"{base}{raw_path}?{query}"
