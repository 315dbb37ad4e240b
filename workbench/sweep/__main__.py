"""``python -m workbench.sweep ...``: the sweep command line (see workbench.cli_sweep)."""

from workbench.cli_sweep import main

raise SystemExit(main())
