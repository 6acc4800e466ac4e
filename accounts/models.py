from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in: hospital staff with a password and TOTP.

    Custom from the first migration so that fields can be added later without
    swapping the user model.
    """
