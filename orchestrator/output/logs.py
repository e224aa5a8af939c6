"""structlog, configured once per process: JSON lines off a terminal, short readable lines on one.

Every line carries the context bound with ``structlog.contextvars`` (``vault``,
``subscription_id`` for a vault's work; JSON lines also the ``run_id``). Two safeguards keep
secrets out: a processor blanks credential-bearing keys and ``Bearer …`` anywhere, and the
rendered line is scrubbed of every literal secret the run knows (its tokens, the identity
header, secrets from its environment: :class:`~orchestrator.secrets.Secrets`), so even a
server echoing a token into a message cannot put it on stderr.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, Literal, TextIO, cast

import structlog

from orchestrator.secrets import Secrets

LogFormat = Literal["json", "console"]

_SECRET_KEYS: Final = frozenset(
    {"authorization", "token", "access_token", "bearer", "headers", "identity_header", "secret"}
)
_BEARER: Final = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_REDACTED: Final = "[redacted]"
# On a terminal these repeat on every line and wrap it: the vault's name says enough.
_CONSOLE_DROPS: Final = ("run_id", "subscription_id")


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank credential-bearing keys and bearer tokens, at any depth."""
    for key, value in event.items():
        if type(value) is str and not _secret_key(key):
            if "bearer" in value.lower():  # the common case, a plain value, costs no regex
                event[key] = _BEARER.sub(f"Bearer {_REDACTED}", value)
        else:
            event[key] = _scrub(key, value)
    return event


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and (key in _SECRET_KEYS or key.lower() in _SECRET_KEYS)


def _scrub(key: object, value: Any) -> Any:
    if _secret_key(key):
        return _REDACTED
    if isinstance(value, str):
        return _BEARER.sub(f"Bearer {_REDACTED}", value)
    if isinstance(value, Mapping):
        return {k: _scrub(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(None, item) for item in value]
    return value


def _drop_for_console(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _CONSOLE_DROPS:
        event.pop(key, None)
    return event


class _Scrubbed:
    """The renderer, then every literal secret replaced in the line it rendered."""

    __slots__ = ("_renderer", "_secrets")

    def __init__(self, renderer: structlog.typing.Processor, secrets: Secrets) -> None:
        self._renderer = renderer
        self._secrets = secrets

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        line = self._renderer(logger, name, event)
        return self._secrets.scrub(line if isinstance(line, str) else str(line))


class CurrentStderr(io.TextIOBase):
    """A text stream that writes to whatever ``sys.stderr`` is at the time of each write.

    Configure logging with it (see :func:`log_stream`) so a :class:`~orchestrator.output.display.LiveProgress`, which swaps
    ``sys.stderr`` for rich's proxy while it runs, prints log lines above the display instead
    of through it.
    """

    def __repr__(self) -> str:
        return "<CurrentStderr>"

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def log_stream() -> TextIO:
    """The stream to configure logging with: stderr, whatever it is when a line is written."""
    return cast("TextIO", CurrentStderr())


class _LineWriter:
    """structlog's logger: each rendered line written whole, newline included, and flushed.

    One per configuration, shared by every logger (structlog's ``PrintLoggerFactory`` builds a
    ``PrintLogger`` for every call, and ``print`` writes the line and its newline apart).
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __repr__(self) -> str:
        return f"<_LineWriter {self._stream!r}>"

    def msg(self, message: str) -> None:
        self._stream.write(message + "\n")
        self._stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg

    def factory(self, *_: Any) -> _LineWriter:
        """The ``logger_factory``: this writer, whatever logger name is asked for."""
        return self


def default_format(stream: TextIO) -> LogFormat:
    return "console" if stream.isatty() else "json"


def configure_logging(
    *,
    fmt: LogFormat | None,
    level: str = "info",
    stream: TextIO | None = None,
    secrets: Secrets | None = None,
) -> None:
    """Configure structlog for this process; ``fmt`` ``None`` picks by whether stderr is a terminal."""
    out = stream or sys.stderr
    chosen = fmt or default_format(out)
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if chosen == "json":
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
        renderer: structlog.typing.Processor = structlog.processors.JSONRenderer()
    else:
        processors += [
            _drop_for_console,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
        ]
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), pad_event_to=0, pad_level=False
        )
    processors += [
        structlog.processors.format_exc_info,
        redact_secrets,
        _Scrubbed(renderer, secrets if secrets is not None else Secrets()),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_LineWriter(out).factory,
        cache_logger_on_first_use=False,
    )
    # azure-identity logs its own failures through the standard library; the run reports them
    # itself (exit 4 with the credential's message), so keep those lines off stderr.
    azure = logging.getLogger("azure")
    azure.handlers[:] = [logging.NullHandler()]
    azure.propagate = False
