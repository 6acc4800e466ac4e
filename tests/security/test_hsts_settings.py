"""HSTS in production: includeSubDomains and preload only when the operator turns them on.

Both reach past this site (every host of the domain; browsers' built-in lists),
so they are settings, off by default, and `check --deploy` is clean either way.
"""

from tests.test_settings import PRODUCTION, manage

HEADER = (
    "from django.http import HttpResponse; from django.middleware.security import SecurityMiddleware; "
    "from django.test import RequestFactory; "
    "request = RequestFactory().get('/', secure=True, HTTP_HOST='efilm.example.org'); "
    "print(SecurityMiddleware(lambda r: HttpResponse())(request)['Strict-Transport-Security'])"
)

CASES = [
    ({}, "max-age=31536000"),
    ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "1"}, "max-age=31536000; includeSubDomains"),
    ({"SECURE_HSTS_PRELOAD": "1"}, "max-age=31536000; preload"),
    (
        {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "SECURE_HSTS_PRELOAD": "1"},
        "max-age=31536000; includeSubDomains; preload",
    ),
]


def test_it_sends_subdomains_and_preload_only_when_set_and_passes_the_deployment_checks() -> None:
    for env, header in CASES:
        sent = manage("shell", "-v", "0", "-c", HEADER, **PRODUCTION, **env)
        assert sent.returncode == 0, sent.stderr
        assert (env, sent.stdout.strip()) == (env, header)
        checked = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **env)
        assert checked.returncode == 0, (env, checked.stderr)
        assert "no issues" in checked.stdout


def test_it_fails_loudly_on_a_malformed_hsts_setting() -> None:
    result = manage("check", **PRODUCTION, SECURE_HSTS_PRELOAD="sometimes")
    assert result.returncode != 0
    assert "SECURE_HSTS_PRELOAD='sometimes'" in result.stderr
