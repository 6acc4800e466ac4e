"""Tests that need a real service skip where it is missing, and fail in CI."""

import os

import pytest


def require(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI and is missing")
    pytest.skip(f"{what} is not available here")
