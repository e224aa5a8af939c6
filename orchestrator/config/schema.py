"""The config's JSON Schema, whose ``emulator`` block refers to the emulator's own schema.

Pydantic resolves every ``$ref`` it emits itself, so the block is marked in the model
(:data:`EmulatorBlock`) and turned into the external reference here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import WithJsonSchema

from orchestrator.emulator import FleetSpec

_EMULATOR_MARK: Final = "x-asr-autoupdate-emulator"
EMULATOR_SCHEMA_FILE: Final = "emulator.schema.json"
EmulatorBlock = Annotated[
    FleetSpec,
    WithJsonSchema(
        {
            _EMULATOR_MARK: True,
            "description": "A fleet description: run against the built-in emulator "
            "(`asr-autoupdate schema emulator` prints its schema).",
        }
    ),
]


def with_emulator_reference(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the marked ``emulator`` block a reference to the emulator's schema."""
    referred: dict[str, Any] = _refer_to_emulator(schema)
    return referred


def _refer_to_emulator(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(_EMULATOR_MARK):
            return {"$ref": EMULATOR_SCHEMA_FILE, "description": node["description"]}
        return {key: _refer_to_emulator(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_refer_to_emulator(item) for item in node]
    return node
