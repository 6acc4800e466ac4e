"""A real S3 HTTP API for tests: moto's server in a process of its own, a fresh bucket per test."""

import importlib.util
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.processes import background, free_port, output_of, wait_for_port

# moto takes any credentials; these are what the portal is configured with.
ACCESS_KEY = "efilm-test"
SECRET_KEY = "efilm-test-secret"


def moto_server_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("moto", "flask", "boto3"))


@dataclass(frozen=True)
class Bucket:
    name: str
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def env(self) -> dict[str, str]:
        """The environment of a portal process (listener, worker) that stores in this bucket."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": self.name,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        data: bytes = self.client().get_object(Bucket=self.name, Key=key)["Body"].read()
        return data

    def etag(self, key: str) -> str:
        return str(self.client().head_object(Bucket=self.name, Key=key)["ETag"])


class MotoServer:
    """`moto_server` on a free loopback port: S3 over HTTP, as the portal's boto3 client talks to a real store."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process: subprocess.Popen[str] = background(command, {"PATH": "/usr/bin:/bin"})
        wait_for_port(self.port, self.process)

    def new_bucket(self) -> Bucket:
        bucket = Bucket(f"efilm-{uuid.uuid4().hex[:12]}", self.endpoint)
        bucket.client().create_bucket(Bucket=bucket.name)
        return bucket

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return output_of(self.process)
