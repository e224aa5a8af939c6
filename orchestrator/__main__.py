"""`python -m orchestrator` is the `asr-autoupdate` console script."""

from orchestrator.cli import entry

raise SystemExit(entry())
