"""DICOM wildcard matching (PS3.4 C.2.2.2.4) in SQL, in linear time on every database.

`*` matches any run of characters and `?` one character. The query value becomes
a `LIKE` pattern with `%`, `_` and `\\` escaped: both PostgreSQL and SQLite match
`LIKE` without backtracking across wildcards (a `%` that fails at every later
position ends the match), where a regular expression of `.*` runs backtracks,
and SQLite's REGEXP is Python's `re`: ten `*` took 6.7 s over a few hundred names.
"""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Lookup
from django.db.models.sql.compiler import SQLCompiler

__all__ = ["WildcardMatch", "like_pattern", "matches_wildcard"]


def like_pattern(wildcards: str) -> str:
    """The `LIKE` pattern (escape character `\\`) for a DICOM wildcard value."""
    escaped = wildcards.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class WildcardMatch(Lookup[str]):
    """Case-insensitive `LIKE` of a column against a pattern from `like_pattern`.

    UPPER on both sides rather than ILIKE, which SQLite lacks; SQLite's UPPER
    folds ASCII letters only, as its LIKE does.
    """

    lookup_name = "dicom_wildcard"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"UPPER({lhs}) LIKE UPPER({rhs}) ESCAPE '\\'", (*lhs_params, *rhs_params)


def matches_wildcard(field: str, wildcards: str) -> WildcardMatch:
    """A filter expression: `field` matches the DICOM wildcard value `wildcards`."""
    return WildcardMatch(F(field), like_pattern(wildcards))
