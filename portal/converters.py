"""Path converters: an id in an address is a database id or no match at all.

Django's `int` converter accepts any run of digits; an id past the 64-bit
range then reaches the database (or raw SQL) and fails there with a 500.
`<id:pk>` answers a plain 404 for it, as for any other unknown id.
"""

__all__ = ["MAX_ID", "DatabaseId"]

# The largest value of a signed 64-bit column (PostgreSQL bigint, SQLite INTEGER).
MAX_ID = 2**63 - 1


class DatabaseId:
    # At most 19 digits keeps the regex cheap; to_python refuses the few 19-digit values past MAX_ID.
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is past the largest database id")  # the resolver's "no match"
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))
