"""The home page, in both languages, with strict headers."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_greets_in_chinese_by_default(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()
    assert "您的影像检查" in response.content.decode()


def test_it_switches_to_english_and_remembers(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    assert "Your imaging exams, from every hospital in the region" in page


def test_it_sends_strict_security_headers(client: Client) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_it_has_no_inline_script(client: Client) -> None:
    page = client.get("/").content.decode()
    assert "<script>" not in page
    assert "onclick=" not in page
