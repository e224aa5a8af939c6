"""What a run targets: vault ids, subscription filters, and the merged per-vault target list.

ARM ids are case-insensitive: identity is always :attr:`VaultId.key`, never the text as given.
This module also holds the ARM resource-id grammar that the config reuses for Automation
account ids (:func:`split_resource_id`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.asr.desired import DesiredState

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# ARM allows Unicode letters and digits in group names; `\w` also covers the underscore.
_RESOURCE_GROUP = re.compile(r"[\w\-.()]+")
_VAULT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_VAULT_PROVIDER = "Microsoft.RecoveryServices"
_VAULT_TYPE = "vaults"


def check_guid(text: str, what: str = "subscription id") -> str:
    """Return ``text`` if it is a GUID (``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``), else raise ValueError."""
    if not _GUID.fullmatch(text):
        raise ValueError(f"{what} {text!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return text


def check_resource_group(name: str) -> str:
    """Return ``name`` if ARM accepts it as a resource group name, else raise ValueError."""
    if not 1 <= len(name) <= 90:
        raise ValueError(f"resource group name {name!r} must be 1-90 characters long")
    if not _RESOURCE_GROUP.fullmatch(name):
        raise ValueError(
            f"resource group name {name!r} may hold only letters, digits and _ - . ( )"
        )
    if name.endswith("."):
        raise ValueError(f"resource group name {name!r} must not end with '.'")
    return name


def check_vault_name(name: str) -> str:
    """Return ``name`` if ARM accepts it as a Recovery Services vault name, else raise ValueError."""
    if not 2 <= len(name) <= 50:
        raise ValueError(f"vault name {name!r} must be 2-50 characters long")
    if not _VAULT_NAME.fullmatch(name):
        raise ValueError(
            f"vault name {name!r} must start with a letter and hold only letters, digits and '-'"
        )
    return name


def split_resource_id(text: str, provider: str, resource_type: str) -> tuple[str, str, str]:
    """Split ``/subscriptions/{guid}/resourceGroups/{rg}/providers/{provider}/{type}/{name}``.

    Returns ``(subscription_id, resource_group, name)`` with their case as given; the fixed
    segments match case-insensitively. Raises ValueError naming the first thing that is wrong.
    Checks the subscription GUID and the group name; the caller checks the resource name.
    """
    shape = f"/subscriptions/{{guid}}/resourceGroups/{{group}}/providers/{provider}/{resource_type}/{{name}}"
    if not text.startswith("/"):
        raise ValueError(f"must start with '/subscriptions/' (expected {shape})")
    if text.endswith("/"):
        raise ValueError("must not end with '/'")
    segments = text[1:].split("/")
    if len(segments) != 8:
        raise ValueError(f"expected 8 segments ({shape}), got {len(segments)}")
    fixed = {0: "subscriptions", 2: "resourceGroups", 4: "providers", 5: provider, 6: resource_type}
    for index, expected in fixed.items():
        if segments[index].lower() != expected.lower():
            raise ValueError(f"segment {index + 1} must be {expected!r}, got {segments[index]!r}")
    subscription_id, group, name = segments[1], segments[3], segments[7]
    check_guid(subscription_id)
    check_resource_group(group)
    return subscription_id, group, name


@dataclass(frozen=True, slots=True)
class VaultId:
    """A Recovery Services vault, by subscription, resource group and name (case as given)."""

    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, text: str) -> VaultId:
        """Parse a vault's ARM id; also takes the ``/Subscriptions/`` casing ARM returns.

        Raises ValueError (``not a vault id: <reason>``) for anything else.
        """
        try:
            subscription_id, group, name = split_resource_id(text, _VAULT_PROVIDER, _VAULT_TYPE)
            check_vault_name(name)
        except ValueError as exc:
            raise ValueError(f"not a vault id: {exc}") from None
        return cls(subscription_id, group, name)

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{_VAULT_PROVIDER}/{_VAULT_TYPE}/{self.name}"
        )

    @property
    def key(self) -> str:
        """The lower-cased ARM id: equal for every spelling of the same vault."""
        return self.arm_id.lower()

    def __str__(self) -> str:
        return self.arm_id


@dataclass(frozen=True, slots=True)
class VaultTarget:
    """One vault and the state its mappings are driven to.

    ``problem``: why the vault cannot be worked at all (its account template fills to no
    account id); its listing is not even tried. ``only``: when set, the run considers just
    these mappings (lower-cased ids), each with its own desired state or, for None, the
    vault's (``--retry``, ``--restore``); the vault's other mappings are not this run's.
    """

    vault: VaultId
    desired: DesiredState
    problem: str | None = None
    only: Mapping[str, DesiredState | None] | None = None

    def selects(self, mapping_id: str) -> bool:
        """Whether a listed mapping is among this run's."""
        return self.only is None or mapping_id.lower() in self.only

    def desired_for(self, mapping_id: str) -> DesiredState:
        """The state ``mapping_id`` is driven to: its own (``--restore``) or the vault's."""
        own = self.only.get(mapping_id.lower()) if self.only is not None else None
        return own or self.desired


def _exclusion_key(entry: str) -> str:
    """A vault id becomes its :attr:`VaultId.key`; anything else is a lower-cased vault name."""
    try:
        return VaultId.parse(entry).key
    except ValueError:
        return entry.lower()


@dataclass(frozen=True, slots=True)
class SubscriptionTarget:
    """A subscription whose vaults are discovered, with its optional filters.

    ``resource_groups`` (None: every group) and ``exclude`` (vault names or vault ids) are
    normalised on construction, so any spelling may be passed in.
    """

    subscription_id: str
    resource_groups: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__: callers may pass any case.
        if self.resource_groups is not None:
            groups = frozenset(group.lower() for group in self.resource_groups)
            object.__setattr__(self, "resource_groups", groups)
        object.__setattr__(self, "exclude", frozenset(_exclusion_key(e) for e in self.exclude))

    @classmethod
    def of(
        cls,
        subscription_id: str,
        resource_groups: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> SubscriptionTarget:
        """Build a target from any iterables."""
        groups = None if resource_groups is None else frozenset(resource_groups)
        return cls(subscription_id, groups, frozenset(exclude))

    def admits(self, vault: VaultId) -> bool:
        """Whether a discovered vault is in this subscription, its groups, and not excluded."""
        if vault.subscription_id.lower() != self.subscription_id.lower():
            return False
        if (
            self.resource_groups is not None
            and vault.resource_group.lower() not in self.resource_groups
        ):
            return False
        return vault.name.lower() not in self.exclude and vault.key not in self.exclude


def merge_targets(
    explicit: Sequence[VaultTarget],
    discovered: Sequence[VaultId],
    target_of: Callable[[VaultId], VaultTarget],
) -> list[VaultTarget]:
    """Explicit targets first, then discovered vaults not already listed, each vault once.

    An explicit target keeps its own desired state (its per-vault overrides win); a discovered
    vault gets ``target_of(vault)``. Identity is case-insensitive; the first spelling is kept.
    """
    merged: list[VaultTarget] = []
    seen: set[str] = set()
    for target in explicit:
        if target.vault.key not in seen:
            seen.add(target.vault.key)
            merged.append(target)
    for vault in discovered:
        if vault.key not in seen:
            seen.add(vault.key)
            merged.append(target_of(vault))
    return merged
