"""The synchronous redis-py client of a shared store: short timeouts, a clear error without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

__all__ = ["redis_client"]


def redis_client(url: str, timeout_s: float) -> redis.Redis:
    """A `redis.Redis` for `url` whose connects and commands give up after `timeout_s`."""
    try:
        import redis as redis_lib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the shared stores on Redis need redis-py: pip install 'seawall[redis]'"
        ) from exc
    return redis_lib.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
