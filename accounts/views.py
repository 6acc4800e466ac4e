"""Sign-in pages: number, code, sign-out; the confirm page of step-up; the patient's remembered
phones; and the staff sign-in with TOTP."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import remembering
from accounts.device_cookies import subject_of_phone, trusted_device
from accounts.forms import CodeForm, ConfirmCodeForm, PhoneForm, StaffSignInForm
from accounts.middleware import mark_signed_in
from accounts.models import RememberedDevice, User
from accounts.phones import masked
from accounts.signin import Refusal, request_code, verify_code
from accounts.stepup import is_signed_in_patient, mark_code_fresh, next_after_confirm
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
            return _signed_in(request, user, remember=form.cleaned_data["remember"])
    status = 429 if refusal and refusal.retry_after else 400 if request.method == "POST" else 200
    context = {"form": form, "refusal": refusal, "phone": masked(phone)}
    response = render(request, "accounts/enter_code.html", context, status=status)
    if refusal and refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _signed_in(request: HttpRequest, user: User, *, remember: bool) -> HttpResponse:
    """A patient's session after the right code (fresh, for step-up), and the phone remembered if asked."""
    login(request, user, backend="accounts.backends.UserBackend")  # cycles the session key
    mark_signed_in(request)
    mark_code_fresh(request)
    trail.record(request, AuditAction.SIGN_IN, **({"remember": True} if remember else {}))
    response = redirect("patient:studies")
    if remember:
        device = remembering.remember_phone(request, response, user)
        # This session is the phone's too: forgetting the phone (a loss) ends it, as it ends those restored.
        remembering.mark_restored(request, device)
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
    response = HttpResponseRedirect(reverse("home"))
    remembering.forget_this_phone(request, response)  # signing out on a remembered phone forgets it
    logout(request)  # flushes the session on the server
    # And the browser's copies: images and pages in its cache, cookies, storage (a shared computer).
    response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


def patient_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`view(request, patient, ...)` for a signed-in patient; anyone else goes to the sign-in page
    (as portal.access.PATIENT sends them)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_signed_in_patient(request):
            return redirect("accounts:sign-in")
        return view(request, request.user, *args, **kwargs)

    return wrapped


@never_cache
@require_http_methods(["GET", "POST"])
@patient_required
def confirm(request: HttpRequest, patient: User) -> HttpResponse:
    """Step-up (accounts.stepup): a code sent to the patient's own number, then back to `next`.

    "send" asks for the code (with the sign-in's limits); "code" checks it, and
    only the signed-in patient's code counts.
    """
    phone = patient.phone or ""
    target = next_after_confirm(request, request.POST.get("next") or request.GET.get("next", ""))
    posted_code = "code" in request.POST
    form = ConfirmCodeForm(request.POST if posted_code else None)
    refusal: Refusal | None = None
    if request.method == "POST" and not posted_code:
        refusal = request_code(phone, client_ip(request), _on_trusted_device(request, phone))
    elif posted_code and form.is_valid():
        verified, refusal = verify_code(phone, form.cleaned_data["code"], client_for(request, subject_of_phone(phone)))
        if verified is not None and verified.pk == patient.pk:
            mark_code_fresh(request)
            return redirect(target)
    sent = request.method == "POST" and not posted_code and refusal is None
    context = {"form": form, "refusal": refusal, "phone": masked(phone), "next": target, "sent": sent}
    status = 429 if refusal and refusal.retry_after else 400 if posted_code else 200
    return render(request, "accounts/confirm.html", context, status=status)


@never_cache
@require_GET
@patient_required
def devices(request: HttpRequest, patient: User) -> HttpResponse:
    """The patient's remembered phones that still sign them in, this one marked."""
    listed = list(RememberedDevice.objects.live().filter(user=patient).order_by("-last_used_at")[:50])
    context = {"devices": listed, "this_phone": remembering.this_phone(request)}
    return render(request, "accounts/devices.html", context)


@require_POST
@patient_required
def forget_device(request: HttpRequest, patient: User, pk: int) -> HttpResponse:
    device = get_object_or_404(RememberedDevice.objects.live().filter(user=patient), pk=pk)
    RememberedDevice.objects.filter(pk=device.pk).revoke()
    trail.record(request, AuditAction.DEVICE_FORGET, device=device.pk)
    response = redirect("patient:devices")
    if remembering.this_phone(request) == device.pk:
        remembering.forget_cookie(response)
    return response


@require_POST
@patient_required
def forget_devices(request: HttpRequest, patient: User) -> HttpResponse:
    RememberedDevice.objects.filter(user=patient).revoke()
    trail.record(request, AuditAction.DEVICE_FORGET, device="all")
    response = redirect("patient:devices")
    remembering.forget_cookie(response)
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
