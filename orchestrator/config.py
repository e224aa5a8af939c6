"""The config file: its model, with every key of DESIGN.md "Config file (YAML)", and its loader.

:class:`Config` checks each key, then the whole (duplicates, targets, accounts), reporting
problems at key paths. :func:`load_config` is the one boundary where the file system, PyYAML
and pydantic are called: every error they raise leaves as one
:class:`~orchestrator.errors.ConfigError` naming the file, the key path and the problem.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Final, Literal, NoReturn, Self, Union, get_args, get_origin
from urllib.parse import SplitResult, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.emulator.fleet_spec import FleetSpec, WindowLimit
from orchestrator.errors import ConfigError
from orchestrator.targets import (
    SubscriptionTarget,
    VaultId,
    VaultTarget,
    check_guid,
    check_resource_group,
    check_vault_name,
    split_resource_id,
)


class Cloud(StrEnum):
    AZURE_CLOUD = "AzureCloud"
    AZURE_US_GOVERNMENT = "AzureUSGovernment"
    AZURE_CHINA_CLOUD = "AzureChinaCloud"


class CredentialKind(StrEnum):
    DEFAULT = "default"
    MANAGED_IDENTITY = "managed_identity"
    AZURE_CLI = "azure_cli"
    ENVIRONMENT = "environment"
    WORKLOAD_IDENTITY = "workload_identity"


class LimitScope(StrEnum):
    RUN = "run"  # one set of limiters for the whole run
    SUBSCRIPTION = "subscription"  # one set per subscription


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    """Where a national cloud's ARM lives, the audience of its tokens, and its login host."""

    arm_endpoint: str
    token_audience: str
    authority_host: str


# Authority hosts as in azure.identity.AzureAuthorityHosts.
CLOUDS: Final[Mapping[Cloud, CloudEndpoints]] = MappingProxyType(
    {
        Cloud.AZURE_CLOUD: CloudEndpoints(
            "https://management.azure.com",
            "https://management.core.windows.net/",
            "login.microsoftonline.com",
        ),
        Cloud.AZURE_US_GOVERNMENT: CloudEndpoints(
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/",
            "login.microsoftonline.us",
        ),
        Cloud.AZURE_CHINA_CLOUD: CloudEndpoints(
            "https://management.chinacloudapi.cn",
            "https://management.core.chinacloudapi.cn/",
            "login.chinacloudapi.cn",
        ),
    }
)

DEFAULT_API_VERSION: Final = "2021-12-01"
DEFAULT_TIMEOUT_MINUTES: Final = 160.0
MAX_TIMEOUT_MINUTES: Final = 10_080.0  # a week
MAX_LIMIT_CALLS: Final = 1_000_000
DEFAULT_SET_LIMIT: Final = WindowLimit(calls=200, per_seconds=60)
DEFAULT_GET_LIMIT: Final = WindowLimit(calls=10_000, per_seconds=3_600)

_API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?")
_AUTOMATION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,49}")
_MI_CREDENTIALS: Final = frozenset({CredentialKind.MANAGED_IDENTITY, CredentialKind.DEFAULT})

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class _Problem:
    """One thing wrong with a config, at a key path relative to where it was raised."""

    loc: Loc
    message: str


