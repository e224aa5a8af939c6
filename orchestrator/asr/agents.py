"""Mobility agents: read a replicated item's A2A details and say whether its agent is current.

Pure functions, no I/O. ``agent_state`` (DESIGN "Audit"): ``update_required`` when either
update flag is true; ``expired`` when an expiry date (the agent's or its certificate's) has
passed; ``expiring`` when one falls within the warning window; ``unknown`` when ASR gave none of
the fields; ``current`` otherwise. A passed expiry outranks a pending update: the agent no
longer works at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, NamedTuple

from orchestrator.asr.mapping import kind_of, optional_str, shared
from orchestrator.errors import ArmResponseError

A2A: Final = "A2A"
_FIELDS: Final = (
    "agentVersion",
    "isReplicationAgentUpdateRequired",
    "agentExpiryDate",
    "isReplicationAgentCertificateUpdateRequired",
    "agentCertificateExpiryDate",
    "lastHeartbeat",
)


class AgentState(StrEnum):
    CURRENT = "current"
    UPDATE_REQUIRED = "update_required"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """One replicated item's Mobility agent, as its A2A replication details describe it."""

    id: str
    name: str
    agent_version: str | None
    update_required: bool | None
    agent_expiry: datetime | None
    certificate_update_required: bool | None
    certificate_expiry: datetime | None
    last_heartbeat: datetime | None
    known: bool  # at least one of the agent fields was given


class AgentRecord(NamedTuple):
    """One judged agent, as an audit keeps it until its report is written.

    A tuple, not an object: an audit of 40,000 vaults keeps hundreds of thousands of these,
    and times as epoch seconds cost a third of datetimes. The name is the id's last segment.
    """

    id: str
    agent_version: str | None
    state: AgentState
    agent_expiry: float | None
    certificate_expiry: float | None
    last_heartbeat: float | None

    @classmethod
    def of(cls, agent: AgentSnapshot, state: AgentState) -> AgentRecord:
        return cls(
            agent.id,
            shared(agent.agent_version),
            state,
            _epoch(agent.agent_expiry),
            _epoch(agent.certificate_expiry),
            _epoch(agent.last_heartbeat),
        )

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def parse_protected_item(raw: object) -> AgentSnapshot | None:
    """The agent of one element of a replicated-item list; ``None`` for an item that is not A2A.

    Raises ArmResponseError when the item's shape is not ARM's (no id, wrong types).
    """
    if not isinstance(raw, Mapping):
        raise ArmResponseError(f"a replicated item is {kind_of(raw)}, expected an object")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise ArmResponseError("a replicated item has no 'id' string")
    where = f"replicated item {item_id}"
    properties = raw.get("properties")
    if not isinstance(properties, Mapping):
        raise ArmResponseError(f"{where}: properties is {kind_of(properties)}, expected an object")
    details = properties.get("providerSpecificDetails")
    if not isinstance(details, Mapping):
        return None
    if (optional_str(details, "instanceType", where, "") or "").casefold() != A2A.casefold():
        return None
    name = optional_str(raw, "name", where, "") or item_id.rstrip("/").rsplit("/", 1)[-1]
    return AgentSnapshot(
        id=item_id,
        name=name,
        agent_version=optional_str(details, "agentVersion", where, ""),
        update_required=_flag(details, "isReplicationAgentUpdateRequired", where),
        agent_expiry=_time(details, "agentExpiryDate", where),
        certificate_update_required=_flag(
            details, "isReplicationAgentCertificateUpdateRequired", where
        ),
        certificate_expiry=_time(details, "agentCertificateExpiryDate", where),
        last_heartbeat=_time(details, "lastHeartbeat", where),
        known=any(details.get(key) is not None for key in _FIELDS),
    )


def classify(agent: AgentSnapshot, *, now: datetime, warning_days: float) -> AgentState:
    """The agent's state at ``now`` (aware), with expiries within ``warning_days`` expiring."""
    if not agent.known:
        return AgentState.UNKNOWN
    expiries = [when for when in (agent.agent_expiry, agent.certificate_expiry) if when]
    if any(when <= now for when in expiries):
        return AgentState.EXPIRED
    if agent.update_required or agent.certificate_update_required:
        return AgentState.UPDATE_REQUIRED
    horizon = now + timedelta(days=warning_days)
    if any(when <= horizon for when in expiries):
        return AgentState.EXPIRING
    return AgentState.CURRENT


def _flag(details: Mapping[str, object], key: str, where: str) -> bool | None:
    value = details.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ArmResponseError(f"{where}: {key} is {kind_of(value)}, expected a boolean")


def _time(details: Mapping[str, object], key: str, where: str) -> datetime | None:
    """An ARM timestamp; one without a zone is taken as UTC (ASR writes UTC)."""
    text = optional_str(details, key, where, "")
    if text is None or not text.strip():
        return None
    parsed = parse_arm_time(text)
    if parsed is None:
        raise ArmResponseError(f"{where}: {key} is not a timestamp")
    return parsed


def parse_arm_time(text: str) -> datetime | None:
    """An ARM timestamp (ISO 8601, up to 7 fractional digits, ``Z`` or an offset or no zone)."""
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        # Python reads at most 6 fractional digits; ARM writes 7.
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
