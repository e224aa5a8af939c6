"""The config model and loader: each rule of DESIGN.md "Config file (YAML)" and of the second
release's "Fleet configs" (account templates, per-subscription accounts, the new keys)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from azure.identity import AzureAuthorityHosts
from pydantic import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from orchestrator.arm.credentials import CredentialKind
from orchestrator.arm.limits import LimitScope
from orchestrator.asr.desired import KEEP_ACCOUNT, Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import SubscriptionTarget, VaultId
from orchestrator.config import (
    CLOUDS,
    DEFAULT_STATE_FILE,
    Cloud,
    Config,
    LoadedConfig,
    load_config,
)
from orchestrator.config.model import config_json_schema
from orchestrator.emulator import FleetSpec
from orchestrator.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-dr"
V1 = f"{RG}/providers/Microsoft.RecoveryServices/vaults/v1"
V2 = f"{RG}/providers/Microsoft.RecoveryServices/vaults/v2"
AA = f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa"
AA2 = f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/Microsoft.Automation/automationAccounts/aa2"
EXAMPLE = Path(__file__).parents[2] / "configs" / "fleet.example.yaml"
# A vault that only discovery finds (no entry of its own), in SUB.
FOUND = VaultId(SUB, "rg-found", "v9")

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


def config_schema_validator() -> jsonschema.Draft202012Validator:
    """The config's schema, with the emulator block's own schema it refers to by name."""
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    emulator = Resource.from_contents(
        FleetSpec.model_json_schema(), default_specification=DRAFT202012
    )
    registry = Registry().with_resource("emulator.schema.json", emulator)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_config_json_schema_refers_to_the_emulators_own() -> None:
    emulator = config_json_schema()["properties"]["emulator"]
    assert {"$ref": "emulator.schema.json"} in [
        {"$ref": option.get("$ref")} for option in emulator["anyOf"] if "$ref" in option
    ]


def test_the_example_config_satisfies_the_published_json_schema() -> None:
    config_schema_validator().validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


def test_an_emulator_block_is_checked_by_the_emulators_schema() -> None:
    validator = config_schema_validator()
    base = {"action": "disable", "vaults": [V1]}
    validator.validate({**base, "emulator": {"seed": 7, "subscriptions": 1}})
    assert not validator.is_valid({**base, "emulator": {"sede": 7}})


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
    assert config.automation_account == KEEP_ACCOUNT
    assert config.vault_targets()[0].desired == DesiredState(Action.ENABLE, KEEP_ACCOUNT)
    assert config.desired_for(FOUND) == DesiredState(Action.ENABLE, KEEP_ACCOUNT)


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
    assert loaded.config.desired_for(FOUND) == DesiredState(Action.DISABLE, None)
    assert loaded.config.vault_targets()[0].desired == DesiredState(Action.DISABLE, None)
    assert loaded.warnings == (
        ("config_key_ignored", "automation_account: ignored, no target enables"),
    )


def test_a_top_level_account_used_by_an_enabling_vault_draws_no_warning(load: Load) -> None:
    loaded = load(automation_account=AA, vaults=[{"id": V1, "action": "enable"}])
    assert loaded.warnings == ()


def test_a_disabled_vaults_own_account_is_ignored_with_a_warning(load: Load) -> None:
    loaded = load(vaults=[{"id": V1, "automation_account": AA}])
    assert loaded.warnings == (
        (
            "config_key_ignored",
            "vaults[0].automation_account: ignored, the vault's action is disable",
        ),
    )
    assert loaded.config.vault_targets()[0].desired.automation_account is None


def test_authentication_type_matches_case_insensitively(load: Load) -> None:
    config = load(authentication_type="systemassignedidentity").config
    assert config.authentication_type is AuthenticationType.SYSTEM_ASSIGNED_IDENTITY


def test_run_as_account_is_accepted_with_a_warning(load: Load) -> None:
    loaded = load(action="enable", automation_account=AA, authentication_type="RunAsAccount")
    desired = loaded.config.desired_for(FOUND)
    assert desired.authentication_type is AuthenticationType.RUN_AS_ACCOUNT
    assert len(loaded.warnings) == 1
    code, message = loaded.warnings[0]
    assert code == "run_as_account_retired"
    assert message.startswith("authentication_type: RunAsAccount is retired")


def test_a_vaults_run_as_account_override_draws_a_warning(load: Load) -> None:
    loaded = load(vaults=[{"id": V1, "authentication_type": "runasaccount"}])
    code, message = loaded.warnings[0]
    assert code == "run_as_account_retired"
    assert message.startswith("vaults[0].authentication_type: RunAsAccount")


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
    assert config.desired_for(FOUND) == DesiredState(Action.ENABLE, AA)


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
    """Strict numbers: pydantic refuses a boolean; the message still says that is what it got."""
    error = fail(limits={"set": {"calls": True, "per_seconds": 60}})
    assert error.key == "limits.set.calls"
    assert error.problem.startswith("must be a whole number, got true")
    assert "as booleans" in error.problem


@pytest.mark.parametrize(
    ("limits", "key", "got"),
    [
        ({"set": {"calls": "200", "per_seconds": 60}}, "limits.set.calls", "got '200'"),
        ({"get": {"calls": 10, "per_seconds": "60"}}, "limits.get.per_seconds", "got '60'"),
        ({"set": {"calls": 2.5, "per_seconds": 60}}, "limits.set.calls", "got 2.5"),
        ({"set": {"calls": 10, "per_seconds": True}}, "limits.set.per_seconds", "got true"),
    ],
)
def test_numeric_strings_and_other_types_are_never_turned_into_limits(
    fail: Fail, limits: dict[str, Any], key: str, got: str
) -> None:
    error = fail(limits=limits)
    assert error.key == key
    assert error.problem.startswith("must be a ")
    assert got in error.problem


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
    code, message = loaded.warnings[0]
    assert code == "config_key_ignored"
    assert message.startswith("managed_identity_client_id: ignored with credential azure_cli")


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


@pytest.mark.parametrize("seed", [True, "7"])
def test_a_boolean_or_numeric_string_in_the_emulator_block_is_not_a_number(
    fail: Fail, seed: object
) -> None:
    error = fail(emulator={"seed": seed})
    assert error.key == "emulator.seed"
    assert error.problem.startswith("must be a ")


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


# --- the loaded config -----------------------------------------------------------------------


def test_a_loaded_config_carries_the_sha256_of_its_bytes(load: Load, tmp_path: Path) -> None:
    loaded = load()
    raw = (tmp_path / "fleet.yaml").read_bytes()
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()


def test_a_config_that_changes_by_one_byte_has_another_sha256(load: Load) -> None:
    assert load().sha256 != load(timeout_minutes=159).sha256


# --- lock_file: never a file that holds something else -------------------------------------------


@pytest.mark.parametrize("content", [None, "", "12345\n", "  4242  ", "\n"])
def test_a_lock_file_that_is_missing_empty_or_a_pid_is_accepted(
    load: Load, tmp_path: Path, content: str | None
) -> None:
    lock = tmp_path / "run.lock"
    if content is not None:
        lock.write_text(content, encoding="utf-8")
    assert load(lock_file=str(lock)).config.lock_file == str(lock)


@pytest.mark.parametrize(
    "content", ["action: disable\n", '{"schema": "asr-autoupdate/report/v1"}', "12 34", "x" * 100]
)
def test_a_lock_file_that_holds_anything_else_is_refused(
    fail: Fail, tmp_path: Path, content: str
) -> None:
    lock = tmp_path / "report.json"
    lock.write_text(content, encoding="utf-8")
    error = fail(lock_file=str(lock))
    assert error.key == "lock_file"
    assert "is not a lock file" in error.problem
    assert lock.read_text(encoding="utf-8") == content  # and it was left alone


def test_a_long_pid_file_is_refused_without_reading_it_all(fail: Fail, tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    lock.write_text("1" * 65, encoding="utf-8")
    assert "is not a lock file" in fail(lock_file=str(lock)).problem


def test_the_config_itself_is_refused_as_its_lock_file(fail: Fail, tmp_path: Path) -> None:
    error = fail(lock_file=str(tmp_path / "fleet.yaml"))
    assert (error.key, error.problem) == ("lock_file", "is this config file itself")


def test_a_directory_is_refused_as_the_lock_file(fail: Fail, tmp_path: Path) -> None:
    error = fail(lock_file=str(tmp_path))
    assert error.key == "lock_file"
    assert "is not a regular file" in error.problem


# --- automation account templates --------------------------------------------------------------

TEMPLATE = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
    "Microsoft.Automation/automationAccounts/aa-{vault}"
)


def account_for(vault: VaultId, name: str) -> str:
    return (
        f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
        f"/providers/Microsoft.Automation/automationAccounts/{name}"
    )


def test_a_template_is_filled_for_each_vault(load: Load) -> None:
    config = load(action="enable", automation_account=TEMPLATE, vaults=[V1, V2]).config
    assert config.automation_account == TEMPLATE  # kept as written
    v1, v2 = VaultId.parse(V1), VaultId.parse(V2)
    assert [t.desired.automation_account for t in config.vault_targets()] == [
        account_for(v1, "aa-v1"),
        account_for(v2, "aa-v2"),
    ]
    assert config.desired_for(FOUND).automation_account == account_for(FOUND, "aa-v9")


def test_a_template_may_use_any_of_its_placeholders_or_none_at_all(load: Load) -> None:
    partial = (
        f"/subscriptions/{SUB}/resourceGroups/rg-aa/providers/"
        "Microsoft.Automation/automationAccounts/{vault}"
    )
    config = load(action="enable", automation_account=partial).config
    assert config.vault_targets()[0].desired.automation_account == partial.replace("{vault}", "v1")


def test_a_template_keeps_the_vaults_spelling(load: Load) -> None:
    upper = V1.replace("rg-dr", "RG-DR").replace("/v1", "/Vault-One")
    config = load(action="enable", automation_account=TEMPLATE, vaults=[upper]).config
    assert config.vault_targets()[0].desired.automation_account == account_for(
        VaultId(SUB, "RG-DR", "Vault-One"), "aa-Vault-One"
    )


@pytest.mark.parametrize(
    ("placeholder", "named"),
    [("{region}", "{region}"), ("{}", "{}"), ("{0}", "{0}"), ("{vault.name}", "{vault.name}")],
)
def test_an_unknown_placeholder_is_refused_naming_it(
    fail: Fail, placeholder: str, named: str
) -> None:
    error = fail(action="enable", automation_account=TEMPLATE.replace("aa-{vault}", placeholder))
    assert error.key == "automation_account"
    assert f"unknown placeholder {named}" in error.problem
    assert "{subscription_id}, {resource_group}, {vault}" in error.problem


@pytest.mark.parametrize(
    "template",
    [
        TEMPLATE.replace("aa-{vault}", "aa_{vault}"),  # '_' is no account-name character
        TEMPLATE.replace("automationAccounts", "accounts"),
        "{subscription_id}",
        TEMPLATE.replace("{subscription_id}", "{vault}"),  # a vault name is no GUID
    ],
)
def test_a_template_that_fills_to_no_account_id_is_refused_at_load(
    fail: Fail, template: str
) -> None:
    error = fail(action="enable", automation_account=template)
    assert error.key == "automation_account"
    assert error.problem.startswith("not an Automation account id or `keep`")


def test_a_template_that_fills_to_no_account_id_for_one_vault_names_it(
    fail: Fail,
) -> None:
    """`aa-{vault}` is a fine name for most vaults, but too long for a 49-letter vault name."""
    long_vault = V2.replace("/v2", "/" + "v" * 49)
    error = fail(action="enable", automation_account=TEMPLATE, vaults=[V1, long_vault])
    assert error.key == "automation_account"
    assert "gives" in error.problem and "for vault " + "v" * 49 in error.problem
    assert "is not an Automation account id" in error.problem


def test_a_vaults_own_template_is_reported_at_its_own_key(fail: Fail) -> None:
    long_vault = V2.replace("/v2", "/" + "v" * 49)
    error = fail(
        action="enable",
        automation_account=AA,
        vaults=[V1, {"id": long_vault, "automation_account": TEMPLATE}],
    )
    assert error.key == "vaults[1].automation_account"


def test_a_discovered_vault_whose_template_fills_badly_is_refused_when_resolved(
    load: Load,
) -> None:
    config = load(action="enable", automation_account=TEMPLATE, subscriptions=[SUB]).config
    with pytest.raises(ValueError, match="is not an Automation account id"):
        config.desired_for(VaultId(SUB, "rg", "v" * 49))


def test_keep_is_no_template(load: Load) -> None:
    config = load(action="enable", automation_account="keep", vaults=[V1]).config
    assert config.vault_targets()[0].desired.automation_account == KEEP_ACCOUNT


# --- per-subscription accounts and precedence --------------------------------------------------

V3 = f"/subscriptions/{SUB2}/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/vaults/v3"
AA3 = AA.replace("/aa", "/aa3")


def test_a_vault_entrys_account_beats_its_subscriptions_which_beats_the_top_levels(
    load: Load,
) -> None:
    config = load(
        action="enable",
        automation_account=AA,
        vaults=[V1, {"id": V2, "automation_account": AA3}, V3],
        subscriptions=[{"id": SUB, "automation_account": AA2}, SUB2],
    ).config
    assert [t.desired.automation_account for t in config.vault_targets()] == [AA2, AA3, AA]
    assert config.desired_for(FOUND).automation_account == AA2
    assert config.desired_for(VaultId(SUB2, "rg", "v4")).automation_account == AA


def test_a_subscriptions_account_is_matched_case_insensitively(load: Load) -> None:
    mixed = "abcdef00-0000-0000-0000-0000000000ee"
    config = load(
        action="enable",
        automation_account=AA,
        subscriptions=[{"id": mixed.upper(), "automation_account": AA2}],
    ).config
    assert config.desired_for(VaultId(mixed, "rg", "v9")).automation_account == AA2


def test_discovery_needs_no_top_level_account_when_each_subscription_has_one(load: Load) -> None:
    config = load(
        action="enable",
        vaults=[],
        subscriptions=[
            {"id": SUB, "automation_account": AA},
            {"id": SUB2, "automation_account": TEMPLATE},
        ],
    ).config
    assert config.automation_account is None
    assert config.desired_for(FOUND).automation_account == AA
    found2 = VaultId(SUB2, "rg-b", "vb")
    assert config.desired_for(found2).automation_account == account_for(found2, "aa-vb")


def test_a_subscription_without_an_account_still_needs_the_top_levels(fail: Fail) -> None:
    error = fail(
        action="enable", vaults=[], subscriptions=[{"id": SUB, "automation_account": AA}, SUB2]
    )
    assert error.key == "automation_account"


def test_subscriptions_all_needs_the_top_level_account(fail: Fail) -> None:
    assert fail(action="enable", vaults=[], subscriptions="all").key == "automation_account"


def test_an_explicit_vault_takes_its_subscription_entrys_account(load: Load) -> None:
    config = load(
        action="enable", vaults=[V1], subscriptions=[{"id": SUB, "automation_account": AA2}]
    ).config
    assert config.vault_targets()[0].desired.automation_account == AA2


def test_a_subscriptions_template_that_fills_badly_for_an_explicit_vault_names_its_key(
    fail: Fail,
) -> None:
    long_vault = V2.replace("/v2", "/" + "v" * 49)
    error = fail(
        action="enable",
        automation_account=AA,
        vaults=[long_vault],
        subscriptions=[SUB2, {"id": SUB, "automation_account": TEMPLATE}],
    )
    assert error.key == "subscriptions[1].automation_account"
    assert "is not an Automation account id" in error.problem


def test_a_subscriptions_account_must_be_an_account_id(fail: Fail) -> None:
    error = fail(action="enable", subscriptions=[{"id": SUB, "automation_account": "aa"}])
    assert error.key == "subscriptions[0].automation_account"
    assert "not an Automation account id or `keep`" in error.problem


def test_disable_ignores_every_account(load: Load) -> None:
    config = load(
        automation_account=AA,
        vaults=[{"id": V1, "automation_account": AA3}],
        subscriptions=[{"id": SUB, "automation_account": AA2}],
    ).config
    assert config.vault_targets()[0].desired == DesiredState(Action.DISABLE, None)
    assert config.desired_for(FOUND) == DesiredState(Action.DISABLE, None)


# --- the second release's keys -----------------------------------------------------------------


def test_the_new_keys_have_their_defaults(load: Load) -> None:
    config = load().config
    assert (config.state_file, config.verify, config.preflight) == (DEFAULT_STATE_FILE, True, True)
    assert (config.max_pages_per_vault, config.request_timeout_seconds) == (1_000, 60.0)
    assert config.audit.expiry_warning_days == 30.0


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"state_file": None}, {"state_file": None}),
        (
            {"state_file": "/var/lib/asr/journal.jsonl"},
            {"state_file": "/var/lib/asr/journal.jsonl"},
        ),
        ({"verify": False, "preflight": False}, {"verify": False, "preflight": False}),
        ({"max_pages_per_vault": 1}, {"max_pages_per_vault": 1}),
        ({"max_pages_per_vault": 1_000_000}, {"max_pages_per_vault": 1_000_000}),
        ({"request_timeout_seconds": 0.5}, {"request_timeout_seconds": 0.5}),
        ({"request_timeout_seconds": 3_600}, {"request_timeout_seconds": 3_600}),
    ],
)
def test_the_new_keys_take_values_within_their_bounds(
    load: Load, keys: dict[str, Any], expected: dict[str, Any]
) -> None:
    config = load(**keys).config
    assert {key: getattr(config, key) for key in expected} == expected


@pytest.mark.parametrize("days", [0, 0.5, 3_650])
def test_the_expiry_warning_takes_days_up_to_ten_years(load: Load, days: float) -> None:
    assert load(audit={"expiry_warning_days": days}).config.audit.expiry_warning_days == days


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"state_file": ""}, "state_file"),
        ({"state_file": "journal\0.jsonl"}, "state_file"),
        ({"state_file": 7}, "state_file"),
        ({"verify": "true"}, "verify"),
        ({"verify": 1}, "verify"),
        ({"preflight": "no"}, "preflight"),
        ({"max_pages_per_vault": 0}, "max_pages_per_vault"),
        ({"max_pages_per_vault": 1_000_001}, "max_pages_per_vault"),
        ({"max_pages_per_vault": 2.5}, "max_pages_per_vault"),
        ({"max_pages_per_vault": True}, "max_pages_per_vault"),
        ({"max_pages_per_vault": "10"}, "max_pages_per_vault"),
        ({"request_timeout_seconds": 0}, "request_timeout_seconds"),
        ({"request_timeout_seconds": -1}, "request_timeout_seconds"),
        ({"request_timeout_seconds": 3_601}, "request_timeout_seconds"),
        ({"request_timeout_seconds": True}, "request_timeout_seconds"),
        ({"request_timeout_seconds": "60"}, "request_timeout_seconds"),
        ({"request_timeout_seconds": float("inf")}, "request_timeout_seconds"),
        ({"request_timeout_seconds": float("nan")}, "request_timeout_seconds"),
        ({"audit": {"expiry_warning_days": -1}}, "audit.expiry_warning_days"),
        ({"audit": {"expiry_warning_days": 3_651}}, "audit.expiry_warning_days"),
        ({"audit": {"expiry_warning_days": True}}, "audit.expiry_warning_days"),
        ({"audit": {"expiry_warning_days": "30"}}, "audit.expiry_warning_days"),
        ({"audit": {"expiry_days": 30}}, "audit.expiry_days"),
        ({"audit": 30}, "audit"),
    ],
)
def test_the_new_keys_refuse_values_out_of_bounds_or_of_another_type(
    fail: Fail, keys: dict[str, Any], key: str
) -> None:
    assert fail(**keys).key == key


def test_timeout_minutes_refuses_a_numeric_string_with_pydantics_strict_wording(
    fail: Fail,
) -> None:
    error = fail(timeout_minutes="160")
    assert (error.key, error.problem) == ("timeout_minutes", "must be a number, got '160'")


# --- limits above ASR's ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            {"set": {"calls": 300, "per_seconds": 60}},
            "limits.set: 300 per 60 s is more than ASR allows (200 per 60 s): expect 429s",
        ),
        (
            {"set": {"calls": 200, "per_seconds": 59}},
            "limits.set: 200 per 59 s is more than ASR allows (200 per 60 s): expect 429s",
        ),
        (
            {"get": {"calls": 100, "per_seconds": 30}},
            "limits.get: 100 per 30 s is more than ASR allows (10000 per 3600 s): expect 429s",
        ),
    ],
)
def test_limits_faster_than_asr_allows_draw_a_warning(
    load: Load, limits: dict[str, Any], message: str
) -> None:
    assert load(limits=limits).warnings == (("limits_above_asr", message),)


def test_limits_above_asr_in_both_kinds_draw_a_warning_each(load: Load) -> None:
    limits = {
        "set": {"calls": 201, "per_seconds": 60},
        "get": {"calls": 10_001, "per_seconds": 3600},
    }
    assert [code for code, _ in load(limits=limits).warnings] == ["limits_above_asr"] * 2


@pytest.mark.parametrize(
    "limits",
    [
        {"set": {"calls": 200, "per_seconds": 60}, "get": {"calls": 10_000, "per_seconds": 3600}},
        {"set": {"calls": 400, "per_seconds": 120}},  # the same rate over a longer window
        {"set": {"calls": 20, "per_seconds": 60}, "get": {"calls": 100, "per_seconds": 3600}},
    ],
)
def test_limits_at_or_below_asrs_rate_draw_no_warning(load: Load, limits: dict[str, Any]) -> None:
    assert load(limits=limits).warnings == ()
