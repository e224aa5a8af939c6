"""``python -m orchestrator.emulator``: the emulator's command line."""

from orchestrator.emulator.cli import main

raise SystemExit(main())
