"""`python -m traytrader` is the same as the `traytrader` console script."""

from traytrader.cli import main

raise SystemExit(main())