class _KeyedProblems(ValueError):
    """Raised inside validators to report problems at precise key paths below the validator.

    Pydantic keeps the exception in the error's ``ctx``; the loader expands it.
    """

    def __init__(self, problems: Sequence[_Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


def _key_path(loc: Loc) -> str:
    """``("vaults", 2, "id")`` → ``vaults[2].id``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _describe(value: object) -> str:
    """A short, YAML-flavoured description of a value for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- single values ------------------------------------------------------------------------


def _check_vault_id(text: str) -> str:
    VaultId.parse(text)
    return text


def _check_automation_account(text: str) -> str:
    """``keep`` (any case) normalises to KEEP_ACCOUNT; anything else must be an account id."""
    if text.lower() == KEEP_ACCOUNT:
        return KEEP_ACCOUNT
    try:
        _, _, name = split_resource_id(text, "Microsoft.Automation", "automationAccounts")
        if not _AUTOMATION_NAME.fullmatch(name):
            raise ValueError(
                f"account name {name!r} must be 1-50 letters, digits and '-', starting with a letter"
            )
    except ValueError as exc:
        raise ValueError(f"not an Automation account id or `keep`: {exc}") from None
    return text


def _canonical_auth_type(value: object) -> object:
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


def _check_arm_endpoint(url: str) -> str:
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


def _check_audience(url: str) -> str:
    _absolute_url(url)
    return url


def _api_version_text(value: object) -> object:
    """An unquoted ``2021-12-01`` reaches us as a YAML date: take it back as text."""
    return value.isoformat() if isinstance(value, datetime.date) else value


def _check_api_version(text: str) -> str:
    match = _API_VERSION.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        datetime.date.fromisoformat(match.group(1))
    except ValueError:
        raise ValueError(f"must look like 2021-12-01 or 2021-12-01-preview, got {text!r}") from None
    return text


def _sane_window(limit: WindowLimit) -> WindowLimit:
    if limit.calls > MAX_LIMIT_CALLS:
        message = f"{limit.calls} is absurd: at most {MAX_LIMIT_CALLS:,} calls per window"
        raise _KeyedProblems([_Problem(("calls",), message)])
    return limit


def _no_nul(text: str) -> str:
    if "\0" in text:
        raise ValueError("must not contain a NUL character")
    return text


VaultIdText = Annotated[str, AfterValidator(_check_vault_id)]
AccountText = Annotated[str, AfterValidator(_check_automation_account)]
AuthType = Annotated[AuthenticationType, BeforeValidator(_canonical_auth_type)]


def _check_client_id(text: str) -> str:
    return check_guid(text, "client id")


SubscriptionGuid = Annotated[str, AfterValidator(check_guid)]
ClientGuid = Annotated[str, AfterValidator(_check_client_id)]
Window = Annotated[WindowLimit, AfterValidator(_sane_window)]


def _check_exclusion(entry: str) -> str:
    if entry.startswith("/"):
        VaultId.parse(entry)
    else:
        check_vault_name(entry)
    return entry


# --- the models ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


def _entry_input(data: object, kind: str, key: str) -> object:
    """Entries may be a bare string (their ``key``) or a mapping; say so when neither."""
    if isinstance(data, str):
        return {key: data}
    if isinstance(data, dict | BaseModel):
        return data
    raise ValueError(f"expected a {kind} or a mapping with `{key}`, got {_describe(data)}")


class LimitsConfig(_Model):
    scope: LimitScope = LimitScope.RUN
    """run: one set of limiters for the whole run; subscription: one per subscription."""
    set: Window = DEFAULT_SET_LIMIT
    """PATCH calls allowed in any sliding window."""
    get: Window = DEFAULT_GET_LIMIT
    """GET calls (lists, polls, discovery) allowed in any sliding window."""


class VaultEntry(_Model):
    """A vault id, or a mapping with the id and per-vault overrides."""

    id: VaultIdText
    action: Action | None = None
    automation_account: AccountText | None = None
    authentication_type: AuthType | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: object) -> object:
        return _entry_input(data, "vault id", "id")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "description": "a vault id"}, handler(core_schema)]}


class SubscriptionEntry(_Model):
    """A subscription GUID, or a mapping with the id and filters."""

    id: SubscriptionGuid
    resource_groups: list[Annotated[str, AfterValidator(check_resource_group)]] | None = None
    """Only vaults in these groups (any case). Omit for every group."""
    exclude: list[Annotated[str, AfterValidator(_check_exclusion)]] = []
    """Vault names or vault ids to leave alone."""

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: object) -> object:
        return _entry_input(data, "subscription id", "id")

    @model_validator(mode="after")
    def _check_filters(self) -> Self:
        problems = []
        if self.resource_groups == []:
            problems.append(_Problem(("resource_groups",), "is empty: omit it to take every group"))
        for index, entry in enumerate(self.exclude):
            if (
                entry.startswith("/")
                and VaultId.parse(entry).subscription_id.lower() != self.id.lower()
            ):
                message = f"{entry!r} is a vault of another subscription"
                problems.append(_Problem(("exclude", index), message))
        if problems:
            raise _KeyedProblems(problems)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "description": "a GUID"}, handler(core_schema)]}


def _subscriptions_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "all"
    return "list" if isinstance(value, list | tuple) else None


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# The union tags appear in pydantic's error locations; the loader drops them.
_SUBSCRIPTION_TAGS: Final = frozenset({"all", "list"})
Subscriptions = Annotated[
    Annotated[list[SubscriptionEntry], Tag("list")]
    | Annotated[Literal["all"], BeforeValidator(_lower), Tag("all")],
    Discriminator(
        _subscriptions_kind,
        custom_error_type="subscriptions_type",
        custom_error_message="expected `all` or a list of subscriptions",
    ),
]


