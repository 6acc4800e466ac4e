"""Celery tasks of sharing, daily on `celery beat`'s schedule: expired shares' sealed tokens dropped, and
children come of age taken out of their guardian's view, their shares with them (accounts.family)."""

from celery import shared_task

from accounts import family
from portal.sharing import shares


@shared_task(name="portal.sharing.tasks.forget_expired_tokens")  # type: ignore[untyped-decorator]
def forget_expired_tokens() -> int:
    return shares.forget_expired_tokens()


@shared_task(name="portal.sharing.tasks.lapse_grown_children")  # type: ignore[untyped-decorator]
def lapse_grown_children() -> int:
    return family.lapse_grown_children()
