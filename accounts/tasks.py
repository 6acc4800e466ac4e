"""Celery tasks of the accounts app."""

from celery import shared_task

from accounts.sms import HttpGatewayBackend, SMSGatewayError


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, autoretry_for=(SMSGatewayError,), retry_backoff=2, max_retries=4, time_limit=60
)
def send_sms_through_gateway(to: str, body: str) -> None:
    HttpGatewayBackend.deliver(to, body)
