"""Serving renders over HTTP, for whichever requester a view has already checked.

Views of each kind of requester (staff, patient, share) load the instance or
series through their own access helper, then call `serve_preview` or
`serve_series_thumbnail` here. Nothing here checks access. A render not yet
made is asked of `tasks.render_on_request`, which owns its queueing.
"""

import hashlib

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from imaging.models import Instance, RenderStatus, Series
from imaging.rendering.renders import InvalidRenderRequest, RenderSpec, placeholder, read_render
from imaging.rendering.tasks import middle_instance, render_on_request

# Images of a person stay in the browser's cache briefly: a shared computer does not keep them
# for a year. Past that, the ETag makes reloading a 304 without a body, so the viewer stays fast.
IMAGE_CACHE = "private, max-age=300"


def serve_preview(request: HttpRequest, instance: Instance) -> HttpResponse:
    try:
        spec = RenderSpec.from_query(request.GET, instance)
    except InvalidRenderRequest as error:
        return HttpResponseBadRequest(str(error))
    return serve_render(request, instance, spec)


def serve_thumbnail(request: HttpRequest, instance: Instance) -> HttpResponse:
    return serve_render(request, instance, RenderSpec.thumbnail())


def serve_series_thumbnail(request: HttpRequest, series: Series) -> HttpResponse:
    instance = middle_instance(series.pk)
    if instance is None:
        return _placeholder_response(RenderSpec.thumbnail())
    return serve_render(request, instance, RenderSpec.thumbnail())


def serve_render(request: HttpRequest, instance: Instance, spec: RenderSpec) -> HttpResponse:
    """The render, from storage, or made now (by a worker when there is one).

    A render's key names exactly what it shows, so a file found under it is
    the answer: the fast path touches neither the database nor a worker.
    """
    key = spec.key(instance)
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        return _cacheable(HttpResponse(status=304), etag)
    try:
        return _cacheable(HttpResponse(read_render(key), content_type=spec.content_type), etag)
    except FileNotFoundError:
        pass
    status = render_on_request(instance, spec, key)
    if status == RenderStatus.READY:
        return _cacheable(HttpResponse(read_render(key), content_type=spec.content_type), etag)
    if status == RenderStatus.FAILED:
        return _placeholder_response(spec)
    response = HttpResponse("the image is still being prepared", status=503, content_type="text/plain")
    response["Retry-After"] = "1"
    return response


def _cacheable(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = IMAGE_CACHE
    return response


def _placeholder_response(spec: RenderSpec) -> HttpResponse:
    response = HttpResponse(placeholder(spec), content_type=spec.content_type)
    response["Cache-Control"] = "no-store"
    response["X-Render-Status"] = "unavailable"
    return response
