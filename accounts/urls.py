from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/code/", views.enter_code, name="code"),
    path("sign-in/resend/", views.resend_code, name="resend"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("confirm/", views.confirm, name="confirm"),
    path("staff/sign-in/", views.staff_sign_in, name="staff-sign-in"),
]

# The patient's remembered phones, in the `patient` namespace under /my/ (portal.urls).
patient_urls = [
    path("devices/", views.devices, name="devices"),
    path("devices/<id:pk>/forget", views.forget_device, name="forget-device"),
    path("devices/forget-all", views.forget_devices, name="forget-devices"),
]
