"""The config's single values: account ids and templates, quotas (orchestrator.config.values)."""

from __future__ import annotations

import pytest

from orchestrator.arm.limits import Quota
from orchestrator.asr.desired import KEEP_ACCOUNT
from orchestrator.asr.targets import VaultId
from orchestrator.config.problems import KeyedProblems, Problem
from orchestrator.config.values import (
    MAX_LIMIT_CALLS,
    PLACEHOLDERS,
    check_automation_account,
    fill_account,
    filled_account,
    is_template,
    sane_quota,
)

SUB = "00000000-0000-0000-0000-000000000001"
VAULT = VaultId(SUB, "rg-dr", "vault-east")
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa"
TEMPLATE = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
    "Microsoft.Automation/automationAccounts/aa-{vault}"
)


def test_the_placeholders_are_designs() -> None:
    assert PLACEHOLDERS == ("subscription_id", "resource_group", "vault")


@pytest.mark.parametrize(
    ("text", "template"),
    [(ACCOUNT, False), (TEMPLATE, True), ("aa-{vault}", True), ("{{vault}}", False)],
)
def test_is_template_says_whether_there_are_placeholders(text: str, template: bool) -> None:
    assert is_template(text) is template


@pytest.mark.parametrize("text", ["aa-{region}", "aa-{}", "aa-{0}", "aa-{Vault}"])
def test_is_template_refuses_an_unknown_placeholder(text: str) -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        is_template(text)


def test_fill_account_puts_the_vaults_parts_in_place() -> None:
    assert fill_account(TEMPLATE, VAULT) == (
        f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/"
        "Microsoft.Automation/automationAccounts/aa-vault-east"
    )


@pytest.mark.parametrize("template", ["aa-{vault:>99999999999999999999}", "aa-{vault!z}"])
def test_fill_account_turns_a_broken_template_into_a_value_error(template: str) -> None:
    with pytest.raises(ValueError, match="cannot fill the template"):
        fill_account(template, VAULT)


def test_filled_account_is_the_filled_id_when_it_is_an_account_id() -> None:
    assert filled_account(TEMPLATE, VAULT).endswith("/automationAccounts/aa-vault-east")


def test_filled_account_names_the_template_the_vault_and_what_it_gave() -> None:
    bad = TEMPLATE.replace("aa-{vault}", "aa_{vault}")
    with pytest.raises(ValueError, match="is not an Automation account id") as raised:
        filled_account(bad, VAULT)
    message = str(raised.value)
    assert repr(bad) in message
    assert "aa_vault-east" in message
    assert "for vault vault-east" in message


@pytest.mark.parametrize("keep", ["keep", "KEEP", "Keep"])
def test_keep_in_any_case_normalises_to_keep(keep: str) -> None:
    assert check_automation_account(keep) == KEEP_ACCOUNT


@pytest.mark.parametrize("text", [ACCOUNT, TEMPLATE])
def test_an_account_id_or_a_template_is_kept_as_written(text: str) -> None:
    assert check_automation_account(text) == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("aa", "must start with '/subscriptions/'"),
        (TEMPLATE.replace("{vault}", "{region}"), "unknown placeholder {region}"),
        (TEMPLATE.replace("aa-{vault}", "{vault}_aa"), "account name"),
    ],
)
def test_anything_else_is_not_an_account(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="not an Automation account id or `keep`") as raised:
        check_automation_account(text)
    assert problem in str(raised.value)


def test_a_sane_quota_passes() -> None:
    quota = Quota(calls=MAX_LIMIT_CALLS, per_seconds=60.0)
    assert sane_quota(quota) is quota


def test_an_absurd_quota_is_reported_at_its_calls_key() -> None:
    with pytest.raises(KeyedProblems) as raised:
        sane_quota(Quota(calls=MAX_LIMIT_CALLS + 1, per_seconds=60.0))
    (problem,) = raised.value.problems
    assert problem == Problem(
        ("calls",), f"{MAX_LIMIT_CALLS + 1} is absurd: at most 1,000,000 calls per window"
    )
