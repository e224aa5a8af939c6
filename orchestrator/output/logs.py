"""structlog, configured once per process: JSON lines off a terminal, readable lines on one.

Every line carries the context bound with ``structlog.contextvars`` (``vault``,
``subscription_id`` for a vault's work). A last processor scrubs anything that looks like a
credential, so no token or header value reaches a log line even by mistake.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, Literal, TextIO

import structlog

LogFormat = Literal["json", "console"]

_SECRET_KEYS: Final = frozenset(
    {"authorization", "token", "access_token", "bearer", "headers", "identity_header", "secret"}
)
_BEARER: Final = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_REDACTED: Final = "[redacted]"


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank credential-bearing keys and bearer tokens, at any depth."""
    for key, value in event.items():
        event[key] = _scrub(key, value)
    return event


def _scrub(key: object, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in _SECRET_KEYS:
        return _REDACTED
    if isinstance(value, str):
        return _BEARER.sub(f"Bearer {_REDACTED}", value)
    if isinstance(value, Mapping):
        return {k: _scrub(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(None, item) for item in value]
    return value


def default_format(stream: TextIO) -> LogFormat:
    return "console" if stream.isatty() else "json"


def configure_logging(
    *, fmt: LogFormat | None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog for this process; ``fmt`` ``None`` picks by whether stderr is a terminal."""
    out = stream or sys.stderr
    chosen = fmt or default_format(out)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # azure-identity logs its own failures through the standard library; the run reports them
    # itself (exit 4 with the credential's message), so keep those lines off stderr.
    azure = logging.getLogger("azure")
    azure.handlers[:] = [logging.NullHandler()]
    azure.propagate = False
