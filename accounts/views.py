"""Sign-in pages: number, code, sign-out; and the staff sign-in with TOTP."""

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts.device_cookies import subject_of_phone, trusted_device
from accounts.forms import CodeForm, PhoneForm, StaffSignInForm
from accounts.middleware import mark_signed_in
from accounts.phones import masked
from accounts.signin import request_code, verify_code
from accounts.throttle import client_for
from portal.audit import trail
from portal.audit.models import AuditAction

PENDING_PHONE = "signin_phone"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _on_trusted_device(request: HttpRequest, phone: str) -> bool:
    """Whether this browser signed in with this number before (its device cookie, OWASP's "device cookies")."""
    return bool(trusted_device(request, subject_of_phone(phone)))


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    # The slip's QR code brings the number along, so the patient only confirms it.
    form = PhoneForm(request.POST or None, initial={"phone": request.GET.get("phone", "")[:32]})
    refusal = None
    if request.method == "POST" and form.is_valid():
        phone = form.cleaned_data["phone"]
        refusal = request_code(phone, client_ip(request), _on_trusted_device(request, phone))
        if refusal is None:
            request.session[PENDING_PHONE] = phone
            return redirect("accounts:code")
    status = 429 if refusal else 400 if request.method == "POST" else 200
    return render(request, "accounts/sign_in.html", {"form": form, "refusal": refusal}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def enter_code(request: HttpRequest) -> HttpResponse:
    phone = request.session.get(PENDING_PHONE)
    if not phone:
        return redirect("accounts:sign-in")
    form = CodeForm(request.POST or None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        user, refusal = verify_code(phone, form.cleaned_data["code"], client_for(request, subject_of_phone(phone)))
        if user is not None:
            login(request, user, backend="accounts.backends.UserBackend")  # cycles the session key
            mark_signed_in(request)
            trail.record(request, AuditAction.SIGN_IN)
            return redirect("patient:studies")
    status = 429 if refusal and refusal.retry_after else 400 if request.method == "POST" else 200
    context = {"form": form, "refusal": refusal, "phone": masked(phone)}
    response = render(request, "accounts/enter_code.html", context, status=status)
    if refusal and refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


@require_POST
def resend_code(request: HttpRequest) -> HttpResponse:
    phone = request.session.get(PENDING_PHONE)
    if not phone:
        return redirect("accounts:sign-in")
    refusal = request_code(phone, client_ip(request), _on_trusted_device(request, phone))
    context = {"form": CodeForm(), "refusal": refusal, "phone": masked(phone), "resent": refusal is None}
    return render(request, "accounts/enter_code.html", context, status=429 if refusal else 200)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)  # flushes the session on the server
    response = HttpResponseRedirect(reverse("home"))
    # And the browser's copies: images and pages in its cache, cookies, storage (a shared computer).
    response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def staff_sign_in(request: HttpRequest) -> HttpResponse:
    """Username, password and the current TOTP code: all three, every time."""
    form = StaffSignInForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        login(request, user, backend="accounts.backends.UserBackend")
        otp_login(request, user.otp_device)
        mark_signed_in(request)
        target = request.GET.get("next", "")
        return redirect(target if target.startswith("/staff/") or target.startswith("/admin/") else "staff:home")
    return render(
        request, "accounts/staff_sign_in.html", {"form": form}, status=400 if request.method == "POST" else 200
    )
