"""The config's single values: each key's own check, run before the model checks the whole.

Each check takes a value pydantic has already typed, returns it (or its canonical form) and
raises ValueError naming the problem; :func:`sane_window` reports at the key path of its field.
The ARM resource-id grammar they lean on lives in :mod:`orchestrator.asr.targets`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import string
from typing import Annotated, Final
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, BeforeValidator

from orchestrator.arm.limits import Quota
from orchestrator.asr.desired import KEEP_ACCOUNT, AuthenticationType
from orchestrator.asr.targets import VaultId, check_guid, check_vault_name, split_resource_id
from orchestrator.config.problems import KeyedProblems, Problem

MAX_LIMIT_CALLS: Final = 1_000_000

_API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?")
_AUTOMATION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,49}")
PLACEHOLDERS: Final = ("subscription_id", "resource_group", "vault")
# What a template is filled with to check its shape at load (the real values come per vault).
_SAMPLE: Final = VaultId("00000000-0000-0000-0000-000000000000", "rg-sample", "vault-sample")


def check_vault_id(text: str) -> str:
    VaultId.parse(text)
    return text


def check_automation_account(text: str) -> str:
    """``keep`` (any case) normalises to KEEP_ACCOUNT; anything else must be an account id, or a
    template that fills to one (``{subscription_id}``, ``{resource_group}``, ``{vault}``)."""
    if text.lower() == KEEP_ACCOUNT:
        return KEEP_ACCOUNT
    try:
        if is_template(text):
            _check_account_id(fill_account(text, _SAMPLE))
        else:
            _check_account_id(text)
    except ValueError as exc:
        raise ValueError(f"not an Automation account id or `keep`: {exc}") from None
    return text


def is_template(text: str) -> bool:
    """Whether ``text`` holds ``{…}`` placeholders (unknown ones raise ValueError)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    unknown = [name for name in fields if name not in PLACEHOLDERS]
    if unknown:
        allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
    return bool(fields)


def fill_account(template: str, vault: VaultId) -> str:
    """``template`` with the vault's subscription id, resource group and name filled in."""
    try:
        return template.format(
            subscription_id=vault.subscription_id,
            resource_group=vault.resource_group,
            vault=vault.name,
        )
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"cannot fill the template: {exc}") from None


def filled_account(template: str, vault: VaultId) -> str:
    """The account id ``template`` gives ``vault``; ValueError when it is not a valid one."""
    account = fill_account(template, vault)
    try:
        _check_account_id(account)
    except ValueError as exc:
        raise ValueError(
            f"automation_account template {template!r} gives {account!r} for vault "
            f"{vault.name}, which is not an Automation account id: {exc}"
        ) from None
    return account


def _check_account_id(text: str) -> None:
    _, _, name = split_resource_id(text, "Microsoft.Automation", "automationAccounts")
    if not _AUTOMATION_NAME.fullmatch(name):
        raise ValueError(
            f"account name {name!r} must be 1-50 letters, digits and '-', starting with a letter"
        )


def canonical_auth_type(value: object) -> object:
    """Match authentication types case-insensitively; pydantic reports anything unmatched."""
    if isinstance(value, str):
        for member in AuthenticationType:
            if member.value.lower() == value.lower():
                return member
    return value


def _absolute_url(url: str) -> SplitResult:
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"must be an absolute https:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"has no host: {url!r}")
    return parts


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_arm_endpoint(url: str) -> str:
    parts = _absolute_url(url)
    if parts.path not in ("", "/") or "?" in url or "#" in url:
        raise ValueError("must be scheme, host and port only: no path, query or fragment")
    if "@" in parts.netloc:
        raise ValueError("must not carry a user name or password")
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ValueError(
            "plain http:// is allowed only for a loopback host (127.0.0.0/8, ::1, localhost)"
        )
    return url


def check_audience(url: str) -> str:
    _absolute_url(url)
    return url


def api_version_text(value: object) -> object:
    """An unquoted ``2021-12-01`` reaches us as a YAML date: take it back as text."""
    return value.isoformat() if isinstance(value, datetime.date) else value


def check_api_version(text: str) -> str:
    match = _API_VERSION.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        datetime.date.fromisoformat(match.group(1))
    except ValueError:
        raise ValueError(f"must look like 2021-12-01 or 2021-12-01-preview, got {text!r}") from None
    return text


def sane_quota(limit: Quota) -> Quota:
    if limit.calls > MAX_LIMIT_CALLS:
        message = f"{limit.calls} is absurd: at most {MAX_LIMIT_CALLS:,} calls per window"
        raise KeyedProblems([Problem(("calls",), message)])
    return limit


def no_nul(text: str) -> str:
    if "\0" in text:
        raise ValueError("must not contain a NUL character")
    return text


def home_expanded(path: str) -> str:
    """A leading ``~`` as the user's home (as ``state_file`` has it), never a directory named ``~``."""
    return os.path.expanduser(path)


def check_client_id(text: str) -> str:
    return check_guid(text, "client id")


def check_exclusion(entry: str) -> str:
    if entry.startswith("/"):
        VaultId.parse(entry)
    else:
        check_vault_name(entry)
    return entry


VaultIdText = Annotated[str, AfterValidator(check_vault_id)]
AccountText = Annotated[str, AfterValidator(check_automation_account)]
AuthType = Annotated[AuthenticationType, BeforeValidator(canonical_auth_type)]
SubscriptionGuid = Annotated[str, AfterValidator(check_guid)]
ClientGuid = Annotated[str, AfterValidator(check_client_id)]
Window = Annotated[Quota, AfterValidator(sane_quota)]
