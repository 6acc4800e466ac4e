"""The viewer's first image on slow networks: Chromium throttled through CDP, the demo CT from gunicorn.

Prints, per network profile (Chrome DevTools' presets: Fast 3G, 562.5 ms a request
and 180 kB/s down; Slow 3G, 2 s and 50 kB/s), the median of --runs openings of the
viewer with an empty browser cache, on a phone-sized page, in milliseconds from
navigation start (Element Timing's paint times, PerformanceObserver "element"):
- `page`: the page's HTML in;
- `placeholder`: the series thumbnail the page carries painted (or the first image);
- `first image`: the first image at full quality painted: the page's own image of it,
  or the viewer's drawing (`#viewer[data-shown]`), whichever came first;
- `viewer drawn`: the viewer's drawing, from which on it answers gestures;
and the bytes fetched by the first image. Targets (issue 18): a placeholder within 1 s
of the page (no page shows anything before its HTML: Slow 3G's request alone takes 2 s);
the first image within 1.5 s on Fast 3G and 5 s on Slow 3G.

The index and the server are bench/portal.py's (`--quick` size by default: the
patient's newest study is the 120-slice CT, renders cached), on PostgreSQL.

    .venv/bin/python bench/slow_network.py [--runs 3] [--studies 20000] [--database efilm_bench_quick]
"""

import argparse
import importlib.util
import os
import signal
import statistics
import sys
from pathlib import Path
from typing import Any

# bench/portal.py under a name of its own: as `portal` it would hide the project's package.
_spec = importlib.util.spec_from_file_location("bench_portal", Path(__file__).resolve().parent / "portal.py")
assert _spec is not None
assert _spec.loader is not None
bench_portal = importlib.util.module_from_spec(_spec)
sys.modules["bench_portal"] = bench_portal
_spec.loader.exec_module(bench_portal)

# Chrome DevTools' network presets (front_end/core/sdk/NetworkManager.ts), in CDP's units: bytes/s and ms.
PROFILES = {
    "Fast 3G": {"latency": 562.5, "downloadThroughput": 180_000, "uploadThroughput": 84_375},
    "Slow 3G": {"latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000},
}
# A phone, as the trials: 390x844 at twice the pixels, touch, in Chinese.
PHONE_CONTEXT: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
TARGETS_MS = {"Fast 3G": 1500, "Slow 3G": 5000}
PLACEHOLDER_TARGET_MS = 1000
PROBE = """
window.__marks = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const at = entry.renderTime || entry.loadTime;
    if (!(entry.identifier in window.__marks)) window.__marks[entry.identifier] = at;
  }
}).observe({type: 'element', buffered: true});
new MutationObserver(() => {
  const viewer = document.querySelector('#viewer');
  if (viewer && viewer.dataset.shown && !window.__marks.drawn) window.__marks.drawn = performance.now();
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-shown']});
"""
DRAWN = "() => Boolean(window.__marks && window.__marks.drawn)"
# Milliseconds from navigation start: the page's HTML in, the placeholder painted, the first image at full quality
# painted (the page's image or the viewer's drawing, whichever came first), the viewer's own drawing; and the bytes
# fetched by the first image.
MARKS = """() => {
  const m = window.__marks;
  const page = performance.getEntriesByType('navigation')[0];
  const first = Math.min(m['first-image'] ?? Infinity, m.drawn);
  const placeholder = Math.min(m.placeholder ?? Infinity, first);
  const fetched = performance.getEntriesByType('resource').concat([page])
    .filter((e) => e.responseEnd <= first).reduce((sum, e) => sum + (e.transferSize || 0), 0);
  return [page.responseEnd, placeholder, first, m.drawn, fetched];
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--studies", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--database", default="efilm_bench_quick")
    args = parser.parse_args()
    if not Path(bench_portal.CHROMIUM).exists():
        sys.exit(f"{bench_portal.CHROMIUM} is missing (apt-get install chromium)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    storage = Path(f"/tmp/efilm-bench/{args.database}")
    env = bench_portal.configure_environment(args.database, storage)
    bench_portal.create_database(args.database)
    bench_portal.setup_django()
    bench_portal.prepare_index(args.studies, storage)
    bench_portal.ensure_ct_renders()
    session_key = bench_portal.sign_in(bench_portal.patient_user())
    newest = bench_portal.newest_study()
    with bench_portal.gunicorn(env, args.workers) as port:
        url = f"http://127.0.0.1:{port}/my/studies/{newest.pk}/view/"
        measure(url, session_key, args.runs)


def measure(url: str, session_key: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=bench_portal.CHROMIUM, args=bench_portal.CHROMIUM_ARGS)
        try:
            open_viewer(browser, url, session_key, None)  # Chromium's own start-up, not counted
            for name, conditions in PROFILES.items():
                marks = [open_viewer(browser, url, session_key, conditions) for _ in range(runs)]
                report(name, marks)
        finally:
            browser.close()


def open_viewer(browser: Any, url: str, session_key: str, conditions: dict[str, float] | None) -> tuple[float, ...]:
    """A fresh context (empty cache) opens the viewer under `conditions`; its MARKS."""
    context = browser.new_context(**PHONE_CONTEXT)
    try:
        context.add_cookies([{"name": "sessionid", "value": session_key, "domain": "127.0.0.1", "path": "/"}])
        context.add_init_script(PROBE)
        page = context.new_page()
        if conditions is not None:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {"offline": False, **conditions})
        page.goto(url, wait_until="commit")
        page.wait_for_function(DRAWN, timeout=120_000)
        return tuple(float(value) for value in page.evaluate(MARKS))
    finally:
        context.close()


def report(name: str, marks: list[tuple[float, ...]]) -> None:
    page, placeholder, first, drawn, fetched = (statistics.median(m[i] for m in marks) for i in range(5))
    each = "/".join(f"{m[2]:.0f}" for m in marks)
    met = first <= TARGETS_MS[name] and placeholder - page <= PLACEHOLDER_TARGET_MS
    print(
        f"{name}: page {page:.0f} ms, placeholder {placeholder:.0f} ms ({placeholder - page:.0f} after the page), "
        f"first image {first:.0f} ms ({each}), viewer drawn {drawn:.0f} ms, {fetched / 1000:.0f} kB by the first "
        f"image; targets: placeholder within {PLACEHOLDER_TARGET_MS} ms of the page, first image "
        f"{TARGETS_MS[name]} ms: {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
