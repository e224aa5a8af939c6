"""Reading ARM's answers: a body parsed defensively, a listing's pages and their links.

Pure functions, no I/O. json.loads raises more than JSONDecodeError on hostile input —
RecursionError for deep nesting, ValueError for a number too long to convert — and each is an
unreadable answer for that call only. A ``nextLink`` may be relative (resolved against the
endpoint) and may lack ``api-version`` (given the listing's).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from orchestrator.arm.transport import RawAnswer, path_of
from orchestrator.errors import ArmResponseError


def parse_body(raw: RawAnswer, method: str, url: str) -> Any:
    """The answer's JSON, or None when empty; an unparseable success raises ArmResponseError.

    json.loads raises more than JSONDecodeError on hostile input: RecursionError for deep
    nesting, ValueError for a number too long to convert. Each is an unreadable answer.
    """
    if not raw.body.strip():
        return None
    try:
        return json.loads(raw.body)
    except (ValueError, RecursionError) as exc:
        if raw.status >= 300:
            return None  # an error page that is not JSON: the status alone says what failed
        reason = "nested too deep" if isinstance(exc, RecursionError) else type(exc).__name__
        raise ArmResponseError(
            f"{method} {path_of(url)}: answer is not JSON ({reason})", status=raw.status
        ) from exc


def resolve_link(endpoint: str, link: str, api_version: str) -> str:
    """A listing's ``nextLink`` made absolute on ``endpoint``, with an ``api-version``."""
    absolute = urljoin(endpoint + "/", link)
    parts = urlsplit(absolute)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key.lower() == "api-version" for key, _ in query):
        query.append(("api-version", api_version))
        absolute = urlunsplit(parts._replace(query=urlencode(query)))
    return absolute


def page_values(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ArmResponseError("a listing page has no 'value' list")
    values: list[Any] = body["value"]
    return values


def next_link(body: dict[str, Any]) -> str | None:
    link = body.get("nextLink")
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise ArmResponseError("a listing page's 'nextLink' is not a string")
    return link