class Config(_Model):
    """A whole config file. Validation checks each key, then the whole (targets, accounts)."""

    action: Action
    """enable or disable auto-update (required)."""
    automation_account: AccountText | None = None
    """The Automation account's ARM id, or `keep`; required when any target enables."""
    authentication_type: AuthType = AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
    cloud: Cloud = Cloud.AZURE_CLOUD
    arm_endpoint: Annotated[str, AfterValidator(_check_arm_endpoint)] | None = None
    """Overrides the cloud's ARM endpoint: https://, or http:// for a loopback host only."""
    token_audience: Annotated[str, AfterValidator(_check_audience)] | None = None
    """Overrides the cloud's token audience."""
    api_version: Annotated[
        str, BeforeValidator(_api_version_text), AfterValidator(_check_api_version)
    ] = DEFAULT_API_VERSION
    credential: CredentialKind = CredentialKind.DEFAULT
    managed_identity_client_id: ClientGuid | None = None
    """Client id of a user-assigned managed identity."""
    limits: LimitsConfig = LimitsConfig()
    timeout_minutes: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_MINUTES)] = DEFAULT_TIMEOUT_MINUTES
    """Deadline for the whole run, in minutes (fractions allowed)."""
    lock_file: Annotated[str, Field(min_length=1), AfterValidator(_no_nul)] | None = None
    """While a run holds this file, a second run exits 5."""
    vaults: list[VaultEntry] = []
    subscriptions: Subscriptions | None = None
    """Every vault found in these subscriptions, or `all` the credential can see."""
    emulator: FleetSpec | None = None
    """Run against the built-in emulator with this fleet instead of Azure."""

    @model_validator(mode="after")
    def _check_whole(self) -> Self:
        problems = [*self._target_problems(), *self._account_problems()]
        if problems:
            raise _KeyedProblems(problems)
        return self

    def _target_problems(self) -> Iterator[_Problem]:
        if not self.vaults and not self.subscriptions:
            yield _Problem(("vaults",), "no targets: list vaults, or give `subscriptions`")
        yield from _duplicates("vaults", [VaultId.parse(v.id).key for v in self.vaults])
        if isinstance(self.subscriptions, list):
            ids = [entry.id.lower() for entry in self.subscriptions]
            yield from _duplicates("subscriptions", ids)

    def _account_problems(self) -> Iterator[_Problem]:
        """``enable`` anywhere needs an account, from the vault entry or the top level."""
        top_needed = self.action is Action.ENABLE and bool(self.subscriptions)
        for index, vault in enumerate(self.vaults):
            enables = (vault.action or self.action) is Action.ENABLE
            if not enables or vault.automation_account or self.automation_account:
                continue
            if vault.action is None:
                top_needed = True
            else:
                message = "required when the vault's action is enable (an account id, or `keep`)"
                yield _Problem(("vaults", index, "automation_account"), message)
        if top_needed and self.automation_account is None:
            message = "required when action is enable (an Automation account id, or `keep`)"
            yield _Problem(("automation_account",), message)

    def warnings(self) -> tuple[str, ...]:
        """Accepted but doubtful settings, each naming its key path."""
        found: list[str] = []
        run_as = AuthenticationType.RUN_AS_ACCOUNT
        retired = "RunAsAccount is retired by Azure; prefer SystemAssignedIdentity"
        if self.authentication_type is run_as:
            found.append(f"authentication_type: {retired}")
        top_account_used = self.action is Action.ENABLE
        for index, vault in enumerate(self.vaults):
            action = vault.action or self.action
            if vault.authentication_type is run_as:
                found.append(f"vaults[{index}].authentication_type: {retired}")
            if action is Action.DISABLE and vault.automation_account is not None:
                found.append(
                    f"vaults[{index}].automation_account: ignored, the vault's action is disable"
                )
            top_account_used |= action is Action.ENABLE and vault.automation_account is None
        if self.automation_account is not None and not top_account_used:
            found.append("automation_account: ignored, no target enables")
        if self.managed_identity_client_id is not None and self.credential not in _MI_CREDENTIALS:
            found.append(
                f"managed_identity_client_id: ignored with credential {self.credential.value}"
                " (it applies to managed_identity and default)"
            )
        return tuple(found)

    @property
    def endpoint(self) -> str:
        """The ARM endpoint requests go to, without a trailing slash."""
        return (self.arm_endpoint or CLOUDS[self.cloud].arm_endpoint).rstrip("/")

    @property
    def audience(self) -> str:
        return self.token_audience or CLOUDS[self.cloud].token_audience

    @property
    def token_scope(self) -> str:
        """The audience plus ``/.default``, literally: ARM's audience ends in '/' already."""
        return self.audience + "/.default"

    @property
    def authority_host(self) -> str:
        return CLOUDS[self.cloud].authority_host

    def default_desired(self) -> DesiredState:
        """The state for vaults with no overrides, including every discovered vault."""
        return _desired(self.action, self.automation_account, self.authentication_type)

    def vault_targets(self) -> list[VaultTarget]:
        """The explicit vaults in file order, each with its overrides resolved."""
        return [
            VaultTarget(
                VaultId.parse(entry.id),
                _desired(
                    entry.action or self.action,
                    entry.automation_account or self.automation_account,
                    entry.authentication_type or self.authentication_type,
                ),
            )
            for entry in self.vaults
        ]

    def subscription_targets(self) -> list[SubscriptionTarget] | Literal["all"] | None:
        """The subscriptions to discover vaults in, `all` of them, or None for no discovery."""
        if self.subscriptions is None or self.subscriptions == "all":
            return self.subscriptions
        return [
            SubscriptionTarget.of(entry.id, entry.resource_groups, entry.exclude)
            for entry in self.subscriptions
        ]


