"""The config's ``emulator`` block, and the config's JSON Schema referring to the emulator's.

The block is the emulator's own :class:`~orchestrator.emulator.FleetSpec`, but a config without
one must not load the emulator (its server, its fleet generator, aiohttp's web framework): an
``apply`` against Azure never starts it, and its import is a fifth of the CLI's start. So the
block is typed ``FleetSpec`` for the type checker and, at run time, checked by a validator that
imports the emulator only when the block is there, its problems reported at their key paths
under ``emulator`` (as :class:`~orchestrator.config.problems.KeyedProblems`).

Pydantic resolves every ``$ref`` it emits itself, so the block is marked in the model
(:data:`EmulatorBlock`) and turned into the external reference here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias

from pydantic import BeforeValidator, ValidationError, WithJsonSchema

from orchestrator.config.problems import KeyedProblems, pydantic_problems

if TYPE_CHECKING:
    from orchestrator.emulator import FleetSpec

_EMULATOR_MARK: Final = "x-asr-autoupdate-emulator"
EMULATOR_SCHEMA_FILE: Final = "emulator.schema.json"
_EMULATOR_KEY: Final = "emulator"


def fleet_spec(value: object) -> FleetSpec:
    """The ``emulator`` block checked as the emulator's FleetSpec (the emulator loads here).

    Raises KeyedProblems: each of the block's problems at its path below ``emulator``.
    """
    from orchestrator.emulator import FleetSpec

    try:
        return FleetSpec.model_validate(value)
    except ValidationError as exc:
        raise KeyedProblems(pydantic_problems(exc, FleetSpec, {}, under=(_EMULATOR_KEY,))) from exc


if TYPE_CHECKING:
    EmulatorBlock: TypeAlias = FleetSpec
else:
    EmulatorBlock = Annotated[
        Any,
        BeforeValidator(fleet_spec),
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
        referred = {key: _refer_to_emulator(value) for key, value in node.items()}
        if any(
            isinstance(option, dict) and option.get(_EMULATOR_MARK)
            for option in node.get("anyOf", ())
        ):
            # Pydantic titles a field unless its type is a model; the block's is one, FleetSpec.
            referred.pop("title", None)
        return referred
    if isinstance(node, list):
        return [_refer_to_emulator(item) for item in node]
    return node
