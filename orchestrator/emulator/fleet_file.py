"""Read a fleet description (``--fleet FLEET.yaml``) into a `FleetSpec`."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from orchestrator.emulator.fleet_spec import FleetSpec


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def load_fleet(path: str | os.PathLike[str]) -> FleetSpec:
    """The spec in a YAML file; an empty file is the default spec.

    Raises ValueError naming the file and, for a bad key or value, its key path.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the fleet file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a fleet file must be a mapping of keys to values")
    try:
        return FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path}: {_problems(exc)}") from exc
