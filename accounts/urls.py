from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/code/", views.enter_code, name="code"),
    path("sign-in/resend/", views.resend_code, name="resend"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("staff/sign-in/", views.staff_sign_in, name="staff-sign-in"),
]
