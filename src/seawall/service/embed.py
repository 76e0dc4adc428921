"""Embedding seawall in an existing Starlette or FastAPI app: routes and lifespan in one call.

    app = FastAPI()
    seawall_app = mount(app, "seawall.toml")          # or mount(app, SeawallConfig(...))

`mount` adds the configured webhook endpoints to the app's routes, runs the store migration,
the worker and the retention clean-up inside the app's own lifespan (around whatever lifespan the
app already has), and installs the problem+json exception handlers. Handler modules are imported
from the configuration file's folder and the working directory, as `seawall serve` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from seawall.config import SeawallConfig
from seawall.service.app import build_app
from seawall.service.problems import add_problem_handlers
from seawall.service.settings import import_handlers, load_settings
from seawall.store import Store

__all__ = ["mount"]


def mount(
    app: Starlette,
    config: SeawallConfig | str | Path,
    *,
    store: Store | None = None,
    with_worker: bool = True,
    problem_handlers: bool = True,
) -> Starlette:
    """Serve seawall's webhooks (and worker) inside `app`; return the seawall app for its state.

    `config` is a `SeawallConfig` or the path of a TOML file (read with environment overrides).
    The returned app's `state` carries `store`, `webhooks` and `worker`; it is also kept as
    `app.state.seawall`. Call before the app starts.
    """
    if isinstance(config, SeawallConfig):
        the_config, path = config, None
    else:
        the_config, path = load_settings(config), config
    import_handlers(the_config, path)
    service = build_app(
        the_config,
        store=store,
        with_worker=with_worker,
        switch_interval_s=None,  # the host app owns the interpreter's settings
        freeze_gc=False,
    )
    app.router.routes.extend(service.routes)
    host_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(host: Any) -> AsyncIterator[Any]:
        async with service.router.lifespan_context(service), host_lifespan(host) as state:
            yield state

    app.router.lifespan_context = lifespan
    app.state.seawall = service
    if problem_handlers:
        add_problem_handlers(app)
    return service
