"""The emulator is a wing of its own: it imports only the standard library, aiohttp, pydantic
and yaml — nothing of the tool, and no Azure SDK (azure-mgmt-recoveryservicessiterecovery is not
needed to emulate ASR; a test of the tool against the SDK belongs with the tool's tests)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import orchestrator.emulator

EMULATOR = Path(orchestrator.emulator.__file__).parent
ALLOWED_THIRD_PARTY = {"aiohttp", "pydantic", "yaml"}


def _imports() -> set[tuple[str, str]]:
    """(file name, imported module) for every absolute import of the emulator's modules."""
    found: set[tuple[str, str]] = set()
    for path in EMULATOR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add((path.name, node.module))
    return found


def test_the_emulator_imports_only_the_standard_library_aiohttp_pydantic_and_yaml() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"orchestrator"}
    outside = {(f, m) for f, m in _imports() if m.split(".")[0] not in allowed}
    assert outside == set()


def test_the_emulator_imports_nothing_of_the_tool() -> None:
    tool = {
        (f, m)
        for f, m in _imports()
        if m.split(".")[0] == "orchestrator" and not m.startswith("orchestrator.emulator")
    }
    assert tool == set()


def test_no_azure_sdk_is_imported_by_the_emulator() -> None:
    assert not {m for _, m in _imports() if m.split(".")[0] == "azure"}
