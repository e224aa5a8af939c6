"""The shipped report schema (`schemas/report.schema.json`), for checking every report a test reads.

`assert_valid_report` is what `run_cli` calls on each report it reads back; tests that run the
CLI some other way call it themselves.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
REPORT_SCHEMA = SCHEMAS / "report.schema.json"


@functools.cache
def report_validator() -> jsonschema.Draft202012Validator:
    """A validator for the shipped report schema (read once per test session)."""
    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def assert_valid_report(report: Any) -> None:
    """Fail naming the first few places where ``report`` (parsed JSON) breaks the schema."""
    errors = sorted(report_validator().iter_errors(report), key=lambda e: list(e.absolute_path))
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
    assert not problems, "the report does not match schemas/report.schema.json:\n" + "\n".join(
        problems[:5]
    )
