"""The one boundary where a config file becomes a :class:`~orchestrator.config.model.Config`.

The file system, PyYAML and pydantic are called here; every error they raise leaves as one
:class:`~orchestrator.errors.ConfigError` naming the file, the key path and the problem. Nothing
here touches the network.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from orchestrator.config.model import Config
from orchestrator.config.problems import describe, fail, pydantic_problems
from orchestrator.config.source import decode, parse_yaml, read_bytes
from orchestrator.errors import ConfigError

# Tagged unions' tags appear in pydantic's error locations; the loader drops them.
UNION_TAGS: Final = {"subscriptions": frozenset({"all", "list"})}
# What a lock file of ours holds: nothing, or the holder's PID and a newline.
_PID_ONLY: Final = re.compile(rb"\s*\d*\s*")


@dataclass(frozen=True)
class LoadedConfig:
    """A config that passed every check, where it came from, and what was doubtful in it.

    ``warnings``: (code, message) pairs; ``sha256``: of the file's bytes, for the report and
    for refusing a report of another config.
    """

    path: Path
    config: Config
    warnings: tuple[tuple[str, str], ...]
    sha256: str


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and check a config file.

    Raises ConfigError naming the file, the key path and the problem. When there are several,
    the first line holds the first and the rest follow, one per line.
    """
    name = os.fspath(path)
    raw = read_bytes(name)
    data = parse_yaml(decode(raw, name), name)
    if data is None:
        raise ConfigError(name, "", "the file is empty: it needs at least `action` and a target")
    if not isinstance(data, dict):
        got = describe(data)
        raise ConfigError(name, "", f"the top level must be a mapping of keys, got {got}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        fail(name, pydantic_problems(exc, Config, UNION_TAGS), exc)
    if config.lock_file is not None:
        _check_lock_file(name, config.lock_file)
    return LoadedConfig(Path(path), config, config.warnings(), hashlib.sha256(raw).hexdigest())


def _check_lock_file(name: str, lock_file: str) -> None:
    """Refuse a lock file that is something else: the config itself, a report, a directory.

    Taking the lock truncates the file to the holder's PID, so pointing it at a file that holds
    anything else would destroy that file.
    """
    target = Path(lock_file)
    try:
        info = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(name, "lock_file", f"cannot inspect {lock_file}: {exc.strerror}") from exc
    if Path(name).resolve() == target.resolve():
        raise ConfigError(name, "lock_file", "is this config file itself")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(name, "lock_file", f"{lock_file} exists and is not a regular file")
    try:
        with target.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise ConfigError(name, "lock_file", f"cannot read {lock_file}: {exc.strerror}") from exc
    if info.st_size > 64 or not _PID_ONLY.fullmatch(head):
        raise ConfigError(
            name,
            "lock_file",
            f"{lock_file} exists and is not a lock file (it is neither empty nor a PID): "
            "taking the lock would overwrite it",
        )
