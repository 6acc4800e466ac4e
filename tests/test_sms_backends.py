"""SMS backends: console, locmem, file, and an HTTP gateway with retries."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from accounts.sms import SMS, send_sms
from accounts.sms_gateway import SMSGatewayError, deliver
from accounts.tasks import send_sms_through_gateway


def test_it_prints_messages_with_the_console_backend(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings.SMS_BACKEND = "console"
    send_sms("+8613800000001", "hello")
    assert "SMS to +8613800000001: hello" in capsys.readouterr().out


def test_it_keeps_messages_with_the_locmem_backend(sms_outbox: list[SMS]) -> None:
    send_sms("+8613800000001", "hello")
    assert sms_outbox == [SMS("+8613800000001", "hello")]


def test_it_appends_messages_to_a_file(settings: Any, tmp_path: Path) -> None:
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = tmp_path
    send_sms("+8613800000001", "hello")
    (logged,) = tmp_path.iterdir()
    assert json.loads(logged.read_text())["to"] == "+8613800000001"


class Gateway(BaseHTTPRequestHandler):
    failures_left = 0
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Gateway.failures_left > 0:
            Gateway.failures_left -= 1
            self.send_response(503)
        else:
            Gateway.received.append({"body": body, "authorization": self.headers["Authorization"]})
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway(settings: Any) -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    Gateway.received, Gateway.failures_left = [], 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_GATEWAY_KEY, settings.SMS_GATEWAY_SENDER, settings.SMS_GATEWAY_TEMPLATE = "k3y", "EFILM", "T-1"
    yield server
    server.shutdown()


def test_it_posts_to_the_gateway_with_credentials_and_template(gateway: HTTPServer) -> None:
    deliver("+8613800000001", "hello")
    assert Gateway.received == [
        {
            "body": {"to": "+8613800000001", "text": "hello", "sender": "EFILM", "template": "T-1"},
            "authorization": "Bearer k3y",
        }
    ]


def test_it_reports_the_gateways_status(gateway: HTTPServer) -> None:
    Gateway.failures_left = 1
    with pytest.raises(SMSGatewayError, match="503"):
        deliver("+8613800000001", "hello")


def test_it_retries_a_failing_gateway_from_a_task(gateway: HTTPServer, settings: Any) -> None:
    settings.SMS_GATEWAY_BACKOFF = 0
    Gateway.failures_left = 2
    send_sms_through_gateway.apply(("+8613800000001", "hello"))
    assert Gateway.failures_left == 0
    assert len(Gateway.received) == 1


def test_it_reports_an_unreachable_gateway(settings: Any) -> None:
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/send"
    settings.SMS_GATEWAY_TIMEOUT = 1
    with pytest.raises(SMSGatewayError, match="unreachable"):
        deliver("+8613800000001", "hello")
