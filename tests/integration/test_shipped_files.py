"""What the repository ships besides code: the JSON Schemas and the example configs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the venv
import pytest
import yaml
from report_schema import SCHEMAS

from orchestrator.cli import main
from orchestrator.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
EXAMPLES = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("what", ["config", "report"])
def test_the_shipped_schema_is_exactly_what_the_command_prints(
    what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", what]) == 0
    printed = capsys.readouterr().out
    shipped = (SCHEMAS / f"{what}.schema.json").read_text(encoding="utf-8")
    assert printed == shipped, (
        f"schemas/{what}.schema.json is stale: "
        f"asr-autoupdate schema {what} > schemas/{what}.schema.json"
    )


@pytest.mark.parametrize("what", ["config", "report"])
def test_each_schema_is_a_valid_draft_2020_12_schema(what: str) -> None:
    schema = json.loads((SCHEMAS / f"{what}.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == DRAFT_2020_12
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_report_schema_rejects_a_report_that_breaks_the_contract() -> None:
    schema = json.loads((SCHEMAS / "report.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"schema": "asr-autoupdate/report/v1"})
    assert "schema" in schema["required"] and "subscriptions" not in schema["required"]


def test_there_is_an_example_config_for_each_scenario() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "enable-fleet.yaml",
        "disable.yaml",
        "migrate-to-managed-identity.yaml",
        "discover-subscriptions.yaml",
        "demo.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_config_loads_without_warnings_and_matches_the_schema(path: Path) -> None:
    loaded = load_config(path)
    assert loaded.warnings == ()
    schema = json.loads((SCHEMAS / "config.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_the_migration_example_keeps_accounts_and_moves_to_a_managed_identity() -> None:
    config = load_config(CONFIGS / "migrate-to-managed-identity.yaml").config
    desired = config.default_desired()
    assert desired.keeps_account
    assert desired.authentication_type.value == "SystemAssignedIdentity"
