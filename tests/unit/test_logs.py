"""Logging set-up: JSON or console lines on the given stream, bound context, secrets scrubbed
(by key and `Bearer`, and every literal secret the run knows)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from orchestrator.output.logs import LogFormat, configure_logging, default_format, redact_secrets
from orchestrator.secrets import REDACTED, Secrets

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave structlog, its context and the stdlib ``azure`` logger as they were."""
    azure = logging.getLogger("azure")
    handlers, propagate = list(azure.handlers), azure.propagate
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    azure.handlers[:] = handlers
    azure.propagate = propagate


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def redact(**event: Any) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", dict(event)))


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


# --- redact_secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["authorization", "Authorization", "token", "access_token", "bearer", "headers", "secret"],
)
def test_credential_keys_are_blanked_whatever_their_value(key: str) -> None:
    assert redact(event="x", **{key: {"nested": TOKEN}})[key] == "[redacted]"


def test_a_bearer_token_inside_a_string_is_blanked_and_the_rest_kept() -> None:
    event = redact(event="request_failed", detail=f"sent Authorization: Bearer {TOKEN} to ARM")
    assert event["detail"] == "sent Authorization: Bearer [redacted] to ARM"


def test_a_lowercase_bearer_token_is_blanked() -> None:
    assert TOKEN not in redact(event="x", detail=f"bearer {TOKEN}")["detail"]


def test_an_uppercase_bearer_token_is_blanked() -> None:
    assert TOKEN not in redact(event="x", detail=f"AUTHORIZATION: BEARER {TOKEN}")["detail"]


def test_the_event_text_itself_is_scrubbed() -> None:
    assert redact(event=f"got Bearer {TOKEN}")["event"] == "got Bearer [redacted]"


def test_other_keys_and_values_are_left_alone() -> None:
    event = {"event": "operation_finished", "vault": "v1", "polls": 3, "bearing": "north"}
    assert redact(**event) == event


def test_a_bearer_token_nested_in_a_dict_value_is_blanked() -> None:
    event = redact(event="x", request={"url": "/subscriptions", "auth": f"Bearer {TOKEN}"})
    assert TOKEN not in json.dumps(event)


# --- configure_logging ---------------------------------------------------------------------------


def test_json_lines_carry_the_event_level_timestamp_and_fields() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    structlog.get_logger("t").info("vault_listed", mappings=4)
    (line,) = json_lines(buf)
    assert line["event"] == "vault_listed"
    assert line["mappings"] == 4
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_a_bound_contextvar_appears_in_every_json_line() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    with structlog.contextvars.bound_contextvars(vault="v1", subscription_id="sub-1"):
        structlog.get_logger("t").info("patch_sent")
        structlog.get_logger("t").warning("mapping_failed")
    structlog.get_logger("t").info("run_finished")
    lines = json_lines(buf)
    assert [(line.get("vault"), line.get("subscription_id")) for line in lines] == [
        ("v1", "sub-1"),
        ("v1", "sub-1"),
        (None, None),
    ]


def test_lines_below_the_level_are_dropped() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", level="warning", stream=buf)
    log = structlog.get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in json_lines(buf)] == ["loud"]


def test_a_token_in_a_logged_exception_is_scrubbed_from_the_json_line() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    try:
        raise RuntimeError(f"server echoed Authorization: Bearer {TOKEN}")
    except RuntimeError:
        structlog.get_logger("t").exception("mapping_crashed")
    assert TOKEN not in buf.getvalue()
    (line,) = json_lines(buf)
    assert "Bearer [redacted]" in line["exception"]


def test_a_token_passed_as_a_field_never_reaches_the_line() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    structlog.get_logger("t").info("token_refreshed", token=TOKEN, authorization=f"Bearer {TOKEN}")
    assert TOKEN not in buf.getvalue()


