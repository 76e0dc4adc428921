"""A local AWS endpoint for tests and `seawall demo --store aws`: moto's server on 127.0.0.1.

moto in server mode is a real HTTP endpoint speaking the AWS APIs; the AWS mode talks to it
through the same boto3 clients a deployment uses. It is a test tool, not a runtime dependency:
install it with `pip install 'moto[server]'`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

__all__ = ["local_aws"]

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextlib.contextmanager
def local_aws(region: str = "us-east-1") -> Iterator[str]:
    """Start moto's server on a free 127.0.0.1 port; yield its URL; stop it afterwards.

    Fake credentials replace any configured ones for the duration (and are restored after), so
    nothing signed here could be used against a real AWS account.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ImportError(
            "a local AWS endpoint needs moto's server: pip install 'moto[server]'"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call
    saved = {k: os.environ.get(k) for k in (*_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION")}
    for key, value in _FAKE_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
