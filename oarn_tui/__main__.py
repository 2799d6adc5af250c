"""`python -m oarn_tui` runs the same command as `oarn`."""

from __future__ import annotations

from oarn_tui.cli import main

if __name__ == "__main__":
    main()
