"""The import rules of issue 17: apps import downward only, no cycles, no import inside a function to dodge one.

`lint-imports` checks the contracts in pyproject.toml ([tool.importlinter]): the
layers (portal's product apps > accounts > portal.audit > imaging), imaging
importing neither portal nor accounts, no app importing portal's root, and no
cycle between the modules of a package. It counts an import inside a function
like any other, so such an import cannot hide a cycle from it; this file also
refuses them outright in portal/, accounts/ and imaging/, but for the kinds allowed below.
"""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

FIRST_PARTY = ("portal", "accounts", "imaging")
CHECKED = ("portal", "accounts", "imaging")

# Imports of the project's own modules allowed inside a function, each with its reason:
# - `ready` of an AppConfig: Django's place to connect signals and register checks, once
#   every app's models are loaded (an apps.py cannot import models at its top).
ALLOWED_FUNCTIONS = {"ready"}
# - (path, function) for a lazy import that breaks no cycle (a heavy optional library, say).
#   None today; add one here with a comment that says why.
ALLOWED: set[tuple[str, str]] = set()


def imports_inside_functions(source: str) -> Iterator[tuple[str, int, str]]:
    """(function, line, module) of every import of a first-party module inside a function."""
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else ["(relative)"]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module == "(relative)" or module.split(".")[0] in FIRST_PARTY:
                    yield function.name, node.lineno, module


def found_in_project() -> list[str]:
    root = Path(settings.BASE_DIR)
    found = []
    for package in CHECKED:
        for path in sorted((root / package).rglob("*.py")):
            name = str(path.relative_to(root))
            if "migrations" in path.parts:
                continue
            for function, line, module in imports_inside_functions(path.read_text()):
                allowed = (function in ALLOWED_FUNCTIONS and path.name == "apps.py") or (name, function) in ALLOWED
                if not allowed:
                    found.append(f"{name}:{line} {function}() imports {module}")
    return found


def test_it_keeps_the_import_contracts() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_finds_no_first_party_import_inside_a_function() -> None:
    assert found_in_project() == []


def test_it_finds_an_import_inside_a_function() -> None:
    source = "import os\n\ndef f():\n    import json\n    from portal.exams import tasks\n    from . import x\n"
    assert list(imports_inside_functions(source)) == [("f", 5, "portal.exams"), ("f", 6, "(relative)")]
