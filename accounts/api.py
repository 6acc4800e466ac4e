"""The hospitals' registration feed: POST /api/v1/phone-links with a hospital token."""

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.links import link_phone
from accounts.models import LinkSource
from accounts.phones import InvalidPhone, parse_mobile
from imaging.access import credentials
from imaging.models import Hospital, PatientRecord
from imaging.tokens import hospital_for_token


class HospitalTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <hospital token>`; the hospital becomes `request.auth`."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Hospital] | None:
        presented = credentials(request)
        if presented is None or not presented.bearer:
            return None
        hospital = hospital_for_token(presented.token)
        if hospital is None:
            raise exceptions.AuthenticationFailed(_("This token is not valid."))
        return AnonymousUser(), hospital

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class IsHospital(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, Hospital)


class PhoneLinkSerializer(serializers.Serializer[Any]):
    patient_id = serializers.CharField(max_length=64)
    phone = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    sex = serializers.ChoiceField(choices=["F", "M", "O", ""], required=False)
    birth_date = serializers.DateField(required=False, allow_null=True)

    def validate_phone(self, value: str) -> str:
        try:
            return parse_mobile(value)
        except InvalidPhone as error:
            raise serializers.ValidationError(str(error)) from None


class PhoneLinkView(GenericAPIView[Any]):
    """Register a patient's mobile number with one of the hospital's records.

    The record is made when the feed registers a patient before any image
    arrives; its demographics are filled in only where they are empty.
    """

    authentication_classes = [HospitalTokenAuthentication]
    permission_classes = [IsHospital]
    serializer_class = PhoneLinkSerializer

    @transaction.atomic
    def post(self, request: Request) -> Response:
        hospital: Hospital = request.auth  # type: ignore[assignment]
        serializer = PhoneLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record, _made = PatientRecord.objects.get_or_create(hospital=hospital, patient_id=data["patient_id"])
        for field in ("name", "sex", "birth_date"):
            if data.get(field) and not getattr(record, field):
                setattr(record, field, data[field])
        record.save()
        link, created = link_phone(data["phone"], record, LinkSource.FEED, hospital=hospital)
        body = {"patient_id": record.patient_id, "phone": link.phone, "created": created}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