def _desired(
    action: Action, account: str | None, authentication_type: AuthenticationType
) -> DesiredState:
    # disable never sends an account, so none is carried: DesiredState's contract.
    kept = account if action is Action.ENABLE else None
    return DesiredState(action, kept, authentication_type)


def _duplicates(field: str, keys: Sequence[str]) -> Iterator[_Problem]:
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            yield _Problem((field, index, "id"), f"duplicate of {field}[{first[key]}]")
        else:
            first[key] = index


# --- the loader: file → YAML → Config, every failure one ConfigError ----------------------

MAX_CONFIG_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 40  # nesting levels, counted after alias expansion
MAX_VALUES: Final = 200_000  # YAML nodes after alias expansion: refuses "billion laughs"
_MAX_LISTED: Final = 10  # further problems listed under the first one
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class LoadedConfig:
    """A config that passed every check, where it came from, and what was doubtful in it."""

    path: Path
    config: Config
    warnings: tuple[str, ...]


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and check a config file. Nothing here touches the network.

    Raises ConfigError naming the file, the key path and the problem. When there are several,
    the first line holds the first and the rest follow, one per line.
    """
    name = os.fspath(path)
    data = _parse(_read_text(name), name)
    if data is None:
        raise ConfigError(name, "", "the file is empty: it needs at least `action` and a target")
    if not isinstance(data, dict):
        got = _describe(data)
        raise ConfigError(name, "", f"the top level must be a mapping of keys, got {got}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
        _fail(name, problems + _uncovered(_coercions(data, Config, ()), problems), exc)
    coerced = list(_coercions(data, Config, ()))
    if coerced:
        _fail(name, coerced, None)
    return LoadedConfig(Path(path), config, config.warnings())


def _read_text(name: str) -> str:
    """The file's text, refusing what is not a small regular UTF-8 file, without blocking."""
    try:
        # O_NONBLOCK: a FIFO must not hang the open; fstat below then refuses it.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise ConfigError(name, "", "no such file") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(name, "", f"cannot open the file: {_os_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
        mode, size = info.st_mode, info.st_size
        if stat.S_ISDIR(mode):
            raise ConfigError(name, "", "is a directory, not a config file")
        if not stat.S_ISREG(mode):
            raise ConfigError(name, "", "is not a regular file (a FIFO, socket or device?)")
        raw = b"" if size > MAX_CONFIG_BYTES else _read_at_most(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read the file: {_os_reason(exc)}") from exc
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES or len(raw) > MAX_CONFIG_BYTES:
        too_big = f"is larger than 1 MiB ({max(size, len(raw)):,} bytes or more): refused"
        raise ConfigError(name, "", too_big)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = f"is not UTF-8 text: byte {raw[exc.start]:#04x} at offset {exc.start}"
        raise ConfigError(name, "", bad) from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _os_reason(exc: OSError | ValueError) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


class _RefusedYaml(yaml.MarkedYAMLError):
    """YAML this loader will not build: duplicate keys, too deep, or expanding too far."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and deep nesting while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0  # nesting of the node being composed; recursion would otherwise blow up

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # stubs lack it
            raise _RefusedYaml(problem=f"nested more than {MAX_DEPTH} levels", problem_mark=mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        # PyYAML keeps the last of two equal keys silently; a repeated `action:` must not.
        first: dict[tuple[str, str], int] = {}  # (tag, text) → line of its first use
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            if (key.tag, key.value) in first:
                problem = f"duplicate key {key.value!r} (first at line {first[key.tag, key.value]})"
                raise _RefusedYaml(problem=problem, problem_mark=key.start_mark)
            first[key.tag, key.value] = key.start_mark.line + 1
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # PyYAML lets datetime's ValueError out for dates such as 2021-13-45: give it a line.
            problem = f"cannot read this value: {exc}"
            raise _RefusedYaml(problem=problem, problem_mark=node.start_mark) from exc


class _Expansion:
    """Measures a composed YAML graph as the tree it expands to, in time linear in its nodes."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, int]] = {}  # id(node) → (values, height) once measured
        self._open: set[int] = set()  # nodes on the current path: meeting one again is a cycle

    def measure(self, node: Node, depth: int = 1) -> tuple[int, int]:
        """Return (values, height) of ``node``'s expansion; raise _RefusedYaml past the limits."""
        if depth > MAX_DEPTH:
            raise _RefusedYaml(
                problem=f"nested more than {MAX_DEPTH} levels (through aliases)",
                problem_mark=node.start_mark,
            )
        known = self._known.get(id(node))
        if known is None:
            if id(node) in self._open:
                raise _RefusedYaml(
                    problem="an alias refers to a node that contains it",
                    problem_mark=node.start_mark,
                )
            self._open.add(id(node))
            known = self._measure_children(node, depth)
            self._open.discard(id(node))
            self._known[id(node)] = known
        if depth + known[1] - 1 > MAX_DEPTH:
            raise _RefusedYaml(
                problem=f"nested more than {MAX_DEPTH} levels (through aliases)",
                problem_mark=node.start_mark,
            )
        return known

    def _measure_children(self, node: Node, depth: int) -> tuple[int, int]:
        if isinstance(node, SequenceNode):
            children: list[Node] = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            return 1, 1
        values, height = 1, 1
        for child in children:
            child_values, child_height = self.measure(child, depth + 1)
            values += child_values
            height = max(height, child_height + 1)
            if values > MAX_VALUES:
                problem = f"aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)"
                raise _RefusedYaml(problem=problem, problem_mark=child.start_mark)
        return values, height


def _parse(text: str, name: str) -> object:
    """The YAML document's data, or None when it holds nothing but comments and space."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(name, "", _reader_message(text, exc)) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Expansion().measure(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(name, "", _yaml_message(exc)) from exc
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise ConfigError(name, "", f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _reader_message(text: str, exc: yaml.reader.ReaderError) -> str:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    where = f"line {line}, column {column}"
    return f"invalid YAML at {where}: character U+{exc.character:04X} is not allowed in YAML"


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    detail = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.problem.startswith("but "):
        detail = f"{exc.context}, {exc.problem}"  # "expected a single document…, but found…"
    if exc.problem_mark is None:
        return f"invalid YAML: {detail}"
    mark = exc.problem_mark
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {detail}"


# --- pydantic's errors, made readable -----------------------------------------------------

_PLAIN: Final = {
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_too_short": "must not be empty",
}
_SHOULD: Final = re.compile(r"^(?:Input|Tuple|List|String|Dictionary|Value) should ")
_BOOLEAN_HINT: Final = " (YAML reads unquoted true/false/yes/no/on/off as booleans: quote it)"


def _pydantic_problems(exc: ValidationError) -> list[_Problem]:
    problems: list[_Problem] = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, _KeyedProblems):
            problems.extend(_Problem(loc + p.loc, p.message) for p in cause.problems)
        else:
            problems.append(_problem_from(error, loc))
    return problems


def _clean_loc(loc: Loc) -> Loc:
    """Drop the union tag pydantic puts after ``subscriptions``: it is not a key."""
    if len(loc) > 1 and loc[0] == "subscriptions" and loc[1] in _SUBSCRIPTION_TAGS:
        return (loc[0], *loc[2:])
    return tuple(loc)


def _problem_from(error: ErrorDetails, loc: Loc) -> _Problem:
    kind, value = error["type"], error["input"]
    if kind == "missing":
        return _Problem(loc, "required, but missing")
    if kind == "extra_forbidden":
        return _Problem(loc, _unknown_key(loc))
    if kind == "invalid_key":
        return _Problem(loc[:-1], f"keys must be strings, got {_describe(value)}")
    if kind == "value_error":
        return _Problem(loc, error["msg"].removeprefix("Value error, "))
    message = _PLAIN.get(kind) or _SHOULD.sub("must ", error["msg"])
    hint = _BOOLEAN_HINT if isinstance(value, bool) else ""
    return _Problem(loc, f"{message}, got {_describe(value)}{hint}")


def _unknown_key(loc: Loc) -> str:
    name, parent = str(loc[-1]), loc[:-1]
    where = f"in {_key_path(parent)}" if parent else "at the top level"
    allowed = _fields_at(parent)
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"unknown key {name!r} {where} (did you mean {close[0]!r}?)"
    listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"unknown key {name!r} {where}{listed}"


def _options(annotation: object) -> Iterator[object]:
    """The types an annotation admits, through Annotated and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _options(get_args(annotation)[0])
    elif origin is Union or origin is UnionType:
        for arg in get_args(annotation):
            yield from _options(arg)
    else:
        yield annotation


def _annotation_at(loc: Loc) -> object | None:
    """The declared type at a key path of Config, or None where the path leaves the model."""
    current: object = Config
    for part in loc:
        current = next(filter(None, (_step(option, part) for option in _options(current))), None)
        if current is None:
            return None
    return current


def _step(option: object, part: str | int) -> object | None:
    origin = get_origin(option)
    if isinstance(part, int):
        return get_args(option)[0] if origin in (list, tuple) else None
    if origin is None and isinstance(option, type) and issubclass(option, BaseModel):
        field = option.model_fields.get(part)
        return None if field is None else field.annotation
    return None


def _fields_at(loc: Loc) -> list[str]:
    for option in _options(_annotation_at(loc)):
        if (
            get_origin(option) is None
            and isinstance(option, type)
            and issubclass(option, BaseModel)
        ):
            return list(option.model_fields)
    return []


def _coercions(data: object, annotation: object, loc: Loc) -> Iterator[_Problem]:
    """Values that pydantic's lax mode would turn into numbers: booleans, numeric strings."""
    options = list(_options(annotation))
    if isinstance(data, dict | list | tuple):
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for part, value in items:
            if isinstance(part, str | int) and not isinstance(part, bool):
                child = next(filter(None, (_step(option, part) for option in options)), None)
                if child is not None:
                    yield from _coercions(value, child, (*loc, part))
        return
    numeric = [option for option in options if option is not type(None)]
    if not numeric or any(option not in (int, float) for option in numeric):
        return
    if data is None and type(None) in options:
        return
    if isinstance(data, bool) or not isinstance(data, int | float):
        what = f"the boolean {_describe(data)}" if isinstance(data, bool) else _describe(data)
        yield _Problem(loc, f"must be a number, got {what}")


def _uncovered(extra: Iterator[_Problem], known: Sequence[_Problem]) -> list[_Problem]:
    """The extra problems not at, above or below a key path already reported."""
    reported = {problem.loc for problem in known}
    above = {problem.loc[:i] for problem in known for i in range(len(problem.loc) + 1)}
    return [
        problem
        for problem in extra
        if problem.loc not in above
        and not any(problem.loc[:i] in reported for i in range(len(problem.loc)))
    ]


def _fail(name: str, problems: Sequence[_Problem], cause: BaseException | None) -> NoReturn:
    first, rest = problems[0], problems[1:]
    message = first.message
    if rest:
        lines = [f"  {_key_path(p.loc) or '(top level)'}: {p.message}" for p in rest[:_MAX_LISTED]]
        if len(rest) > _MAX_LISTED:
            lines.append(f"  … and {len(rest) - _MAX_LISTED} more")
        message += f"\n{len(rest)} more problem(s):\n" + "\n".join(lines)
    raise ConfigError(name, _key_path(first.loc), message) from cause
