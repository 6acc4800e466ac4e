"""Demo identities cannot reach production: the demo's passwords and TOTP keys are published in the README."""

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from accounts.checks import check_demo_identities
from accounts.models import StaffRole
from accounts.staff import DEMO_PASSWORD, add_staff, demo_totp_key
from tests.support.people import make_staff


def test_it_refuses_to_seed_the_demo_with_debug_off(db: None, settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", "--no-samples")


def demo_key_on_a_real_name(settings: Any) -> None:
    settings.DEBUG = True
    add_staff("wang.li", "a-real-long-password-9", StaffRole.REGIONAL_ADMIN, None, totp_key=demo_totp_key("wang.li"))


def demo_password_on_a_demo_name(settings: Any) -> None:
    add_staff("bureau", DEMO_PASSWORD, StaffRole.REGIONAL_ADMIN, None)


@pytest.mark.parametrize(
    ("plant", "named"),
    [(demo_key_on_a_real_name, "'wang.li' has the demo key"), (demo_password_on_a_demo_name, "'bureau'")],
)
def test_it_fails_check_deploy_on_a_demo_identity(db: None, settings: Any, plant: Any, named: str) -> None:
    plant(settings)
    settings.DEBUG = False
    errors = check_demo_identities(None)
    assert [error.id for error in errors] == ["accounts.E001"]
    assert named in errors[0].msg
    with pytest.raises(SystemCheckError, match=r"accounts\.E001"):
        call_command("check", "--deploy", "--fail-level", "ERROR")


def test_it_finds_nothing_in_a_database_of_real_staff(db: None, settings: Any) -> None:
    make_staff("bureau", StaffRole.REGIONAL_ADMIN, None)  # a demo name, with its own password and a random key
    settings.DEBUG = False
    assert check_demo_identities(None) == []
