from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

FAVICON_CACHE = "public, max-age=86400"


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico whatever a page links to; the icon lives with the static files,
    under its hashed name in production, so the address it answers to is kept for a day only."""
    response = HttpResponseRedirect(static("favicon.ico"))
    response["Cache-Control"] = FAVICON_CACHE
    return response
