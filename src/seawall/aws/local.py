"""A local AWS endpoint for tests and `seawall demo --store aws`: moto's server on 127.0.0.1.

moto in server mode is a real HTTP endpoint speaking the AWS APIs; the AWS mode talks to it
through the same boto3 clients a deployment uses. It is a test tool, not a runtime dependency:
install it with `pip install 'moto[server]'`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["local_aws", "serve"]

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextlib.contextmanager
def local_aws(region: str = "us-east-1", *, own_process: bool = False) -> Iterator[str]:
    """Start moto's server on a free 127.0.0.1 port; yield its URL; stop it afterwards.

    Fake credentials replace any configured ones for the duration (and are restored after), so
    nothing signed here could be used against a real AWS account. `own_process=True` runs the
    server in a child process, so that the CPU time of this process is the client's alone (the
    benchmarks measure it that way).
    """
    try:
        server = _atomic_server()
    except ImportError:
        raise ImportError(
            "a local AWS endpoint needs moto's server: pip install 'moto[server]'"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # an access-log line per AWS call
    saved = {k: os.environ.get(k) for k in (*_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION")}
    for key, value in _FAKE_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    try:
        if own_process:
            with _child_server() as url:
                yield url
            return
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _atomic_server() -> Any:
    """moto's threaded server, applying DynamoDB requests one at a time.

    DynamoDB applies each request atomically; moto's server does not across threads (under
    concurrent TransactWriteItems it can fail with "dictionary changed size during iteration" or
    let two conditional writes both pass), so its DynamoDB requests are serialised here. Other
    services' requests, such as SQS long polls, still run side by side.
    """
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class AtomicDynamoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serialised(environ: dict[str, Any], start_response: Any) -> Any:
                if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
                    with lock:
                        return list(app(environ, start_response))
                return app(environ, start_response)

            self._server = make_server(
                self._ip_address, self._port, serialised, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicDynamoServer(ip_address="127.0.0.1", port=0, verbose=False)


@contextlib.contextmanager
def _child_server() -> Iterator[str]:
    """The same server in a child process; yields its URL once it answers."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    child = subprocess.Popen(
        [sys.executable, "-c", f"from seawall.aws.local import serve; serve({port})"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the local AWS endpoint did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(10)


def serve(port: int) -> None:
    """Run the local endpoint on `port` until the process is stopped (the child of
    `local_aws(own_process=True)`)."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = _atomic_server()
    server._port = port
    server._server_entry()
