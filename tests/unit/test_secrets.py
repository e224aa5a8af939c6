"""The run's literal secrets (orchestrator.secrets): which values are kept, which environment
variables hold them, and scrubbing them out of any text, JSON-escaped forms included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.secrets import MIN_SECRET_LENGTH, REDACTED, Secrets, from_environment

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_a_secret_is_scrubbed_wherever_it_appears() -> None:
    secrets = Secrets([TOKEN])
    text = f"401 for {TOKEN}; again: {TOKEN}!"
    assert secrets.scrub(text) == f"401 for {REDACTED}; again: {REDACTED}!"


def test_text_without_secrets_is_left_alone() -> None:
    assert Secrets([TOKEN]).scrub("nothing to see") == "nothing to see"
    assert Secrets().scrub(f"no secrets known: {TOKEN}") == f"no secrets known: {TOKEN}"


@pytest.mark.parametrize("value", ["", "short", "x" * (MIN_SECRET_LENGTH - 1), "  padded   "])
def test_short_values_are_not_kept_they_would_blank_ordinary_words(value: str) -> None:
    secrets = Secrets([value])
    assert len(secrets) == 0
    assert secrets.scrub(f"a {value} b") == f"a {value} b"


def test_a_value_of_the_minimum_length_is_kept() -> None:
    value = "s" * MIN_SECRET_LENGTH
    assert Secrets([value]).scrub(f"[{value}]") == f"[{REDACTED}]"


def test_none_is_ignored() -> None:
    secrets = Secrets()
    secrets.add(None)
    assert len(secrets) == 0


def test_a_value_with_surrounding_space_is_also_scrubbed_without_it() -> None:
    secrets = Secrets([f"  {TOKEN}\n"])
    assert secrets.scrub(f"token={TOKEN};") == f"token={REDACTED};"


@pytest.mark.parametrize(
    "value",
    ['pa"ss\\word-with-quote', "line one\nline two", "zürich-passwört", "tab\there-and-more"],
)
def test_the_json_escaped_form_is_scrubbed_from_json_text(value: str) -> None:
    """A report or a JSON log line holds the value escaped, not as it is."""
    secrets = Secrets([value])
    line = json.dumps({"message": f"server said {value}"})
    assert value not in json.loads(secrets.scrub(line))["message"]
    assert REDACTED in secrets.scrub(line)
    assert secrets.scrub(f"raw {value}") == f"raw {REDACTED}"


def test_a_secret_containing_another_is_replaced_whole() -> None:
    inner = "abcdefghijklmnop"
    outer = f"{inner}-and-then-some-more"
    secrets = Secrets([inner, outer])
    assert secrets.scrub(f"<{outer}> <{inner}>") == f"<{REDACTED}> <{REDACTED}>"


def test_a_secret_added_later_is_scrubbed_from_then_on() -> None:
    secrets = Secrets([TOKEN])
    assert secrets.scrub("fresh-token-0123456789") == "fresh-token-0123456789"
    secrets.add("fresh-token-0123456789")
    assert secrets.scrub("fresh-token-0123456789") == REDACTED


def test_regex_characters_in_a_secret_are_literal() -> None:
    secrets = Secrets(["a.b*c+d?e(f)[g]{h}|i^j$k\\l"])
    assert secrets.scrub("a.b*c+d?e(f)[g]{h}|i^j$k\\l") == REDACTED
    assert secrets.scrub("aXbbbcddde(f)gh") == "aXbbbcddde(f)gh"


def test_the_repr_never_shows_a_value() -> None:
    secrets = Secrets([TOKEN])
    assert TOKEN not in repr(secrets)
    assert repr(secrets).startswith("<Secrets ")


def test_adding_the_same_value_twice_keeps_it_once() -> None:
    secrets = Secrets([TOKEN])
    count = len(secrets)
    secrets.add(TOKEN)
    assert len(secrets) == count


# --- the environment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "AZURE_CLIENT_SECRET",
        "MSI_SECRET",
        "IDENTITY_HEADER",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "SOME_API_KEY",
        "GITHUB_TOKEN",
        "my_db_passwd",
        "URL_SIGNATURE",
    ],
)
def test_variables_named_for_secrets_are_secrets(name: str) -> None:
    secrets = Secrets()
    secrets.add_environment({name: "a-value-that-is-secret"})
    assert secrets.scrub("a-value-that-is-secret") == REDACTED


@pytest.mark.parametrize(
    "name",
    [
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "SECRETS_DIR",
        "TOKEN_PATH",
        "TOKEN_URL",
        "HOME",
        "AZURE_AUTHORITY_HOST",
    ],
)
def test_variables_naming_where_a_secret_is_or_who_asks_are_not(name: str) -> None:
    secrets = Secrets()
    secrets.add_environment({name: "a-value-that-is-plain"})
    assert len(secrets) == 0


def test_the_federated_token_files_content_is_a_secret(tmp_path: Path) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")
    secrets = Secrets()
    secrets.add_environment({"AZURE_FEDERATED_TOKEN_FILE": str(token_file)})
    assert secrets.scrub(f"assertion={TOKEN}") == f"assertion={REDACTED}"
    assert secrets.scrub(str(token_file)) == str(token_file)  # its path is no secret


@pytest.mark.parametrize("content", [None, b"\xff\xfe not utf-8"])
def test_a_federated_token_file_that_cannot_be_read_is_skipped(
    tmp_path: Path, content: bytes | None
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_bytes(content)
    secrets = Secrets()
    secrets.add_environment({"AZURE_FEDERATED_TOKEN_FILE": str(token_file)})
    assert len(secrets) == 0


def test_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "header-value-of-the-emulator")
    assert from_environment().scrub("header-value-of-the-emulator") == REDACTED


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_url_s_password_is_a_secret_as_written_and_decoded(name: str) -> None:
    """``http://user:password@proxy:3128``: the run's own lines show the proxy without it."""
    secrets = Secrets()
    secrets.add_environment({name: "http://alice:pr0xy-pa%24%24word@proxy.example:3128"})
    line = "pr0xy-pa$$word | pr0xy-pa%24%24word | alice:pr0xy-pa$$word | proxy.example:3128"
    assert secrets.scrub(line) == f"{REDACTED} | {REDACTED} | {REDACTED} | proxy.example:3128"


@pytest.mark.parametrize("value", ["http://proxy.example:3128", "proxy.example:3128", "", "x@y"])
def test_a_proxy_url_without_a_password_adds_nothing(value: str) -> None:
    secrets = Secrets()
    secrets.add_environment({"HTTPS_PROXY": value})
    assert len(secrets) == 0
