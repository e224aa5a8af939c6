"""The config: a YAML file read safely, checked whole, before anything is sent.

The public face: :func:`load_config` and what it returns. The parts: :mod:`.source` (the file
and its YAML), :mod:`.model` (the whole), :mod:`.entries` (its sections), :mod:`.values` (single values,
account templates), :mod:`.schema` (its JSON Schema),
:mod:`.problems` (how problems are worded), :mod:`.clouds`.
"""

from orchestrator.config.clouds import CLOUDS, Cloud, CloudEndpoints
from orchestrator.config.entries import AuditConfig, LimitsConfig, SubscriptionEntry, VaultEntry
from orchestrator.config.loader import LoadedConfig, load_config
from orchestrator.config.model import DEFAULT_API_VERSION, DEFAULT_STATE_FILE, Config

__all__ = [
    "CLOUDS",
    "DEFAULT_API_VERSION",
    "DEFAULT_STATE_FILE",
    "AuditConfig",
    "Cloud",
    "CloudEndpoints",
    "Config",
    "LimitsConfig",
    "LoadedConfig",
    "SubscriptionEntry",
    "VaultEntry",
    "load_config",
]
