"""Run the seawall service from a config file under uvicorn (uvloop, httptools): one process.

python -m tests.webhooks.serve_config seawall.toml PORT
"""

from __future__ import annotations

import sys

import uvicorn

from seawall.app import build_app
from seawall.config import load_config


def main() -> None:
    """Serve `argv[1]`'s configuration on 127.0.0.1:`argv[2]`."""
    config = load_config(sys.argv[1])
    app = build_app(config)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
