"""Authentication backends."""

from typing import Any

from django.contrib.auth.backends import ModelBackend

from accounts.models import User


class UserBackend(ModelBackend):
    """ModelBackend whose per-request user lookup skips the ORM's query compilation.

    Every request of a signed-in person loads the user, and an image viewer
    makes dozens of requests a second; compiling `User.objects.get(pk=...)`
    costs more here than the database does to answer it.
    """

    def get_user(self, user_id: Any) -> User | None:
        table = User._meta.db_table
        rows = list(User.objects.raw(f"SELECT * FROM {table} WHERE id = %s", [user_id]))  # noqa: S608
        user = rows[0] if rows else None
        return user if user is not None and self.user_can_authenticate(user) else None
