"""The service's configuration: one TOML file, validated by pydantic, with clear errors."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "ConfigError",
    "DashboardConfig",
    "LoggingConfig",
    "SeawallConfig",
    "ServerConfig",
    "StoreConfig",
    "WebhookEndpointConfig",
    "WorkerConfig",
    "cannot_import",
    "handler_dirs",
    "import_handlers",
    "load_config",
    "parse_config",
]


class ConfigError(ValueError):
    """A configuration file is missing or invalid; each problem names its location and a fix."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Model):
    """Where the queue, inbox, idempotency records and commands live."""

    url: str = "sqlite:///seawall.db"
    migrate_on_start: bool = True

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "use sqlite:///path/to/seawall.db or postgresql://user@host:5432/dbname"
            )
        return value


class ServerConfig(_Model):
    """Where `seawall serve` listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class WorkerConfig(_Model):
    """How the in-process or stand-alone worker runs jobs."""

    concurrency: int = Field(default=16, ge=1, le=1024)
    batch_size: int = Field(default=32, ge=1, le=1000)
    visibility_timeout_s: float = Field(default=30.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    max_receives: int = Field(default=5, ge=1)
    retention_s: float = Field(default=604_800.0, ge=0, allow_inf_nan=False)
    """Finished jobs and terminal webhook events older than this are deleted (0: keep forever)."""
    cleanup_interval_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    """How often the service runs the retention clean-up."""


class WebhookEndpointConfig(_Model):
    """One inbound webhook endpoint: its source, path, scheme and secrets."""

    source: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    path: str = Field(pattern=r"^/")
    scheme: Literal[
        "hmac-timestamp",
        "standard-webhooks",
        "stripe",
        "github",
        "slack",
        "shopify",
        "generic-hmac",
    ] = "hmac-timestamp"
    secrets: list[str] = Field(min_length=1)
    tolerance_s: float = Field(default=300.0, gt=0, le=86_400)
    max_body_bytes: int = Field(default=1_048_576, gt=0, le=64 * 1_048_576)
    handlers: str | None = None
    invalid_signature_status: Literal[400, 401] = 400
    event_id_field: str = "id"
    event_type_field: str | None = None
    """None: the scheme's own fields (the guide's `event`, then `type`; `type` elsewhere)."""
    max_header_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    scheme_options: dict[str, Any] = Field(default_factory=dict)
    max_receives: int | None = Field(default=None, ge=1)
    strict: bool = False
    """True: a verified body that is not a JSON object with a usable id and type gets a 400
    (the old behaviour); False: it is stored and routed (as `unhandled` without a type)."""


class DashboardConfig(_Model):
    """The operator dashboard; off unless a token reference is configured."""

    token: str | None = None


class LoggingConfig(_Model):
    """Log level and format."""

    level: str = "INFO"
    format: Literal["json", "text"] = "json"
    stream: Literal["stdout", "stderr"] = "stdout"
    """Where log lines go: stdout (containers and Lambda collect it) or stderr."""


class SeawallConfig(_Model):
    """The whole configuration file."""

    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    worker: WorkerConfig = WorkerConfig()
    webhooks: list[WebhookEndpointConfig] = Field(default_factory=list)
    dashboard: DashboardConfig = DashboardConfig()
    logging: LoggingConfig = LoggingConfig()

    @field_validator("webhooks")
    @classmethod
    def _unique(cls, value: list[WebhookEndpointConfig]) -> list[WebhookEndpointConfig]:
        paths = [w.path for w in value]
        sources = [w.source for w in value]
        for label, items in (("path", paths), ("source", sources)):
            dupes = sorted({x for x in items if items.count(x) > 1})
            if dupes:
                raise ValueError(f"each webhook needs its own {label}; repeated: {dupes}")
        return value

    @model_validator(mode="after")
    def _retention_outlives_replay_window(self) -> SeawallConfig:
        retention = self.worker.retention_s
        longest = max((w.tolerance_s for w in self.webhooks), default=0.0)
        if retention and retention < 2 * longest:
            raise ValueError(
                f"worker.retention_s = {retention:g} is shorter than twice the longest webhook "
                f"tolerance_s ({longest:g} s), so a replayed delivery could pass the timestamp "
                f"check after its id was forgotten; set retention_s >= {2 * longest:g} "
                "(or 0 to keep events forever)"
            )
        return self


_FIXES = {
    "missing": "add this key",
    "extra_forbidden": "remove this key or check its spelling",
    "literal_error": "use one of the allowed values",
    "string_pattern_mismatch": "see the expected pattern",
    "too_short": "give at least one value",
}


def _explain(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = loc.replace(".[", "[")
        fix = _FIXES.get(err["type"], "")
        message = err["msg"]
        problems.append(f"{loc or '(top level)'}: {message}" + (f" ({fix})" if fix else ""))
    return problems


def parse_config(data: dict[str, Any], *, path: str = "<config>") -> SeawallConfig:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    try:
        return SeawallConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, _explain(exc)) from None


def load_config(path: str | Path) -> SeawallConfig:
    """Read and validate a TOML configuration file."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            str(file), ["file not found; pass --config path/to/seawall.toml"]
        ) from None
    except OSError as exc:
        raise ConfigError(str(file), [f"cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(file), ["not UTF-8 text; save the file as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), [f"invalid TOML: {exc}"]) from None
    return parse_config(data, path=str(file))


def handler_dirs(config_path: str | Path | None) -> list[Path]:
    """Where handler modules are looked up first (like uvicorn's --app-dir), now on sys.path.

    The configuration file's folder, then the working directory: `handlers = "myapp.handlers"`
    next to `seawall.toml` imports whether the console script or `python -m seawall` runs it.
    """
    dirs = [Path(config_path).resolve().parent] if config_path is not None else []
    dirs.append(Path.cwd())
    for folder in reversed(dirs):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return list(dict.fromkeys(dirs))


def import_handlers(config: SeawallConfig, config_path: str | Path | None = None) -> None:
    """Import every `[[webhooks]] handlers` module; ConfigError listing each one that fails."""
    dirs = handler_dirs(config_path)
    problems: list[str] = []
    for index, hook in enumerate(config.webhooks):
        if not hook.handlers:
            continue
        module = hook.handlers.split(":")[0]
        try:
            importlib.import_module(module)
        except Exception as exc:
            where = f"webhooks[{index}] ({hook.source})"
            problems.append(cannot_import(where, module, f"{type(exc).__name__}: {exc}", dirs))
    if problems:
        raise ConfigError(str(config_path or "<config>"), problems)


def cannot_import(where: str, module: str, why: str, dirs: list[Path]) -> str:
    """The one message for a handlers module that does not import: where it looked, what to do."""
    looked = " and ".join(str(d) for d in dirs)
    return (
        f"{where}.handlers: cannot import {module!r} ({why}); looked in {looked}, then "
        "PYTHONPATH and the installed packages: put the module there, install it, or fix the name"
    )
