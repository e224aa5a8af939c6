"""The config model and loader: each rule of DESIGN.md "Config file (YAML)"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the venv
import pytest
import yaml
from azure.identity import AzureAuthorityHosts
from pydantic import ValidationError

from orchestrator.asr.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import SubscriptionTarget, VaultId
from orchestrator.config.model import (
    CLOUDS,
    Cloud,
    Config,
    CredentialKind,
    LimitScope,
    LoadedConfig,
    load_config,
)
from orchestrator.emulator.fleet_spec import FleetSpec
from orchestrator.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-dr"
V1 = f"{RG}/providers/Microsoft.RecoveryServices/vaults/v1"
V2 = f"{RG}/providers/Microsoft.RecoveryServices/vaults/v2"
AA = f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa"
AA2 = f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa2"
EXAMPLE = Path(__file__).parents[2] / "configs" / "fleet.example.yaml"

Load = Callable[..., LoadedConfig]
Fail = Callable[..., ConfigError]


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """Write the keys (over a minimal valid disable config) as YAML, then load that file."""

    def run(text: str | None = None, /, **keys: Any) -> LoadedConfig:
        path = tmp_path / "fleet.yaml"
        data: dict[str, Any] = {"action": "disable", "vaults": [V1]}
        data.update(keys)
        path.write_text(text if text is not None else yaml.safe_dump(data), encoding="utf-8")
        return load_config(path)

    return run


@pytest.fixture
def fail(load: Load) -> Fail:
    """Like ``load``, but expect a ConfigError and return it."""

    def run(text: str | None = None, /, **keys: Any) -> ConfigError:
        with pytest.raises(ConfigError) as caught:
            load(text, **keys)
        return caught.value

    return run


def test_a_minimal_config_gets_designs_defaults(load: Load) -> None:
    config = load().config
    assert config.authentication_type is AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
    assert (config.cloud, config.credential) == (Cloud.AZURE_CLOUD, CredentialKind.DEFAULT)
    assert (config.api_version, config.timeout_minutes) == ("2021-12-01", 160)
    assert config.limits.scope is LimitScope.RUN
    assert (config.limits.set.calls, config.limits.set.per_seconds) == (200, 60)
    assert (config.limits.get.calls, config.limits.get.per_seconds) == (10_000, 3_600)
    assert (config.lock_file, config.subscriptions, config.emulator) == (None, None, None)


def test_loaded_config_keeps_the_path_it_came_from(load: Load, tmp_path: Path) -> None:
    assert load().path == tmp_path / "fleet.yaml"


def test_the_example_config_loads_without_warnings() -> None:
    assert load_config(EXAMPLE).warnings == ()


def test_the_example_config_sets_every_key() -> None:
    present = set(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    assert present == set(Config.model_fields)


def test_the_example_config_satisfies_the_published_json_schema() -> None:
    schema = Config.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), schema)


def test_the_json_schema_offers_a_bare_string_for_a_vault() -> None:
    schema = Config.model_json_schema()
    assert {"type": "string", "description": "a vault id"} in schema["$defs"]["VaultEntry"]["anyOf"]


# --- clouds and endpoints -------------------------------------------------------------------


def test_clouds_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        CLOUDS[Cloud.AZURE_CLOUD] = CLOUDS[Cloud.AZURE_CHINA_CLOUD]  # type: ignore[index]


def test_cloud_authority_hosts_match_azure_identity() -> None:
    assert CLOUDS[Cloud.AZURE_CLOUD].authority_host == AzureAuthorityHosts.AZURE_PUBLIC_CLOUD
    assert CLOUDS[Cloud.AZURE_US_GOVERNMENT].authority_host == AzureAuthorityHosts.AZURE_GOVERNMENT
    assert CLOUDS[Cloud.AZURE_CHINA_CLOUD].authority_host == AzureAuthorityHosts.AZURE_CHINA


@pytest.mark.parametrize(
    ("cloud", "endpoint", "scope"),
    [
        (
            "AzureCloud",
            "https://management.azure.com",
            "https://management.core.windows.net//.default",
        ),
        (
            "AzureUSGovernment",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net//.default",
        ),
        (
            "AzureChinaCloud",
            "https://management.chinacloudapi.cn",
            "https://management.core.chinacloudapi.cn//.default",
        ),
    ],
)
def test_the_cloud_picks_endpoint_and_token_scope(
    load: Load, cloud: str, endpoint: str, scope: str
) -> None:
    config = load(cloud=cloud).config
    assert (config.endpoint, config.token_scope) == (endpoint, scope)
    assert config.authority_host == CLOUDS[Cloud(cloud)].authority_host


def test_cloud_names_are_exact(fail: Fail) -> None:
    assert fail(cloud="azurecloud").key == "cloud"


def test_arm_endpoint_overrides_the_clouds_without_a_trailing_slash(load: Load) -> None:
    config = load(arm_endpoint="https://arm.example.com:8443/").config
    assert config.endpoint == "https://arm.example.com:8443"
    assert config.audience == CLOUDS[Cloud.AZURE_CLOUD].token_audience


def test_token_audience_overrides_the_clouds(load: Load) -> None:
    config = load(token_audience="https://arm.example.com").config
    assert (config.audience, config.token_scope) == (
        "https://arm.example.com",
        "https://arm.example.com/.default",
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:5000/", "http://localhost:1"],
)
def test_plain_http_is_allowed_for_a_loopback_endpoint(load: Load, url: str) -> None:
    assert load(arm_endpoint=url).config.endpoint == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://arm.example.com", "loopback"),
        ("http://10.0.0.1", "loopback"),
        ("https://arm.example.com/api", "no path"),
        ("https://arm.example.com?x=1", "no path, query"),
        ("https://arm.example.com/#f", "no path, query"),
        ("https://user:pw@arm.example.com", "user name or password"),
        ("management.azure.com", "absolute https:// URL"),
        ("ftp://arm.example.com", "absolute https:// URL"),
        ("https://", "has no host"),
        ("https://arm.example.com:99999", "not a URL"),
        ("https://arm example.com", "spaces"),
    ],
)
def test_arm_endpoint_must_be_a_bare_trusted_origin(fail: Fail, url: str, problem: str) -> None:
    error = fail(arm_endpoint=url)
    assert error.key == "arm_endpoint"
    assert problem in error.problem


def test_token_audience_must_be_an_absolute_url(fail: Fail) -> None:
    error = fail(token_audience="management.core.windows.net")
    assert (error.key, "absolute" in error.problem) == ("token_audience", True)


# --- action, accounts, authentication ------------------------------------------------------


def test_action_is_required(fail: Fail) -> None:
    error = fail("vaults: []\n")
    assert (error.key, error.problem) == ("action", "required, but missing")


def test_action_must_be_enable_or_disable(fail: Fail) -> None:
    error = fail(action="update")
    assert error.key == "action"
    assert "'enable' or 'disable'" in error.problem
    assert "'update'" in error.problem


def test_enable_needs_an_automation_account(fail: Fail) -> None:
    error = fail(action="enable")
    assert error.key == "automation_account"
    assert "required when action is enable" in error.problem


def test_enable_with_keep_reuses_each_mappings_account(load: Load) -> None:
    config = load(action="enable", automation_account="KEEP").config
    assert config.default_desired() == DesiredState(Action.ENABLE, KEEP_ACCOUNT)


def test_enable_needs_no_top_level_account_when_every_vault_has_one(load: Load) -> None:
    config = load(action="enable", vaults=[{"id": V1, "automation_account": AA}]).config
    assert [t.desired.automation_account for t in config.vault_targets()] == [AA]


def test_an_empty_subscriptions_list_needs_no_top_level_account(load: Load) -> None:
    keys = {"vaults": [{"id": V1, "automation_account": AA}], "subscriptions": []}
    assert load(action="enable", **keys).config.automation_account is None


def test_enable_discovery_needs_a_top_level_account(fail: Fail) -> None:
    keys = {"vaults": [{"id": V1, "automation_account": AA}], "subscriptions": [SUB]}
    assert fail(action="enable", **keys).key == "automation_account"


def test_a_vault_overridden_to_enable_needs_an_account(fail: Fail) -> None:
    error = fail(vaults=[V1, {"id": V2, "action": "enable"}])
    assert error.key == "vaults[1].automation_account"
    assert "required" in error.problem


@pytest.mark.parametrize(
    ("account", "problem"),
    [
        (f"{RG}/providers/Microsoft.Automation/automationAccount/aa", "segment 7"),
        (f"{RG}/providers/Microsoft.Compute/automationAccounts/aa", "segment 6"),
        (
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Automation/automationAccounts/aa",
            "GUID",
        ),
        (f"{RG}/providers/Microsoft.Automation/automationAccounts/a_a", "account name"),
        ("aa", "must start with '/subscriptions/'"),
    ],
)
def test_automation_account_must_be_an_account_id(fail: Fail, account: str, problem: str) -> None:
    error = fail(action="enable", automation_account=account)
    assert error.key == "automation_account"
    assert "not an Automation account id or `keep`" in error.problem
    assert problem in error.problem


def test_automation_account_keys_match_case_insensitively(load: Load) -> None:
    account = AA.replace(
        "Microsoft.Automation/automationAccounts", "microsoft.automation/AUTOMATIONACCOUNTS"
    )
    assert load(action="enable", automation_account=account).config.automation_account == account


def test_disable_with_an_account_is_accepted_with_a_warning(load: Load) -> None:
    loaded = load(automation_account=AA)
    assert loaded.config.default_desired() == DesiredState(Action.DISABLE, None)
    assert loaded.warnings == ("automation_account: ignored, no target enables",)


def test_a_top_level_account_used_by_an_enabling_vault_draws_no_warning(load: Load) -> None:
    loaded = load(automation_account=AA, vaults=[{"id": V1, "action": "enable"}])
    assert loaded.warnings == ()


def test_a_disabled_vaults_own_account_is_ignored_with_a_warning(load: Load) -> None:
    loaded = load(vaults=[{"id": V1, "automation_account": AA}])
    assert loaded.warnings == (
        "vaults[0].automation_account: ignored, the vault's action is disable",
    )
    assert loaded.config.vault_targets()[0].desired.automation_account is None


def test_authentication_type_matches_case_insensitively(load: Load) -> None:
    config = load(authentication_type="systemassignedidentity").config
    assert config.authentication_type is AuthenticationType.SYSTEM_ASSIGNED_IDENTITY


def test_run_as_account_is_accepted_with_a_warning(load: Load) -> None:
    loaded = load(action="enable", automation_account=AA, authentication_type="RunAsAccount")
    assert loaded.config.default_desired().authentication_type is AuthenticationType.RUN_AS_ACCOUNT
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("authentication_type: RunAsAccount is retired")


def test_a_vaults_run_as_account_override_draws_a_warning(load: Load) -> None:
    loaded = load(vaults=[{"id": V1, "authentication_type": "runasaccount"}])
    assert loaded.warnings[0].startswith("vaults[0].authentication_type: RunAsAccount")


def test_an_unknown_authentication_type_is_refused(fail: Fail) -> None:
    error = fail(authentication_type="UserAssignedIdentity")
    assert error.key == "authentication_type"
    assert "'SystemAssignedIdentity' or 'RunAsAccount'" in error.problem


# --- vaults and their overrides --------------------------------------------------------------


def test_vault_entries_resolve_their_overrides(load: Load) -> None:
    vaults = [V1, {"id": V2, "automation_account": AA2, "authentication_type": "RunAsAccount"}]
    config = load(action="enable", automation_account=AA, vaults=vaults).config
    targets = config.vault_targets()
    assert [t.vault for t in targets] == [VaultId.parse(V1), VaultId.parse(V2)]
    assert targets[0].desired == DesiredState(Action.ENABLE, AA)
    assert targets[1].desired == DesiredState(Action.ENABLE, AA2, AuthenticationType.RUN_AS_ACCOUNT)


def test_a_vault_overridden_to_disable_carries_no_account(load: Load) -> None:
    vaults = [{"id": V1, "action": "disable"}]
    config = load(action="enable", automation_account=AA, vaults=vaults, subscriptions=[SUB]).config
    assert config.vault_targets()[0].desired == DesiredState(Action.DISABLE, None)
    assert config.default_desired() == DesiredState(Action.ENABLE, AA)


def test_a_malformed_vault_id_names_its_position(fail: Fail) -> None:
    error = fail(vaults=[V1, V2.replace("vaults", "vault")])
    assert error.key == "vaults[1].id"
    assert error.problem.startswith("not a vault id: segment 7 must be 'vaults'")


def test_a_duplicate_vault_is_caught_whatever_its_case(fail: Fail) -> None:
    error = fail(vaults=[V1, V2, V1.upper().replace("SUBSCRIPTIONS", "Subscriptions")])
    assert str(error).endswith("vaults[2].id: duplicate of vaults[0]")


def test_a_vault_entry_must_be_an_id_or_a_mapping(fail: Fail) -> None:
    error = fail(vaults=[7])
    assert (error.key, error.problem) == (
        "vaults[0]",
        "expected a vault id or a mapping with `id`, got 7",
    )


def test_a_vault_entry_rejects_unknown_keys(fail: Fail) -> None:
    error = fail(vaults=[{"id": V1, "acton": "enable"}])
    assert error.key == "vaults[0].acton"
    assert error.problem == "unknown key 'acton' in vaults[0] (did you mean 'action'?)"


# --- subscriptions ---------------------------------------------------------------------------


def test_subscriptions_take_bare_guids_and_mappings_with_filters(load: Load) -> None:
    subs = [SUB2, {"id": SUB, "resource_groups": ["RG-A"], "exclude": ["Vault-X", V1]}]
    config = load(vaults=[], subscriptions=subs).config
    assert config.subscription_targets() == [
        SubscriptionTarget(SUB2),
        SubscriptionTarget.of(SUB, ["rg-a"], ["vault-x", V1]),
    ]


def test_subscriptions_all_is_read_in_any_case(load: Load) -> None:
    assert load(vaults=[], subscriptions="ALL").config.subscription_targets() == "all"


def test_no_subscriptions_means_no_discovery(load: Load) -> None:
    assert load().config.subscription_targets() is None


def test_subscriptions_must_be_all_or_a_list(fail: Fail) -> None:
    error = fail(subscriptions="every")
    assert error.key == "subscriptions"
    assert "'all'" in error.problem
    assert fail(subscriptions={"id": SUB}).problem.startswith("expected `all` or a list")


def test_a_subscription_id_must_be_a_guid(fail: Fail) -> None:
    error = fail(subscriptions=[SUB, {"id": "prod"}])
    assert error.key == "subscriptions[1].id"
    assert "'prod' is not a GUID" in error.problem


def test_a_duplicate_subscription_is_caught_whatever_its_case(fail: Fail) -> None:
    error = fail(subscriptions=[{"id": SUB.replace("0", "A")}, SUB.replace("0", "a")])
    assert (error.key, error.problem) == ("subscriptions[1].id", "duplicate of subscriptions[0]")


def test_an_empty_resource_group_filter_is_refused(fail: Fail) -> None:
    error = fail(subscriptions=[{"id": SUB, "resource_groups": []}])
    assert error.key == "subscriptions[0].resource_groups"


def test_an_exclusion_must_be_a_vault_name_or_id(fail: Fail) -> None:
    error = fail(subscriptions=[{"id": SUB, "exclude": ["ok-name", "bad name"]}])
    assert error.key == "subscriptions[0].exclude[1]"


def test_an_excluded_vault_id_must_be_in_that_subscription(fail: Fail) -> None:
    error = fail(subscriptions=[{"id": SUB2, "exclude": [V1]}])
    assert error.key == "subscriptions[0].exclude[0]"
    assert "another subscription" in error.problem


# --- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [{"vaults": []}, {"vaults": [], "subscriptions": []}, {"vaults": [], "subscriptions": None}],
)
def test_a_config_with_no_target_is_refused(fail: Fail, keys: dict[str, Any]) -> None:
    error = fail(**keys)
    assert error.key == "vaults"
    assert error.problem.startswith("no targets")


# --- limits and timeout ----------------------------------------------------------------------


def test_limits_and_scope_are_read(load: Load) -> None:
    limits = {"scope": "subscription", "set": {"calls": 50, "per_seconds": 60}}
    config = load(limits=limits).config
    assert config.limits.scope is LimitScope.SUBSCRIPTION
    assert (config.limits.set.calls, config.limits.get.calls) == (50, 10_000)


@pytest.mark.parametrize(
    ("limits", "key"),
    [
        ({"set": {"calls": 0, "per_seconds": 60}}, "limits.set.calls"),
        ({"get": {"calls": 1_000_001, "per_seconds": 60}}, "limits.get.calls"),
        ({"set": {"calls": 10, "per_seconds": 0}}, "limits.set.per_seconds"),
        ({"set": {"calls": 10, "per_seconds": 86_401}}, "limits.set.per_seconds"),
        ({"set": {"calls": True, "per_seconds": 60}}, "limits.set.calls"),
        ({"set": {"calls": 10, "per_seconds": False}}, "limits.set.per_seconds"),
        ({"set": {"calls": "200", "per_seconds": 60}}, "limits.set.calls"),
        ({"set": {"calls": 10}}, "limits.set.per_seconds"),
        ({"scope": "vault"}, "limits.scope"),
        ({"sets": {"calls": 10, "per_seconds": 1}}, "limits.sets"),
    ],
)
def test_bad_limits_are_refused_with_their_key(
    fail: Fail, limits: dict[str, Any], key: str
) -> None:
    assert fail(limits=limits).key == key


def test_a_boolean_limit_says_it_is_a_boolean(fail: Fail) -> None:
    error = fail(limits={"set": {"calls": True, "per_seconds": 60}})
    assert error.problem == "must be a number, got the boolean true"


@pytest.mark.parametrize("minutes", [0.5, 1, 10_080])
def test_timeout_accepts_fractions_up_to_a_week(load: Load, minutes: float) -> None:
    assert load(timeout_minutes=minutes).config.timeout_minutes == minutes


@pytest.mark.parametrize("minutes", [0, -1, 10_081, True, "160", float("inf"), float("nan")])
def test_timeout_outside_a_week_or_not_a_number_is_refused(fail: Fail, minutes: object) -> None:
    assert fail(timeout_minutes=minutes).key == "timeout_minutes"


# --- the other keys --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2021-12-01", "2023-04-01-preview"])
def test_api_version_accepts_dates_and_previews(load: Load, version: str) -> None:
    assert load(api_version=version).config.api_version == version


def test_an_unquoted_api_version_is_read_back_as_text(load: Load) -> None:
    assert load(
        f"action: disable\napi_version: 2022-10-01\nvaults: [{V1}]\n"
    ).config.api_version == ("2022-10-01")


@pytest.mark.parametrize("version", ["2021-13-01", "2021-12-01-beta", "v1", "20211201"])
def test_a_malformed_api_version_is_refused(fail: Fail, version: str) -> None:
    assert fail(api_version=version).key == "api_version"


@pytest.mark.parametrize("kind", list(CredentialKind))
def test_every_credential_kind_is_accepted(load: Load, kind: CredentialKind) -> None:
    assert load(credential=kind.value).config.credential is kind


def test_an_unknown_credential_is_refused(fail: Fail) -> None:
    assert fail(credential="client_secret").key == "credential"


def test_managed_identity_client_id_must_be_a_guid(fail: Fail) -> None:
    assert fail(managed_identity_client_id="my-identity").key == "managed_identity_client_id"


def test_managed_identity_client_id_draws_a_warning_with_other_credentials(load: Load) -> None:
    loaded = load(credential="azure_cli", managed_identity_client_id=SUB)
    assert loaded.warnings[0].startswith(
        "managed_identity_client_id: ignored with credential azure_cli"
    )


def test_managed_identity_client_id_suits_the_default_credential(load: Load) -> None:
    assert load(managed_identity_client_id=SUB).warnings == ()


def test_lock_file_must_not_be_empty(fail: Fail) -> None:
    assert fail(lock_file="").key == "lock_file"


def test_an_emulator_block_is_a_fleet_spec(load: Load) -> None:
    config = load(emulator={"seed": 7, "subscriptions": 1}).config
    assert config.emulator == FleetSpec(seed=7, subscriptions=1)


def test_emulator_errors_carry_the_emulator_path(fail: Fail) -> None:
    error = fail(emulator={"shares": {"compliant": 1.5}})
    assert error.key == "emulator.shares.compliant"


def test_a_boolean_in_the_emulator_block_is_not_a_number(fail: Fail) -> None:
    error = fail(emulator={"seed": True})
    assert (error.key, error.problem) == ("emulator.seed", "must be a number, got the boolean true")


# --- how problems are reported ---------------------------------------------------------------


def test_an_unknown_top_level_key_suggests_the_close_one(fail: Fail) -> None:
    error = fail(vault=[V1])
    assert error.key == "vault"
    assert error.problem == "unknown key 'vault' at the top level (did you mean 'vaults'?)"


def test_an_unknown_key_lists_the_allowed_ones_when_none_is_close(fail: Fail) -> None:
    error = fail(limits={"burst": 5})
    assert error.problem == "unknown key 'burst' in limits (allowed: scope, set, get)"


def test_a_quoted_yes_hint_follows_a_boolean_where_text_belongs(fail: Fail) -> None:
    error = fail(lock_file=True)
    assert "must be a string, got true" in error.problem
    assert "quote it" in error.problem


def test_the_first_line_names_the_first_problem_and_the_rest_follow(fail: Fail) -> None:
    error = fail(action="maybe", cloud="Mars", credential="none")
    first, count, *rest = str(error).splitlines()
    assert first.endswith("fleet.yaml: action: must be 'enable' or 'disable', got 'maybe'")
    assert count == "2 more problem(s):"
    assert [line.split(":")[0].strip() for line in rest] == ["cloud", "credential"]


def test_a_long_list_of_problems_is_cut_short(fail: Fail) -> None:
    error = fail(vaults=list(range(30)))
    assert str(error).splitlines()[-1] == "  … and 19 more"


def test_a_validation_problem_keeps_pydantics_error_as_its_cause(fail: Fail) -> None:
    assert isinstance(fail(action="maybe").__cause__, ValidationError)


def test_the_error_names_the_file(fail: Fail, tmp_path: Path) -> None:
    assert str(fail(action="maybe")).startswith(f"{tmp_path / 'fleet.yaml'}: action: ")


def test_yaml_merge_keys_are_honoured(load: Load) -> None:
    text = (
        f"action: disable\n"
        f"defaults: &defaults {{action: enable, automation_account: {AA}}}\n"
        f"vaults: [{{<<: *defaults, id: {V1}}}]\n"
    )
    with pytest.raises(ConfigError, match="unknown key 'defaults'"):
        load(text)
    ok = f"action: disable\nvaults:\n  - &v1 {{id: {V1}, action: enable, automation_account: {AA}}}\n"
    ok += f"  - {{<<: *v1, id: {V2}}}\n"
    targets = load(ok).config.vault_targets()
    assert [t.desired for t in targets] == [DesiredState(Action.ENABLE, AA)] * 2
