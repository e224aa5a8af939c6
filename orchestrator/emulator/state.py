"""Everything the emulator knows: the fleet, operations, tokens, limits, faults and counters.

`EmulatorState` is what tests and benchmarks read (`mapping`, `mappings`, `counters`,
`journal`, `protected_items`, `automation_accounts`…); `serve` drives it. Time comes only from the
injected clock; the wall clock is read once, for the offset of printed timestamps.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
import uuid
from collections.abc import Iterator, Mapping

from orchestrator.emulator.automation import AutomationAccounts
from orchestrator.emulator.clock import Clock
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.fleet import Fleet, MappingRecord, VaultRecord, generate_fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.journal import DEFAULT_JOURNAL_SIZE, Counters, Journal, RequestKind
from orchestrator.emulator.operations import OperationBook
from orchestrator.emulator.payloads import JsonObject, mapping_json
from orchestrator.emulator.protected_items import ProtectedItemRecord, add_protected_items
from orchestrator.emulator.routes import arm_key
from orchestrator.emulator.server_time import ServerTime
from orchestrator.emulator.tokens import TokenBook
from orchestrator.emulator.topology import VaultTopology, build_topology
from orchestrator.emulator.windows import SlidingWindow

DEFAULT_IDENTITY_HEADER = "emulator"
ENABLED_STATE = "Enabled"


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        # Outside a loop (a test reading state after asyncio.run): the default loop's clock.
        return time.monotonic()


def _numbered(fleet: Fleet, by_number: Mapping[int, str]) -> dict[str, str]:
    """Values keyed by 1-based subscription number, re-keyed by lower-cased subscription id
    (numbers past a given fleet's subscriptions are ignored)."""
    subscriptions = fleet.subscriptions
    return {
        subscriptions[number - 1].id.lower(): value
        for number, value in by_number.items()
        if number <= len(subscriptions)
    }


def _list_forbidden(spec: FleetSpec, fleet: Fleet) -> frozenset[str]:
    """Keys of the vaults whose vault-level mapping list answers 403, drawn per vault."""
    share = spec.vault_list_forbidden_share
    if share <= 0:
        return frozenset()  # no draw at all: large fleets start as fast as before
    return frozenset(
        key for key in fleet.vaults if random.Random(f"{spec.seed}|list|{key}").random() < share
    )


class EmulatorState:
    """The emulated ARM + ASR world of one fleet spec.

    ``clock`` returns monotonic seconds (default: the running loop's ``time()``). Wall-clock
    timestamps in answers are derived from it with an offset fixed at first use, so moving an
    injected clock moves them too. ``journal_size=0`` turns the request journal off.
    """

    def __init__(
        self,
        spec: FleetSpec,
        *,
        fleet: Fleet | None = None,
        clock: Clock | None = None,
        identity_header: str = DEFAULT_IDENTITY_HEADER,
        journal_size: int = DEFAULT_JOURNAL_SIZE,
    ) -> None:
        self.spec = spec
        self.fleet = fleet if fleet is not None else generate_fleet(spec)
        self.identity_header = identity_header
        self.identity_client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.fleet.tenant_id))
        # lower-cased ids of the subscriptions where every ARM call answers 403
        self.forbidden_subscriptions = frozenset(
            _numbered(self.fleet, dict.fromkeys(spec.forbidden_subscriptions, ""))
        )
        # lower-cased subscription id -> state, for those not Enabled
        self.subscription_states = _numbered(self.fleet, spec.subscription_states)
        self.list_forbidden_vaults = _list_forbidden(spec, self.fleet)
        self.automation_accounts = AutomationAccounts(spec, self.fleet)
        self.server_time = ServerTime(spec)
        self.operations = OperationBook()
        self.counters = Counters(peak_window={RequestKind.GET: 0, RequestKind.SET: 0})
        self.journal = Journal(journal_size)
        self.tokens = TokenBook(
            spec.token_lifetime_seconds,
            early_expiry_seconds=spec.faults.token_early_expiry_seconds,
            audiences=spec.token_audiences,
        )
        self.faults = FaultInjector(spec.faults, spec.seed)
        self.windows = {
            RequestKind.GET: SlidingWindow(spec.limits.get.calls, spec.limits.get.per_seconds),
            RequestKind.SET: SlidingWindow(spec.limits.set.calls, spec.limits.set.per_seconds),
        }
        self._topologies: dict[str, VaultTopology] = {}  # vault key -> built on first use
        self._clock: Clock = clock if clock is not None else _loop_time
        self._epoch_offset: float | None = None  # wall seconds minus clock seconds

    def __repr__(self) -> str:
        return (
            f"EmulatorState(vaults={len(self.fleet.vaults)}, "
            f"mappings={len(self.fleet.mappings)}, operations={len(self.operations)})"
        )

    def now(self) -> float:
        """The emulator's clock."""
        return self._clock()

    def epoch(self, at: float) -> float:
        """Wall-clock (epoch) seconds of a clock reading."""
        if self._epoch_offset is None:
            self._epoch_offset = time.time() - self.now()
        return at + self._epoch_offset

    def print_time(self, at: float, *, whole_seconds: bool = False) -> str:
        """A clock reading as the server prints it (skew and zone as the spec says)."""
        return self.server_time.print(self.epoch(at), whole_seconds=whole_seconds)

    @property
    def subscription_ids(self) -> list[str]:
        """Subscription ids, in listing order."""
        return [subscription.id for subscription in self.fleet.subscriptions]

    def subscription_state(self, subscription_id: str) -> str:
        """A subscription's state (``Enabled`` unless the spec says otherwise)."""
        return self.subscription_states.get(subscription_id.lower(), ENABLED_STATE)

    def vault_ids(self) -> list[str]:
        """Vault ids, in listing order."""
        return [vault.id for vault in self.fleet.vaults.values()]

    def list_forbidden_vault_ids(self) -> list[str]:
        """Ids of the vaults whose vault-level mapping list answers 403, in listing order."""
        return [v.id for v in self.fleet.vaults.values() if v.key in self.list_forbidden_vaults]

    def vault(self, vault_id: str) -> VaultRecord | None:
        """A vault by id in any case."""
        return self.fleet.vaults.get(arm_key(vault_id))

    def topology(self, vault: VaultRecord) -> VaultTopology:
        """The vault's fabrics, containers and protected items (built on first use)."""
        found = self._topologies.get(vault.key)
        if found is None:
            found = build_topology(vault)
            add_protected_items(found, self.spec)
            self._topologies[vault.key] = found
        return found

    def protected_items(self, vault_id: str) -> list[ProtectedItemRecord]:
        """A vault's replication protected items, container by container; KeyError if unknown."""
        vault = self.vault(vault_id)
        if vault is None:
            raise KeyError(vault_id)
        return [item for c in self.topology(vault).containers() for item in c.items]

    def mapping_record(self, mapping_key: str, now: float) -> MappingRecord | None:
        """The record under a lower-cased id, with operations that ended by ``now`` applied."""
        record = self.fleet.mappings.get(mapping_key)
        if record is not None:
            self.operations.settle(record, now)
        return record

    def render(self, record: MappingRecord, now: float) -> JsonObject:
        """A mapping's JSON as answered at ``now`` (its ended operations applied first)."""
        self.operations.settle(record, now)
        return mapping_json(record, self.spec.tidy_bodies)

    def mapping(self, mapping_id: str) -> JsonObject:
        """A mapping's current JSON (a deep copy), by id in any case; KeyError if unknown."""
        record = self.fleet.mappings.get(arm_key(mapping_id))
        if record is None:
            raise KeyError(mapping_id)
        return copy.deepcopy(self.render(record, self.now()))

    def mappings(self) -> Iterator[JsonObject]:
        """Every mapping's current JSON, vault by vault in listing order."""
        now = self.now()
        for record in self.fleet.mappings.values():
            yield copy.deepcopy(self.render(record, now))

    def arrive(self, kind: RequestKind, now: float) -> None:
        """Count an arriving request of ``kind`` (and, for ARM kinds, its window peak)."""
        self.counters.requests[kind] += 1
        window = self.windows.get(kind)
        if window is not None:
            window.arrive(now)
            self.counters.peak_window[kind] = window.peak
