"""A real SMS gateway on 127.0.0.1 for tests: it answers OK, answers 500, or never answers."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "500", "hang")
KEY, SENDER, TEMPLATE = "k3y-gateway", "EFILM", "SMS_1234"


@dataclass(frozen=True)
class Attempt:
    at: float  # time.monotonic() when the POST arrived
    payload: dict[str, Any]
    authorization: str


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() releases hanging handlers; shutting down does not wait for them

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), GatewayHandler)
        self.mode = mode
        self.attempts: list[Attempt] = []
        self.arrived = threading.Condition()
        self.released = threading.Event()
        self.broker_down = False  # set by a test that also stops the broker: no text gets this far

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/sms"

    def record(self, attempt: Attempt) -> None:
        with self.arrived:
            self.attempts.append(attempt)
            self.arrived.notify_all()

    def wait_for_attempts(self, count: int, timeout: float) -> list[Attempt]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.attempts) >= count, timeout)
            return list(self.attempts)

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()


class GatewayHandler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.record(Attempt(time.monotonic(), payload, self.headers.get("Authorization", "")))
        if self.server.mode == "hang":
            self.server.released.wait(60)  # past any client's timeout; stop() ends it
            self.close_connection = True
            return
        self.send_response(200 if self.server.mode == "ok" else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def running_gateway(mode: str, configure: Callable[[str], None]) -> Iterator[Gateway]:
    """A gateway serving in a thread; `configure` gets its URL (to put in settings or a worker's environment)."""
    gateway = Gateway(mode)
    thread = threading.Thread(target=gateway.serve_forever, name=f"sms-gateway-{mode}", daemon=True)
    thread.start()
    try:
        configure(gateway.url)
        yield gateway
    finally:
        gateway.stop()
        thread.join(5)
