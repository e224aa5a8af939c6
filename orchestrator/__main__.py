"""`python -m orchestrator` is the `asr-autoupdate` console script."""

from orchestrator.cli import main

raise SystemExit(main())
