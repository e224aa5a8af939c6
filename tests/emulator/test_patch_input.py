"""parse_patch as a pure function: the change a valid body asks for, in canonical spelling."""

from __future__ import annotations

import json

from orchestrator.emulator.patch_input import Change, PatchError, parse_patch

ACCOUNT = "/SUBSCRIPTIONS/s/resourcegroups/rg/providers/microsoft.automation/automationaccounts/aa"


def _body(**provider: object) -> bytes:
    return json.dumps({"properties": {"providerSpecificInput": provider}}).encode()


def test_values_are_compared_case_insensitively_and_stored_canonically() -> None:
    change = parse_patch(
        _body(
            instanceType="a2a",
            agentAutoUpdateStatus="ENABLED",
            automationAccountArmId=ACCOUNT,
            automationAccountAuthenticationType="runasaccount",
        )
    )
    assert change == Change("Enabled", ACCOUNT, "RunAsAccount")


def test_an_enable_without_authentication_type_defaults_to_run_as_account_as_the_spec() -> None:
    change = parse_patch(
        _body(instanceType="A2A", agentAutoUpdateStatus="Enabled", automationAccountArmId=ACCOUNT)
    )
    assert change == Change("Enabled", ACCOUNT, "RunAsAccount")


def test_the_default_authentication_type_is_the_callers_choice() -> None:
    body = _body(
        instanceType="A2A", agentAutoUpdateStatus="Enabled", automationAccountArmId=ACCOUNT
    )
    assert parse_patch(body, "SystemAssignedIdentity") == Change(
        "Enabled", ACCOUNT, "SystemAssignedIdentity"
    )


def test_a_disable_names_only_what_it_sends() -> None:
    assert parse_patch(_body(instanceType="A2A", agentAutoUpdateStatus="Disabled")) == Change(
        "Disabled", None, None
    )


def test_non_utf8_bytes_are_invalid_content() -> None:
    result = parse_patch(b"\xff\xfe{")
    assert isinstance(result, PatchError)
    assert result.code == "InvalidRequestContent"
