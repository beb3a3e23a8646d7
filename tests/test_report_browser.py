"""report.html in a real browser: headless Chromium through Playwright's Python API.

Needs Debian's ``/usr/bin/chromium`` (``apt-get install chromium``); the test is skipped when it
is missing, unless ``SEGMINT_REQUIRE_BROWSER=1``, which turns the skip into a failure (CI).
A full-page screenshot lands in ``tests/artifacts/report.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conftest_report import make_finished_outdir
from segmint.pipeline import write_report
from segmint.report import FIGURES, SECTIONS

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when the browser is required (``SEGMINT_REQUIRE_BROWSER=1``)."""
    if os.environ.get("SEGMINT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SEGMINT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        _skip_or_fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = make_finished_outdir(tmp_path_factory.mktemp("browser") / "out", 4372, seed=0)
    return write_report(outdir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: Any, report: Path, width: int) -> tuple[Any, Any, list[str], list[str]]:
    """Open the report at a viewport width; return (context, page, requests, errors)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=10_000)
    return context, page, requests, errors


def test_report_in_chromium_at_laptop_width(browser: Any, report: Path) -> None:
    context, page, requests, errors = _open(browser, report, 1280)
    try:
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        # this made-up run records no monthly activity, so the monthly figure is left out
        assert len(widths) == len([key for key, _, _ in FIGURES if key != "monthly"])
        assert all(w > 0 for w in widths), widths
        ids = page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
        for section, _ in SECTIONS:
            assert section in ids
        assert "warnings" in ids
        assert page.locator("#warnings").is_visible()
        # the plain warnings sit above every other section, then the summary
        top = page.eval_on_selector_all(
            "section", "nodes => nodes.map(n => [n.id, n.getBoundingClientRect().top])"
        )
        order = [name for name, _ in sorted(top, key=lambda pair: pair[1])]
        assert order[:2] == ["read-first", "summary"], order
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        assert errors == []
        assert requests, "the page itself should be requested"
        outside = [u for u in requests if not u.startswith(("file://", "data:"))]
        assert outside == []
    finally:
        context.close()


def test_report_in_chromium_at_phone_width(browser: Any, report: Path) -> None:
    context, page, requests, errors = _open(browser, report, 390)
    try:
        overflow = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.body.scrollWidth,"
            " window.innerWidth]"
        )
        assert max(overflow[:2]) <= overflow[2], overflow
        # images shrink to the column; wide tables scroll inside their wrapper
        too_wide = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => i.getBoundingClientRect().right > innerWidth).length"
        )
        assert too_wide == 0
        scrolls = page.eval_on_selector_all(
            ".table-wrap",
            "ws => ws.filter(w => w.scrollWidth > w.clientWidth)"
            ".map(w => getComputedStyle(w).overflowX)",
        )
        assert all(style == "auto" for style in scrolls)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
        assert errors == []
        assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a real run on the three real months (shared data)."""
    from conftest import REAL_LOG

    if not REAL_LOG.exists():
        pytest.skip(f"{REAL_LOG} not present")
    from segmint.pipeline import run

    outdir = tmp_path_factory.mktemp("real") / "out"
    run(str(REAL_LOG), outdir, n_bootstrap=2, seed=0, threads=1)
    return outdir / "report.html"


def test_real_report_opens_with_the_summary_and_lists_every_column(
    browser: Any, real_report: Path
) -> None:
    import csv

    from conftest import REAL_LOG

    context, page, _, errors = _open(browser, real_report, 1280)
    try:
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == len(FIGURES)  # every figure, the monthly one included
        assert all(w > 0 for w in widths), widths
        top = page.eval_on_selector_all(
            "section", "nodes => nodes.map(n => [n.id, n.getBoundingClientRect().top])"
        )
        order = [name for name, _ in sorted(top, key=lambda pair: pair[1]) if name != "read-first"]
        assert order[:3] == ["summary", "segments", "quality"], order
        rows = page.eval_on_selector_all(
            "#quality-table tbody tr",
            "rows => rows.map(r => [r.querySelector('code').textContent,"
            " r.querySelectorAll('td')[2].textContent])",
        )
        with REAL_LOG.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
            blank = {name: 0 for name in header}
            for line in csv.reader(handle):
                for name, value in zip(header, line, strict=True):
                    blank[name] += not value.strip()
        assert [name for name, _ in rows] == header
        for name, missing in rows:
            assert int(missing.replace(",", "")) == blank[name], (name, missing)
        assert errors == []
    finally:
        context.close()
