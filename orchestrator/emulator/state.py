"""Everything the emulator knows: the fleet, operations, tokens, limits, faults and counters.

`EmulatorState` is what tests and benchmarks read (`mapping`, `mappings`, `counters`,
`journal`); the HTTP layer (`app`) drives it. Time comes only from the injected clock.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Iterator

from orchestrator.emulator.clock import Clock
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.fleet import Fleet, MappingRecord, generate_fleet
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.emulator.journal import DEFAULT_JOURNAL_SIZE, Counters, Journal, RequestKind
from orchestrator.emulator.operations import OperationBook
from orchestrator.emulator.payloads import JsonObject, mapping_json
from orchestrator.emulator.routes import arm_key
from orchestrator.emulator.tokens import TokenBook
from orchestrator.emulator.windows import SlidingWindow

DEFAULT_IDENTITY_HEADER = "emulator"


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        # Outside a loop (a test reading state after asyncio.run): the default loop's clock.
        return time.monotonic()


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
            self.fleet.subscriptions[number - 1].id.lower()
            for number in spec.forbidden_subscriptions
            if number <= len(self.fleet.subscriptions)
        )
        self.operations = OperationBook()
        self.counters = Counters(peak_window={RequestKind.GET: 0, RequestKind.SET: 0})
        self.journal = Journal(journal_size)
        self.tokens = TokenBook(
            spec.token_lifetime_seconds, early_expiry_seconds=spec.faults.token_early_expiry_seconds
        )
        self.faults = FaultInjector(spec.faults, spec.seed)
        self.windows = {
            RequestKind.GET: SlidingWindow(spec.limits.get.calls, spec.limits.get.per_seconds),
            RequestKind.SET: SlidingWindow(spec.limits.set.calls, spec.limits.set.per_seconds),
        }
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

    @property
    def subscription_ids(self) -> list[str]:
        """Subscription ids, in listing order."""
        return [subscription.id for subscription in self.fleet.subscriptions]

    def vault_ids(self) -> list[str]:
        """Vault ids, in listing order."""
        return [vault.id for vault in self.fleet.vaults.values()]

    def mapping_record(self, mapping_key: str, now: float) -> MappingRecord | None:
        """The record under a lower-cased id, with operations that ended by ``now`` applied."""
        record = self.fleet.mappings.get(mapping_key)
        if record is not None:
            self.operations.settle(record, now)
        return record

    def mapping(self, mapping_id: str) -> JsonObject:
        """A mapping's current JSON (a deep copy), by id in any case; KeyError if unknown."""
        record = self.mapping_record(arm_key(mapping_id), self.now())
        if record is None:
            raise KeyError(mapping_id)
        return copy.deepcopy(mapping_json(record))

    def mappings(self) -> Iterator[JsonObject]:
        """Every mapping's current JSON, vault by vault in listing order."""
        now = self.now()
        for record in self.fleet.mappings.values():
            self.operations.settle(record, now)
            yield copy.deepcopy(mapping_json(record))

    def arrive(self, kind: RequestKind, now: float) -> None:
        """Count an arriving request of ``kind`` (and, for ARM kinds, its window peak)."""
        self.counters.requests[kind] += 1
        window = self.windows.get(kind)
        if window is not None:
            window.arrive(now)
            self.counters.peak_window[kind] = window.peak
