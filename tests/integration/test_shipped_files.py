"""What the repository ships besides code: the JSON Schemas and the example configs.

The config's schema refers to the emulator's (`"$ref": "emulator.schema.json"`) instead of
repeating it; validating against it resolves that reference through a `referencing` registry
holding the shipped emulator schema, as a reporting pipeline would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from report_schema import SCHEMAS

from orchestrator.app.lock import RunLock
from orchestrator.cli import main
from orchestrator.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
FLEETS = sorted(CONFIGS.glob("emulator-*.yaml"))  # `emulator --fleet` files, not configs
EXAMPLES = sorted(set(CONFIGS.glob("*.yaml")) - set(FLEETS))
SHIPPED = ("config", "report", "emulator")


def shipped(what: str) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / f"{what}.schema.json").read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def config_validator() -> jsonschema.Draft202012Validator:
    """The config's schema, its reference to the emulator's resolved from the shipped file."""
    registry: Registry[Any] = Registry().with_resource(
        "emulator.schema.json", Resource.from_contents(shipped("emulator"))
    )
    return jsonschema.Draft202012Validator(shipped("config"), registry=registry)


@pytest.mark.parametrize("what", SHIPPED)
def test_the_shipped_schema_is_exactly_what_the_command_prints(
    what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", what]) == 0
    printed = capsys.readouterr().out
    assert printed == (SCHEMAS / f"{what}.schema.json").read_text(encoding="utf-8"), (
        f"schemas/{what}.schema.json is stale: "
        f"asr-autoupdate schema {what} > schemas/{what}.schema.json"
    )


@pytest.mark.parametrize("what", SHIPPED)
def test_each_schema_is_a_valid_draft_2020_12_schema(what: str) -> None:
    schema = shipped(what)
    assert schema["$schema"] == DRAFT_2020_12
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_config_schema_refers_to_the_emulator_schema_and_the_reference_resolves() -> None:
    text = (SCHEMAS / "config.schema.json").read_text(encoding="utf-8")
    assert '"$ref": "emulator.schema.json"' in text
    validator = config_validator()
    good = {"action": "disable", "vaults": ["/subscriptions/x/resourceGroups/g/providers/"
            "Microsoft.RecoveryServices/vaults/v"], "emulator": {"seed": 3, "subscriptions": 1}}  # fmt: skip
    assert validator.is_valid(good)
    # An emulator key the emulator's schema does not know is refused through the reference.
    assert not validator.is_valid({**good, "emulator": {"seed": 3, "no_such_key": 1}})


def test_the_report_schema_rejects_a_report_that_breaks_the_contract() -> None:
    schema = shipped("report")
    assert not jsonschema.Draft202012Validator(schema).is_valid(
        {"schema": "asr-autoupdate/report/v1"}
    )
    assert "schema" in schema["required"] and "subscriptions" not in schema["required"]


@pytest.mark.parametrize("path", FLEETS, ids=[path.name for path in FLEETS])
def test_every_example_fleet_loads_and_matches_the_emulator_schema(path: Path) -> None:
    from orchestrator.emulator import load_fleet

    load_fleet(path)
    emulator = jsonschema.Draft202012Validator(shipped("emulator"))
    emulator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_there_is_an_example_config_for_each_scenario() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "enable-fleet.yaml",
        "disable.yaml",
        "migrate-to-managed-identity.yaml",
        "discover-subscriptions.yaml",
        "demo.yaml",
    } <= names
    assert "emulator-fleet.yaml" in {path.name for path in FLEETS}


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_config_loads_without_warnings_and_matches_the_schema(path: Path) -> None:
    loaded = load_config(path)
    assert loaded.warnings == ()
    config_validator().validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_an_example_s_lock_works_for_a_user_whose_lock_directory_does_not_exist_yet(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not under /run or /var/lock, which only root may create in (this test may run as root,
    so it checks where the lock is, then takes it in a home where nothing exists yet)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    lock = load_config(path).config.lock_file
    if lock is None:
        return
    assert Path(lock).is_relative_to(tmp_path), f"{path.name}: lock_file {lock} is not the user's"
    with RunLock(lock):
        assert Path(lock).is_file()


def test_the_migration_example_keeps_accounts_and_moves_to_a_managed_identity() -> None:
    config = load_config(CONFIGS / "migrate-to-managed-identity.yaml").config
    assert config.automation_account == "keep"
    assert config.authentication_type.value == "SystemAssignedIdentity"
    assert config.subscriptions == "all"
