"""An id past the database's range in any address is a 404, never a 500.

The table is the URL configuration itself: every pattern with a numeric id,
requested by someone allowed on that side of the portal (a patient, a share
session, a clerk, a regional admin in the admin site), with 99999999999999999999 in place of each id.
"""

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from accounts.models import StaffRole, User
from imaging.models import Hospital
from portal.converters import MAX_ID, DatabaseId
from portal.sharing.shares import create_share
from tests.support.dicom import ALICE
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, link, make_staff, sign_in_patient, sign_in_staff

pytestmark = pytest.mark.django_db

TOO_LARGE = "99999999999999999999"
NUMERIC = (IntConverter, DatabaseId)


def numeric_routes(
    resolver: URLResolver | None = None, prefix: str = "", converter: type | tuple[type, ...] = NUMERIC
) -> list[tuple[str, str]]:
    """(address with TOO_LARGE for every id, namespace) for each pattern with a numeric converter."""
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = numeric_routes(pattern, route, converter)
            found += [(path, namespace or pattern.namespace or "") for path, namespace in inner]
        elif isinstance(pattern, URLPattern) and _numeric_names(pattern, converter):
            for name in _numeric_names(pattern, converter):
                route = _replace_converter(route, name)
            found.append(("/" + route, ""))
    return found


def _numeric_names(pattern: URLPattern, kind: type | tuple[type, ...]) -> list[str]:
    converters = getattr(pattern.pattern, "converters", {})
    return [name for name, converter in converters.items() if isinstance(converter, kind)]


def _replace_converter(route: str, name: str) -> str:
    start = route.index(":" + name + ">")
    return route[: route.rindex("<", 0, start)] + TOO_LARGE + route[start + len(name) + 2 :]


ROUTES = numeric_routes()
ID_ROUTES = {path for path, _ in numeric_routes(converter=DatabaseId)}


@pytest.fixture
def clients(hospital: Hospital) -> dict[str, Client]:
    exam = make_exam(hospital, ALICE, "alice-ids")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    patient, clerk, clinician, admin = Client(), Client(), Client(), Client()
    sign_in_patient(patient, ALICE_PHONE)
    sign_in_staff(clerk, make_staff("clerk", StaffRole.CLERK, hospital))
    sign_in_staff(admin, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))
    User.objects.filter(username="bureau").update(is_superuser=True)
    new = create_share(exam.study, User.objects.get(phone=ALICE_PHONE).pk)
    assert clinician.post(f"/s/{new.token}", {"code": new.code}).status_code == 302
    return {"patient": patient, "share": clinician, "staff": clerk, "admin": admin}


def test_it_finds_the_id_routes_of_every_side() -> None:
    # The admin's are django-otp's (TOTP device config and QR code): its own `int`, guarded in accounts.admin.
    assert {namespace for _, namespace in ROUTES} == {"patient", "share", "staff", "admin"}
    assert len(ROUTES) >= 30


def test_it_uses_the_database_id_converter_in_every_url_of_ours() -> None:
    ours = [path for path, namespace in ROUTES if namespace != "admin"]
    assert ours
    assert [path for path in ours if path not in ID_ROUTES] == []


def test_it_accepts_the_largest_database_id_and_nothing_past_it() -> None:
    assert DatabaseId().to_python(str(MAX_ID)) == MAX_ID
    with pytest.raises(ValueError, match="past the largest database id"):
        DatabaseId().to_python(str(MAX_ID + 1))


@pytest.mark.parametrize(("path", "namespace"), ROUTES, ids=[path for path, _ in ROUTES])
def test_it_answers_404_to_an_id_past_the_database_range(
    clients: dict[str, Client], path: str, namespace: str, settings: Any
) -> None:
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    client = clients[namespace]
    client.raise_request_exception = False
    # No pattern matches such an id, so GET and POST alike find nothing (no 405 from a view either).
    for method in (client.get, client.post):
        assert method(path).status_code == 404, (path, method.__name__)
