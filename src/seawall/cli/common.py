"""What every command shares: --config/--store/--json options, store opening, output, errors."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from seawall.config import ConfigError, SeawallConfig
from seawall.ops.errors import OperatorError
from seawall.ops.operator import Operator
from seawall.ops.stores import AWS, StoreSelectionError, open_operator, selection_from_env
from seawall.secrets import SecretError
from seawall.service.settings import load_settings
from seawall.store import SchemaTooNewError, Store, StoreError, StoreUnavailableError, open_store

__all__ = [
    "SeawallGroup",
    "age",
    "config_option",
    "emit",
    "fail",
    "json_option",
    "load_cli_config",
    "operate",
    "resolve_selection",
    "resolve_store_url",
    "run",
    "store_option",
    "to_jsonable",
    "when",
    "with_store",
]

T = TypeVar("T")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The seawall.toml file (environment overrides SEAWALL_<TABLE>__<KEY> apply).",
)
store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Store URL (sqlite:///path.db or postgresql://...), or `aws` for the deployment "
    "SEAWALL_AWS_PREFIX names (commands that read events and queues); wins over --config.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def fail(message: str, code: int = 1) -> click.exceptions.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(code)


class SeawallGroup(click.Group):
    """A click group that turns every known error into a clear message and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected failures print one message, never a traceback."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ConfigError as exc:
            lines = "\n".join(f"  - {p}" for p in exc.problems)
            click.echo(f"error: invalid configuration {exc.path}:\n{lines}", err=True)
            raise click.exceptions.Exit(2) from None
        except (StoreUnavailableError, SchemaTooNewError) as exc:
            raise fail(str(exc), 3) from None
        except (StoreError, SecretError, OperatorError) as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:
            if os.environ.get("SEAWALL_DEBUG"):
                raise
            raise fail(
                f"{type(exc).__name__}: {exc} (set SEAWALL_DEBUG=1 for a traceback)"
            ) from None


def load_cli_config(config_path: Path | None) -> SeawallConfig:
    """The configuration from --config (or ./seawall.toml when present), with env overrides."""
    if config_path is None and Path("seawall.toml").is_file():
        config_path = Path("seawall.toml")
    return load_settings(config_path)


def require_config(config_path: Path | None) -> SeawallConfig:
    """The configuration of a long-running command; error when nothing says where the store is.

    Without --config, ./seawall.toml or SEAWALL_STORE__URL, `serve` and `worker` would create a
    database in whatever folder they were started from: refuse instead, saying what to pass.
    """
    if (
        config_path is None
        and not Path("seawall.toml").is_file()
        and not os.environ.get("SEAWALL_STORE__URL")
    ):
        raise click.UsageError(
            "say which configuration: pass --config seawall.toml (or run where ./seawall.toml "
            "is, or set SEAWALL_STORE__URL)"
        )
    return load_cli_config(config_path)


if TYPE_CHECKING:
    _ParamType = click.ParamType[float]  # generic from click 8.2; plain before
else:
    _ParamType = click.ParamType


class Duration(_ParamType):
    """A duration: plain seconds (`3600`) or a number with a unit (`30s`, `30m`, `12h`, `7d`)."""

    name = "duration"
    _UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds as a float; a clear usage error otherwise."""
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            text = str(value).strip().lower()
            unit = self._UNITS.get(text[-1:]) if text else None
            number = text[:-1] if unit is not None else text
            try:
                seconds = float(number) * (unit or 1.0)
            except ValueError:
                self.fail(
                    f"{value!r} is not a duration: use seconds (3600) or a number with s, m, h, "
                    "d or w (30m, 12h, 7d)",
                    param,
                    ctx,
                )
        if not seconds >= 0 or seconds == float("inf"):
            self.fail(f"{value!r} must be a finite duration of 0 or more", param, ctx)
        return seconds


def resolve_store_url(config_path: Path | None, store_url: str | None) -> str:
    """--store, else the configuration's [store] url; error when neither says where."""
    if store_url:
        return store_url
    if (
        config_path is None
        and not Path("seawall.toml").is_file()
        and not os.environ.get("SEAWALL_STORE__URL")
    ):
        raise click.UsageError(
            "say which database: pass --store URL or --config seawall.toml "
            "(or set SEAWALL_STORE__URL)"
        )
    return load_cli_config(config_path).store.url


def resolve_selection(config_path: Path | None, store_url: str | None) -> str:
    """The stores an operator command works on (`seawall.ops.stores`): --store, else
    SEAWALL_OPS_STORE, else the configuration's [store] url."""
    return store_url or selection_from_env() or resolve_store_url(config_path, None)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion for a command."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


def with_store(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at `url`, run `action`, and always close the store."""

    async def main() -> T:
        try:
            store = open_store(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--store") from None
        try:
            return await action(store)
        finally:
            with contextlib.suppress(Exception):  # closing must not hide the real outcome
                await store.close()

    return asyncio.run(main())


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, bytes and containers as plain JSON values."""
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return to_jsonable(value.value)
    return value


def console() -> Console:
    """A console for people: wide enough that ids are never cut."""
    return Console(width=max(120, Console().width), soft_wrap=False, highlight=False)


def emit(
    as_json: bool,
    data: Any,
    *,
    title: str | None = None,
    columns: Sequence[str] = (),
    rows: Iterable[Sequence[Any]] = (),
    empty: str = "nothing to show",
    text: str | None = None,
) -> None:
    """Print `data` as JSON, or a rich table of `columns`/`rows` (or `text`) for people."""
    if as_json:
        click.echo(json.dumps(to_jsonable(data), indent=2, sort_keys=False, default=str))
        return
    out = console()
    if text is not None:
        out.print(text, markup=False)
        return
    materialised = [list(r) for r in rows]
    if not materialised:
        out.print(empty, markup=False)
        return
    table = Table(title=title, show_lines=False)
    for index, name in enumerate(columns):
        table.add_column(name, overflow="fold", no_wrap=index == 0)
    for row in materialised:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


def operate(
    config_path: Path | None,
    store_url: str | None,
    action: Callable[[Operator], Awaitable[T]],
    *,
    with_webhooks: bool = False,
) -> T:
    """Open the selected store (`seawall.ops.stores`: --store, else SEAWALL_OPS_STORE, else the
    configuration's), check it, and run `action` with its Operator.

    With `with_webhooks`, the configuration's webhook endpoints are loaded (for replay on SQL).
    """
    selection = resolve_selection(config_path, store_url)
    has_config = config_path is not None or Path("seawall.toml").is_file()
    wants_config = with_webhooks and has_config and selection.strip().lower() != AWS
    config = load_cli_config(config_path) if wants_config else None

    async def main() -> T:
        async with open_operator(selection, config=config) as op:
            return await action(op)

    try:
        return asyncio.run(main())
    except StoreSelectionError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None


def age(seconds: float | None) -> str:
    """A short human duration."""
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def when(epoch: float | None) -> str:
    """UTC time for tables."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
