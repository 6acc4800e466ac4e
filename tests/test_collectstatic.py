"""collectstatic with the production storage (portal.staticfiles): the viewer's ES modules by hashed names.

The viewer page loads `js/viewer/main.js` as a module, which imports the others
by relative names; in production each must be named by its hash, imports
included, and still load in a browser under the portal's CSP.
"""

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.templatetags.static import static
from django.test import override_settings

from portal.staticfiles import ManifestStaticFilesStorage
from tests.support.browser import STATIC_ORIGIN, serve_static

VIEWER = Path(settings.BASE_DIR) / "static" / "js" / "viewer"
PRODUCTION = {"BACKEND": "portal.staticfiles.ManifestStaticFilesStorage"}
IMPORT = re.compile(r"""\bfrom\s*["'](\./[^"']+)["']\s*;""")

Collected = tuple[Path, dict[str, str]]  # STATIC_ROOT and the manifest's paths


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Collected:
    """STATIC_ROOT as `collectstatic` leaves it in production, and its manifest."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES={**settings.STORAGES, "staticfiles": PRODUCTION}):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root, json.loads((root / "staticfiles.json").read_text())["paths"]


def modules() -> list[str]:
    return sorted(path.name for path in VIEWER.glob("*.js"))


def imports(text: str) -> list[str]:
    return IMPORT.findall(text)


def test_it_names_every_viewer_module_by_its_hash(collected: Collected) -> None:
    root, manifest = collected
    assert "main.js" in modules()
    for name in modules():
        hashed = manifest[f"js/viewer/{name}"]
        assert re.fullmatch(rf"js/viewer/{re.escape(name[:-3])}\.[0-9a-f]{{12}}\.js", hashed)
        assert (root / hashed).is_file()


def test_it_rewrites_every_import_to_the_hashed_name(collected: Collected) -> None:
    root, manifest = collected
    for name in modules():
        wanted = ["./" + Path(manifest[f"js/viewer/{target[2:]}"]).name for target in imports(read(VIEWER / name))]
        assert imports(read(root / manifest[f"js/viewer/{name}"])) == wanted, name


def test_the_page_names_the_hashed_entry_module(collected: Collected, settings: Any) -> None:
    root, manifest = collected
    settings.STATIC_ROOT = root
    settings.STORAGES = {**settings.STORAGES, "staticfiles": PRODUCTION}
    assert static("js/viewer/main.js") == "/static/" + manifest["js/viewer/main.js"]
    template = read(Path(settings.BASE_DIR) / "templates" / "exams" / "viewer.html")
    assert """<script type="module" src="{% static 'js/viewer/main.js' %}">""" in template


def test_the_imports_settle_within_the_storages_passes() -> None:
    """Each level of the import graph may cost collectstatic a pass; a cycle would never settle."""
    graph = {name: [target[2:] for target in imports(read(VIEWER / name))] for name in modules()}

    @functools.cache
    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        assert name not in seen, f"an import cycle through {name}"
        return 1 + max((depth(target, seen | {name}) for target in graph[name]), default=0)

    assert max(depth(name) for name in graph) < ManifestStaticFilesStorage.max_post_process_passes


@pytest.mark.browser
def test_a_browser_runs_the_hashed_modules_under_the_csp(chromium: Any, collected: Collected) -> None:
    root, manifest = collected
    hashed = {"/static/" + manifest[f"js/viewer/{name}"] for name in modules()}
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requested = serve_static(page, root)
    page.goto(f"{STATIC_ORIGIN}/")
    grey = page.evaluate(
        """async ([main, windowing]) => {
            await import(main);  // the whole graph, or a rejection
            return (await import(windowing)).displayValue(40, 40, 400, 'LINEAR', false);
        }""",
        ["/static/" + manifest["js/viewer/main.js"], "/static/" + manifest["js/viewer/windowing.js"]],
    )
    assert grey == 128  # ((40 - 39.5) / 399 + 0.5) * 255 = 127.8
    assert set(requested) == {"/", *hashed}
    assert errors == []
    context.close()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")
