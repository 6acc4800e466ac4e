"""Celery tasks of sharing: the daily drop of expired shares' sealed tokens (on `celery beat`'s schedule)."""

from celery import shared_task

from portal.sharing import shares


@shared_task(name="portal.sharing.tasks.forget_expired_tokens")  # type: ignore[untyped-decorator]
def forget_expired_tokens() -> int:
    return shares.forget_expired_tokens()
