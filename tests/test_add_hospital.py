"""manage.py add_hospital: a hospital's name, film price and currency (the AE titles: tests/security)."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from imaging.models import Hospital

pytestmark = pytest.mark.django_db


def test_it_prices_the_film_of_a_new_hospital_in_yuan() -> None:
    call_command("add_hospital", "city9", name="Ninth")
    assert Hospital.objects.values_list("currency", "film_price").get(code="city9") == ("CNY", Decimal("8.50"))


def test_it_sets_the_price_and_its_currency() -> None:
    call_command("add_hospital", "city9", name="Ninth", film_price="1.20", currency="usd")
    assert Hospital.objects.values_list("currency", "film_price").get(code="city9") == ("USD", Decimal("1.20"))


def test_it_refuses_a_currency_it_does_not_know() -> None:
    with pytest.raises(CommandError, match="'XYZ' is not a currency of the region"):
        call_command("add_hospital", "city9", name="Ninth", currency="XYZ")
    assert not Hospital.objects.exists()
