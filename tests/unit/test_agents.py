"""Mobility agents (audit): reading a replicated item's A2A details, and the agent's state."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.asr.agents import (
    AgentSnapshot,
    AgentState,
    classify,
    parse_arm_time,
    parse_protected_item,
)
from orchestrator.errors import ArmResponseError

ITEM_ID = (
    "/Subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
    "Microsoft.RecoveryServices/vaults/v1/replicationFabrics/f/replicationProtectionContainers/c/"
    "replicationProtectedItems/vm-1"
)
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
WARNING_DAYS = 30.0


def raw_item(**details: Any) -> dict[str, Any]:
    """A replicated item as listed: an A2A VM with a current agent, unless ``details`` differ."""
    specific: dict[str, Any] = {
        "instanceType": "A2A",
        "agentVersion": "9.62.7096.1",
        "isReplicationAgentUpdateRequired": False,
        "agentExpiryDate": "2027-11-25T00:00:00Z",
        "isReplicationAgentCertificateUpdateRequired": False,
        "agentCertificateExpiryDate": "2027-06-01T00:00:00Z",
        "lastHeartbeat": "2026-11-25T00:55:00.1234567Z",
        "recoveryAzureVMName": "vm-1",
    }
    specific.update(details)
    return {
        "id": ITEM_ID,
        "name": "vm-1",
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "properties": {"friendlyName": "vm-1", "providerSpecificDetails": specific},
    }


def agent(**changes: Any) -> AgentSnapshot:
    """A known agent that is current at NOW; ``changes`` override its fields."""
    fields: dict[str, Any] = {
        "id": ITEM_ID,
        "name": "vm-1",
        "agent_version": "9.62.7096.1",
        "update_required": False,
        "agent_expiry": NOW + timedelta(days=365),
        "certificate_update_required": False,
        "certificate_expiry": NOW + timedelta(days=180),
        "last_heartbeat": NOW - timedelta(minutes=5),
        "known": True,
    }
    fields.update(changes)
    return AgentSnapshot(**fields)


def state_of(snapshot: AgentSnapshot, warning_days: float = WARNING_DAYS) -> AgentState:
    return classify(snapshot, now=NOW, warning_days=warning_days)


# --- parse_protected_item ------------------------------------------------------------------------


def test_parse_reads_every_agent_field_of_an_a2a_item() -> None:
    assert parse_protected_item(raw_item()) == AgentSnapshot(
        id=ITEM_ID,
        name="vm-1",
        agent_version="9.62.7096.1",
        update_required=False,
        agent_expiry=datetime(2027, 11, 25, tzinfo=UTC),
        certificate_update_required=False,
        certificate_expiry=datetime(2027, 6, 1, tzinfo=UTC),
        last_heartbeat=datetime(2026, 11, 25, 0, 55, 0, 123456, tzinfo=UTC),
        known=True,
    )


def test_parse_takes_the_name_from_the_id_when_name_is_absent() -> None:
    raw = raw_item()
    del raw["name"]
    parsed = parse_protected_item(raw)
    assert parsed is not None
    assert parsed.name == "vm-1"


def test_the_instance_type_compares_case_insensitively() -> None:
    assert parse_protected_item(raw_item(instanceType="a2a")) is not None


@pytest.mark.parametrize("instance_type", ["HyperVReplicaAzure", "InMageRcm", "VMwareCbt", None])
def test_an_item_that_is_not_a2a_has_no_agent_to_report(instance_type: str | None) -> None:
    assert parse_protected_item(raw_item(instanceType=instance_type)) is None


@pytest.mark.parametrize("details", [None, "A2A", ["A2A"], "absent"])
def test_an_item_without_provider_details_has_no_agent_to_report(details: Any) -> None:
    raw = raw_item()
    if details == "absent":
        del raw["properties"]["providerSpecificDetails"]
    else:
        raw["properties"]["providerSpecificDetails"] = details
    assert parse_protected_item(raw) is None


def test_an_a2a_item_with_none_of_the_agent_fields_is_unknown() -> None:
    raw = raw_item()
    raw["properties"]["providerSpecificDetails"] = {"instanceType": "A2A", "otherKey": 1}
    parsed = parse_protected_item(raw)
    assert parsed is not None
    assert parsed.known is False
    assert (parsed.agent_version, parsed.agent_expiry, parsed.last_heartbeat) == (None, None, None)
    assert state_of(parsed) is AgentState.UNKNOWN


def test_explicit_nulls_are_absent_fields() -> None:
    nulls = dict.fromkeys(
        [
            "agentVersion",
            "isReplicationAgentUpdateRequired",
            "agentExpiryDate",
            "isReplicationAgentCertificateUpdateRequired",
            "agentCertificateExpiryDate",
            "lastHeartbeat",
        ]
    )
    parsed = parse_protected_item(raw_item(**nulls))
    assert parsed is not None
    assert parsed.known is False


@pytest.mark.parametrize(
    "field",
    [
        "agentVersion",
        "isReplicationAgentUpdateRequired",
        "agentExpiryDate",
        "isReplicationAgentCertificateUpdateRequired",
        "agentCertificateExpiryDate",
        "lastHeartbeat",
    ],
)
def test_any_one_agent_field_makes_the_agent_known(field: str) -> None:
    value = {
        "agentVersion": "9.1",
        "isReplicationAgentUpdateRequired": False,
        "isReplicationAgentCertificateUpdateRequired": False,
    }.get(field, "2027-01-01T00:00:00Z")
    raw = raw_item()
    raw["properties"]["providerSpecificDetails"] = {"instanceType": "A2A", field: value}
    parsed = parse_protected_item(raw)
    assert parsed is not None
    assert parsed.known is True


def test_an_empty_timestamp_is_absent() -> None:
    parsed = parse_protected_item(raw_item(agentExpiryDate="", lastHeartbeat="  "))
    assert parsed is not None
    assert (parsed.agent_expiry, parsed.last_heartbeat) == (None, None)


def test_parse_does_not_modify_its_input() -> None:
    raw = raw_item()
    before = copy.deepcopy(raw)
    parse_protected_item(raw)
    assert raw == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param([], "a replicated item is a list, expected an object", id="a-list"),
        pytest.param(None, "a replicated item is missing or null", id="null"),
        pytest.param({"properties": {}}, "has no 'id' string", id="no-id"),
        pytest.param({"id": 7, "properties": {}}, "has no 'id' string", id="number-id"),
        pytest.param({"id": " ", "properties": {}}, "has no 'id' string", id="blank-id"),
        pytest.param({"id": ITEM_ID}, "properties is missing or null", id="no-properties"),
        pytest.param(
            {"id": ITEM_ID, "properties": "x"},
            "properties is a string",
            id="string-properties",
        ),
        pytest.param(
            raw_item(instanceType=5), "instanceType is a number, expected a string", id="type-num"
        ),
        pytest.param(
            raw_item(agentVersion=9.62), "agentVersion is a number, expected a string", id="ver"
        ),
        pytest.param(
            raw_item(isReplicationAgentUpdateRequired="true"),
            "isReplicationAgentUpdateRequired is a string, expected a boolean",
            id="flag-string",
        ),
        pytest.param(
            raw_item(isReplicationAgentCertificateUpdateRequired=1),
            "isReplicationAgentCertificateUpdateRequired is a number, expected a boolean",
            id="flag-number",
        ),
        pytest.param(
            raw_item(agentExpiryDate=1700000000),
            "agentExpiryDate is a number, expected a string",
            id="expiry-number",
        ),
        pytest.param(
            raw_item(agentCertificateExpiryDate="next tuesday"),
            "agentCertificateExpiryDate is not a timestamp",
            id="expiry-words",
        ),
        pytest.param(
            raw_item(lastHeartbeat="2026-13-45T00:00:00Z"),
            "lastHeartbeat is not a timestamp",
            id="heartbeat-impossible",
        ),
        pytest.param(
            raw_item(lastHeartbeat=["2026-11-25T00:00:00Z"]),
            "lastHeartbeat is a list, expected a string",
            id="heartbeat-list",
        ),
    ],
)
def test_wrong_types_raise_an_invalid_response_naming_the_key(raw: object, message: str) -> None:
    with pytest.raises(ArmResponseError) as raised:
        parse_protected_item(raw)
    assert message in raised.value.message
    assert raised.value.code == "invalid_response"


def test_an_error_names_the_item_but_not_the_bad_value() -> None:
    with pytest.raises(ArmResponseError) as raised:
        parse_protected_item(raw_item(agentVersion=123456789))
    assert ITEM_ID in raised.value.message
    assert "123456789" not in raised.value.message


# --- classify: every state -----------------------------------------------------------------------


def test_an_agent_far_from_every_expiry_and_needing_no_update_is_current() -> None:
    assert state_of(agent()) is AgentState.CURRENT


@pytest.mark.parametrize("flag", ["update_required", "certificate_update_required"])
def test_either_update_flag_makes_it_update_required(flag: str) -> None:
    assert state_of(agent(**{flag: True})) is AgentState.UPDATE_REQUIRED


@pytest.mark.parametrize("expiry", ["agent_expiry", "certificate_expiry"])
def test_an_expiry_within_the_warning_window_makes_it_expiring(expiry: str) -> None:
    assert state_of(agent(**{expiry: NOW + timedelta(days=29)})) is AgentState.EXPIRING


@pytest.mark.parametrize("expiry", ["agent_expiry", "certificate_expiry"])
def test_an_expiry_passed_makes_it_expired(expiry: str) -> None:
    assert state_of(agent(**{expiry: NOW - timedelta(seconds=1)})) is AgentState.EXPIRED


def test_an_agent_with_no_fields_is_unknown() -> None:
    nothing = agent(
        agent_version=None,
        update_required=None,
        agent_expiry=None,
        certificate_update_required=None,
        certificate_expiry=None,
        last_heartbeat=None,
        known=False,
    )
    assert state_of(nothing) is AgentState.UNKNOWN


def test_a_known_agent_without_expiry_dates_or_flags_is_current() -> None:
    only_version = agent(
        update_required=None,
        agent_expiry=None,
        certificate_update_required=None,
        certificate_expiry=None,
        last_heartbeat=None,
    )
    assert state_of(only_version) is AgentState.CURRENT


def test_the_state_values_are_the_reports_words() -> None:
    assert [s.value for s in AgentState] == [
        "current",
        "update_required",
        "expiring",
        "expired",
        "unknown",
    ]


# --- classify: boundaries and precedence ---------------------------------------------------------


def test_an_expiry_at_this_very_moment_has_passed() -> None:
    assert state_of(agent(agent_expiry=NOW)) is AgentState.EXPIRED


def test_an_expiry_exactly_at_the_end_of_the_warning_window_is_expiring() -> None:
    assert state_of(agent(agent_expiry=NOW + timedelta(days=30))) is AgentState.EXPIRING
    assert state_of(agent(agent_expiry=NOW + timedelta(days=30, seconds=1))) is AgentState.CURRENT


def test_the_warning_window_is_the_configured_number_of_days() -> None:
    in_ten_days = agent(certificate_expiry=NOW + timedelta(days=10))
    assert state_of(in_ten_days, warning_days=7) is AgentState.CURRENT
    assert state_of(in_ten_days, warning_days=10.5) is AgentState.EXPIRING
    assert state_of(in_ten_days, warning_days=0) is AgentState.CURRENT


def test_expired_outranks_update_required() -> None:
    """An expired agent no longer works at all: that is what the report must say."""
    both = agent(update_required=True, agent_expiry=NOW - timedelta(days=1))
    assert state_of(both) is AgentState.EXPIRED


def test_update_required_outranks_expiring() -> None:
    both = agent(certificate_update_required=True, certificate_expiry=NOW + timedelta(days=1))
    assert state_of(both) is AgentState.UPDATE_REQUIRED


def test_one_passed_expiry_is_enough_whatever_the_other_says() -> None:
    mixed = agent(
        agent_expiry=NOW + timedelta(days=400), certificate_expiry=NOW - timedelta(days=1)
    )
    assert state_of(mixed) is AgentState.EXPIRED


def test_an_unknown_agent_is_unknown_even_against_any_clock() -> None:
    unknown = replace(agent(), known=False)
    assert state_of(unknown) is AgentState.UNKNOWN


_moments = st.one_of(st.none(), st.integers(-100, 100).map(lambda days: NOW + timedelta(days=days)))


@given(
    update=st.one_of(st.none(), st.booleans()),
    certificate_update=st.one_of(st.none(), st.booleans()),
    agent_expiry=_moments,
    certificate_expiry=_moments,
)
def test_precedence_is_expired_then_update_required_then_expiring_then_current(
    update: bool | None,
    certificate_update: bool | None,
    agent_expiry: datetime | None,
    certificate_expiry: datetime | None,
) -> None:
    snapshot = agent(
        update_required=update,
        certificate_update_required=certificate_update,
        agent_expiry=agent_expiry,
        certificate_expiry=certificate_expiry,
    )
    expiries = [e for e in (agent_expiry, certificate_expiry) if e is not None]
    if any(e <= NOW for e in expiries):
        expected = AgentState.EXPIRED
    elif update or certificate_update:
        expected = AgentState.UPDATE_REQUIRED
    elif any(e <= NOW + timedelta(days=WARNING_DAYS) for e in expiries):
        expected = AgentState.EXPIRING
    else:
        expected = AgentState.CURRENT
    assert state_of(snapshot) is expected


def test_an_item_read_from_arm_is_classified_end_to_end() -> None:
    raw = raw_item(
        agentExpiryDate="2026-12-01T00:00:00.0000000Z",  # within 30 days of NOW
        agentCertificateExpiryDate="2027-12-01T00:00:00",  # no zone: UTC
    )
    parsed = parse_protected_item(raw)
    assert parsed is not None
    assert state_of(parsed) is AgentState.EXPIRING


# --- parse_arm_time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T01:00:00Z", datetime(2026, 11, 25, 1, tzinfo=UTC)),
        ("2026-11-25T01:00:00z", datetime(2026, 11, 25, 1, tzinfo=UTC)),
        ("2026-11-25T01:00:00+00:00", datetime(2026, 11, 25, 1, tzinfo=UTC)),
        ("  2026-11-25T01:00:00Z  ", datetime(2026, 11, 25, 1, tzinfo=UTC)),
        ("2026-11-25T01:00:00.5Z", datetime(2026, 11, 25, 1, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-25T01:00:00.123456Z", datetime(2026, 11, 25, 1, 0, 0, 123456, tzinfo=UTC)),
        # ARM writes seven fractional digits; Python reads six: the seventh is dropped.
        ("2026-11-25T01:00:00.1234567Z", datetime(2026, 11, 25, 1, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-25T01:00:00.1234567", datetime(2026, 11, 25, 1, 0, 0, 123456, tzinfo=UTC)),
        (
            "2026-11-25T01:00:00.1234567+02:00",
            datetime(2026, 11, 25, 1, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2026-11-25T01:00:00.0000000Z", datetime(2026, 11, 25, 1, tzinfo=UTC)),
    ],
)
def test_arm_timestamps_are_read_with_up_to_seven_fractional_digits(
    text: str, expected: datetime
) -> None:
    assert parse_arm_time(text) == expected


def test_a_timestamp_without_a_zone_is_utc() -> None:
    parsed = parse_arm_time("2026-11-25T01:00:00")
    assert parsed == datetime(2026, 11, 25, 1, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is UTC


def test_an_offset_is_kept_and_compares_with_utc() -> None:
    parsed = parse_arm_time("2026-11-25T03:00:00+02:00")
    assert parsed == datetime(2026, 11, 25, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z", "1700000000", "Z"]
)
def test_text_that_is_no_timestamp_reads_as_none(text: str) -> None:
    assert parse_arm_time(text) is None


@given(st.datetimes(timezones=st.just(UTC)), st.integers(0, 9))
def test_any_utc_moment_written_the_way_arm_writes_reads_back_to_the_microsecond(
    moment: datetime, extra_digit: int
) -> None:
    text = moment.replace(tzinfo=None).isoformat(timespec="microseconds") + f"{extra_digit}Z"
    assert parse_arm_time(text) == moment
