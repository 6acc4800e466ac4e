"""Who asks for exam pages and images, and how a view is handed them.

A `Requester` is what any kind of requester (a patient, a share session, staff)
may see, as one `StudyScope`, and what they may do; every object an exam page
shows is loaded through it, and a miss is a 404 whether the object does not
exist or is someone else's. A `Kind` says how one kind of requester is
recognised (portal.access makes the three), what a request that is not one
gets, and what its responses carry. The exam views are one set for every
kind (portal.exams.views): the URLconf hands each its kind (`exam_urls`).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse

from imaging.access import StudyScope, renderable_instance
from imaging.models import Instance, Series, Study
from portal.exams.models import Download


@dataclass(frozen=True)
class Requester:
    """What one requester may see (`scope`) and do, and the URL namespace of their exam pages.

    `share` is the share a share session reads (portal.sharing's `ShareLink`);
    its downloads are the share's, a patient's are their own. `full_name`: the
    pages show the patient's whole name, not the family name and "*"
    (portal.exams.identity); masked unless the kind says otherwise. `family`:
    the records in a patient's scope that are a family member's, each with the
    family link that shows it (accounts.family), for the audit log and the pages.
    """

    scope: StudyScope
    namespace: str
    user_id: int | None = None
    share: Model | None = None
    download: bool = True
    full_name: bool = False
    family: tuple[tuple[int, int], ...] = ()

    @property
    def report(self) -> bool:
        return self.scope.reports

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"{self.namespace}:{name}", args=args)

    def family_link_of(self, study: Study) -> int | None:
        """The family link through which a patient sees this study; None for their own (or not a patient)."""
        return dict(self.family).get(study.patient_id) if self.family else None

    def of_person(self, link_id: int | None) -> "Requester":
        """The same patient narrowed to one person's records: their own (None), or one family link's."""
        family = dict(self.family)
        if link_id is None:
            records = tuple(r for r in self.scope.patient_record_ids if r not in family)
        else:
            records = tuple(r for r, link in self.family if link == link_id)
        return replace(self, scope=self.scope.only_records(records))

    def audit(self, study: Study | None = None) -> dict[str, Any]:
        """What the audit log records beside the signed-in user: the share a share session read,
        the family link through which a patient read a family member's study."""
        if self.share is not None:
            return {"share": self.share.pk}
        link = self.family_link_of(study) if study is not None else None
        return {"family": link} if link is not None else {}

    def study(self, pk: int) -> Study:
        return get_object_or_404(self.scope.studies().select_related("hospital", "patient"), pk=pk)

    def series(self, pk: int) -> Series:
        return get_object_or_404(self.scope.series().select_related("study"), pk=pk)

    def instance(self, pk: int) -> Instance:
        instance = renderable_instance(self.scope, pk)
        if instance is None:
            raise Http404
        return instance

    def downloads(self) -> QuerySet[Download]:
        if not self.download:
            return Download.objects.none()
        if self.share is not None:
            return Download.objects.filter(share_id=self.share.pk)
        return Download.objects.filter(requested_by_id=self.user_id, study__in=self.scope.studies())

    def get_download(self, pk: int) -> Download:
        return get_object_or_404(self.downloads().select_related("study"), pk=pk)


def _as_is(response: HttpResponseBase) -> HttpResponseBase:
    return response


@dataclass(frozen=True)
class Kind:
    """One kind of requester: `resolve` turns a request into one (None: not this kind, or no longer);
    `refuse` answers a request that is not one; `finish` adds what its responses carry."""

    name: str
    resolve: Callable[[HttpRequest], Requester | None]
    refuse: Callable[[HttpRequest], HttpResponseBase]
    finish: Callable[[HttpResponseBase], HttpResponseBase] = _as_is

    def required(self, view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        """`view(request, requester, ...)` for this kind's requesters; everyone else is refused."""

        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return self.serve(view, request, *args, **kwargs)

        return wrapped

    def serve(
        self, view: Callable[..., HttpResponseBase], request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        requester = self.resolve(request)
        if requester is None:
            return self.refuse(request)
        return self.finish(view(request, requester, *args, **kwargs))


def requester_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """`view(request, requester, ...)` for the `kind` the URLconf hands it (`exam_urls`)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, kind: Kind, **kwargs: Any) -> HttpResponseBase:
        return kind.serve(view, request, *args, **kwargs)  # no wrapper made per request: images come by the hundred

    return wrapped
