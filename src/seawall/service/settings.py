"""Loading the configuration with environment overrides, and `seawall config check`.

Environment variables override the TOML file table by table, through pydantic-settings:
`SEAWALL_STORE__URL`, `SEAWALL_SERVER__PORT`, `SEAWALL_WORKER__CONCURRENCY`,
`SEAWALL_DASHBOARD__TOKEN`, `SEAWALL_LOGGING__LEVEL` and so on (prefix `SEAWALL_`, `__` between
table and key). `LOG_LEVEL` overrides `[logging] level`. Webhook endpoints are a list and come from
the file only. Overridden values are validated exactly like file values.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.config import (
    ConfigError,
    SeawallConfig,
    cannot_import,
    handler_dirs,
    import_handlers,
    load_config,
    parse_config,
)
from seawall.secrets import SecretError, SecretMissingError, resolve_secret
from seawall.webhooks.schemes import UnknownSchemeError, get_scheme

__all__ = [
    "CheckReport",
    "check_config",
    "config_problems",
    "env_overrides",
    "handler_dirs",
    "import_handlers",
    "load_settings",
    "require_valid",
    "resolve_dashboard_token",
]


class _Overrides(BaseSettings):
    """The tables environment variables may override (each a partial table)."""

    model_config = SettingsConfigDict(
        env_prefix="SEAWALL_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    store: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    worker: dict[str, Any] | None = None
    dashboard: dict[str, Any] | None = None
    logging: dict[str, Any] | None = None


def env_overrides() -> dict[str, dict[str, Any]]:
    """The partial tables set through `SEAWALL_<TABLE>__<KEY>` variables (and `LOG_LEVEL`)."""
    overrides = _Overrides().model_dump(exclude_none=True)
    level = os.environ.get("LOG_LEVEL")
    if level:
        overrides.setdefault("logging", {})["level"] = level
    return {k: dict(v) for k, v in overrides.items() if v}


def load_settings(path: str | Path | None) -> SeawallConfig:
    """Read the TOML file (or the defaults when `path` is None) and apply environment overrides.

    Raises ConfigError with each problem's location and fix; a problem caused by an environment
    variable names that variable.
    """
    label = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        load_config(path)  # reports a missing file, bad TOML and invalid values first
        data = tomllib.loads(Path(path).read_text("utf-8"))
    overrides = env_overrides()
    if not overrides:
        return parse_config(data, path=label)
    for table, values in overrides.items():
        merged = dict(data.get(table) or {})
        merged.update(values)
        data[table] = merged
    try:
        return parse_config(data, path=label)
    except ConfigError as exc:
        sources = ", ".join(
            f"SEAWALL_{t.upper()}__{k.upper()}" for t, vals in overrides.items() for k in vals
        )
        raise ConfigError(
            label, [*exc.problems, f"(environment overrides in effect: {sources})"]
        ) from None


def resolve_dashboard_token(config: SeawallConfig) -> str | None:
    """The dashboard's admin token, resolved from its reference; None when the dashboard is off."""
    if not config.dashboard.token:
        return None
    return resolve_secret(config.dashboard.token, name="dashboard.token").value


@dataclass
class CheckReport:
    """What `config check` found: the problems (location, message, fix) and a summary."""

    path: str
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def config_problems(config: SeawallConfig, config_path: str | Path | None = None) -> list[str]:
    """Every problem a valid schema can still hide: schemes, secrets, handler modules, token.

    Nothing stops at the first problem: each webhook's scheme options, each of its secret
    references, its handler module and the dashboard token are all checked, so one run of
    `config check`, `serve` or `worker` names everything to fix.
    """
    dirs = handler_dirs(config_path)
    problems: list[str] = []
    for index, hook in enumerate(config.webhooks):
        where = f"webhooks[{index}] ({hook.source})"
        try:
            get_scheme(hook.scheme, **hook.scheme_options)
        except (UnknownSchemeError, ValueError) as exc:
            problems.append(f"{where}.scheme_options: {exc}")
        for position, reference in enumerate(hook.secrets):
            try:
                resolve_secret(reference, name=f"{where}.secrets[{position}]")
            except SecretMissingError as exc:
                if position == 0:  # later secrets are kept for rotation and may be gone
                    problems.append(str(exc))
            except SecretError as exc:
                problems.append(str(exc))
        module = (hook.handlers or "").split(":")[0]
        if module and _module_missing(module):
            problems.append(cannot_import(where, module, "no such module", dirs))
    try:
        resolve_dashboard_token(config)
    except SecretError as exc:
        problems.append(str(exc))
    return problems


def _module_missing(module: str) -> bool:
    """True when `module` (dotted) cannot be found; a missing parent package counts as missing."""
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def require_valid(config: SeawallConfig, config_path: str | Path | None = None) -> None:
    """Raise one ConfigError listing every problem `config_problems` finds (nothing when none)."""
    problems = config_problems(config, config_path)
    if problems:
        raise ConfigError(str(config_path or "<config>"), problems)


def check_config(path: str | Path) -> CheckReport:
    """Validate a file fully: schema, environment overrides, secret references, handler modules."""
    report = CheckReport(path=str(path))
    try:
        config = load_settings(path)
    except ConfigError as exc:
        report.problems = list(exc.problems)
        return report
    report.problems = config_problems(config, path)
    report.summary = {
        "store": config.store.url.split("@")[-1] if "@" in config.store.url else config.store.url,
        "server": f"{config.server.host}:{config.server.port}",
        "webhooks": [f"{w.source} {w.path} ({w.scheme})" for w in config.webhooks],
        "dashboard": "on" if config.dashboard.token else "off",
        "logging": f"{config.logging.level} {config.logging.format}",
    }
    return report