def test_console_format_renders_readable_text_not_json() -> None:
    buf = io.StringIO()
    configure_logging(fmt="console", stream=buf)
    with structlog.contextvars.bound_contextvars(vault="v1"):
        structlog.get_logger("t").info("vault_listed", mappings=4)
    text = buf.getvalue()
    assert "vault_listed" in text
    assert "mappings=4" in text
    assert "vault=v1" in text
    assert "\x1b[" not in text  # no colour codes off a terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_without_a_format_json_is_chosen_off_a_terminal() -> None:
    buf = io.StringIO()
    configure_logging(fmt=None, stream=buf)
    structlog.get_logger("t").info("hello")
    assert json_lines(buf)[0]["event"] == "hello"


def test_default_format_is_console_on_a_terminal_and_json_otherwise() -> None:
    assert default_format(TtyStream()) == "console"
    assert default_format(io.StringIO()) == "json"


def test_azure_identity_stdlib_logs_are_kept_off_the_stream() -> None:
    configure_logging(fmt="json", stream=io.StringIO())
    azure = logging.getLogger("azure")
    assert azure.propagate is False
    assert all(isinstance(h, logging.NullHandler) for h in azure.handlers)


# --- literal secrets, scrubbed from the rendered line ------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_bare_token_the_run_knows_is_scrubbed_from_every_line(fmt: LogFormat) -> None:
    """No `Bearer ` before it, no secret-sounding key: only the run's Secrets can catch it."""
    buf = io.StringIO()
    configure_logging(fmt=fmt, stream=buf, secrets=Secrets([TOKEN]))
    structlog.get_logger("t").warning("patch_refused", message=f"bad value {TOKEN} in body")
    assert TOKEN not in buf.getvalue()
    assert REDACTED in buf.getvalue()


def test_a_secret_json_escapes_is_scrubbed_from_a_json_line() -> None:
    header = 'identity"header\\value-0123'
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf, secrets=Secrets([header]))
    structlog.get_logger("t").info("msi_answer", detail=f"echoed {header}")
    (line,) = json_lines(buf)
    assert header not in line["detail"]
    assert line["detail"] == f"echoed {REDACTED}"


def test_a_secret_in_a_logged_exception_is_scrubbed() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf, secrets=Secrets([TOKEN]))
    try:
        raise RuntimeError(f"server echoed {TOKEN}")
    except RuntimeError:
        structlog.get_logger("t").exception("mapping_crashed")
    assert TOKEN not in buf.getvalue()


def test_a_secret_learned_after_configuring_is_scrubbed_too() -> None:
    secrets = Secrets()
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf, secrets=secrets)
    secrets.add(TOKEN)  # a token obtained mid-run
    structlog.get_logger("t").info("x", detail=TOKEN)
    assert TOKEN not in buf.getvalue()


# --- what each format shows --------------------------------------------------------------------


def test_console_lines_leave_out_the_run_id_and_subscription_but_keep_the_vault() -> None:
    buf = io.StringIO()
    configure_logging(fmt="console", stream=buf)
    context = {"run_id": "run-123", "subscription_id": "sub-1", "vault": "v1"}
    with structlog.contextvars.bound_contextvars(**context):
        structlog.get_logger("t").info("vault_listed", mappings=4)
    text = buf.getvalue()
    assert "vault=v1" in text
    assert "run-123" not in text and "run_id" not in text
    assert "sub-1" not in text and "subscription_id" not in text


def test_json_lines_keep_the_run_id_and_subscription() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    with structlog.contextvars.bound_contextvars(run_id="run-123", subscription_id="sub-1"):
        structlog.get_logger("t").info("vault_listed")
    (line,) = json_lines(buf)
    assert (line["run_id"], line["subscription_id"]) == ("run-123", "sub-1")


def test_console_lines_on_a_terminal_are_coloured_and_timed_locally() -> None:
    buf = TtyStream()
    configure_logging(fmt="console", stream=buf)
    structlog.get_logger("t").info("vault_listed")
    assert "\x1b[" in buf.getvalue()
