"""DICOM wildcard matching (PS3.4 C.2.2.2.4) in SQL, in linear time on every database.

`*` matches any run of characters and `?` one character. The query value becomes
a `LIKE` pattern with `%`, `_` and `\\` escaped: both PostgreSQL and SQLite match
`LIKE` without backtracking across wildcards (a `%` that fails at every later
position ends the match), where a regular expression of `.*` runs backtracks,
and SQLite's REGEXP is Python's `re`: ten `*` took seconds over a few hundred
names (docs/architecture.md, "Figures the imaging code rests on").

Wild card matching is case-sensitive except for person names (C.2.2.2.4):
`matches_wildcard` folds case (PN), `matches_wildcard_exactly` does not. SQLite's
`LIKE` always folds ASCII case, so there the case-sensitive match is a `GLOB`,
which SQLite matches with the same routine as `LIKE`.
"""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Lookup
from django.db.models.sql.compiler import SQLCompiler

__all__ = [
    "ExactCaseWildcardMatch",
    "WildcardMatch",
    "glob_pattern",
    "has_wildcards",
    "like_pattern",
    "matches_wildcard",
    "matches_wildcard_exactly",
]


def has_wildcards(value: str) -> bool:
    return "*" in value or "?" in value


def like_pattern(wildcards: str) -> str:
    """The `LIKE` pattern (escape character `\\`) for a DICOM wildcard value."""
    escaped = wildcards.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def glob_pattern(wildcards: str) -> str:
    """SQLite's `GLOB` pattern for a DICOM wildcard value: `*` and `?` as they are, `[` as a set of itself."""
    return wildcards.replace("[", "[[]")


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


class ExactCaseWildcardMatch(Lookup[str]):
    """Case-sensitive match of a column against a DICOM wildcard value (the right-hand side as given)."""

    lookup_name = "dicom_wildcard_exact_case"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", (*lhs_params, like_pattern(self.rhs))

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} GLOB %s", (*lhs_params, glob_pattern(self.rhs))


def matches_wildcard(field: str, wildcards: str) -> WildcardMatch:
    """A filter expression: `field` matches the DICOM wildcard value `wildcards`, whatever the case."""
    return WildcardMatch(F(field), like_pattern(wildcards))


def matches_wildcard_exactly(field: str, wildcards: str) -> ExactCaseWildcardMatch:
    """A filter expression: `field` matches the DICOM wildcard value `wildcards`, case and all."""
    return ExactCaseWildcardMatch(F(field), wildcards)
