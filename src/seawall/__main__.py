"""`python -m seawall ...`: the same command line as the `seawall` console script."""

from __future__ import annotations

from seawall.cli import main

if __name__ == "__main__":
    main()
