"""One real-browser check: Debian's headless Chromium loads the app served by `streamlit run`,
logs in, runs a query on the real master and saves a screenshot.

Chromium is required, not optional: without ``/usr/bin/chromium`` this test fails and says which
package to install. Playwright (pip) only drives it; its own browser download is never used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import GUI_DIR, GUI_PASSWORD
from harness import eventually, free_port, popen, stop_process

CHROMIUM = Path(os.environ.get("STARSYNC_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("STARSYNC_SCREENSHOT_DIR", GUI_DIR / "tests" / "artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


@pytest.fixture
def served_app(gui_env, tmp_path):
    """`streamlit run Home.py` from streamlit/, so its .streamlit/config.toml applies."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = popen(
        [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port)],
        cwd=GUI_DIR,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            eventually(lambda: _healthy(f"http://127.0.0.1:{port}/_stcore/health"), 60, "streamlit to serve")
        except AssertionError:
            log.flush()
            raise AssertionError(
                "streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text()[-3000:]
            ) from None
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=15)
        log.close()


def test_browser_logs_in_runs_a_query_and_takes_a_screenshot(served_app, master):
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser test needs Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: python3 -m pip install -r streamlit/requirements.txt")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "browser-console.png"
    screenshot.unlink(missing_ok=True)

    with sync_playwright() as pw:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(30_000)
            try:
                drive(page, served_app, screenshot)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "browser-failure.png"))
                raise
        finally:
            browser.close()

    assert screenshot.stat().st_size > 10_000, "the screenshot is suspiciously small"
    logged = master.query(
        "SELECT statement, outcome FROM starsync.query_log WHERE user = 'browser' ORDER BY id DESC LIMIT 2"
    )
    assert logged == [
        ("SELECT 6 * 7 AS answer", "ok"),
        ("SELECT id, name, balance FROM MOST.customers ORDER BY id", "ok"),
    ]


def drive(page, url: str, screenshot: Path) -> None:
    """What a DBA does: log in, open the console, run two statements, look at the results."""
    page.goto(url)

    # The gate: nothing but the login form until the right password is given.
    page.get_by_label("Your name (recorded in the query log)").fill("browser")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Wrong password.").wait_for()
    assert page.get_by_text("gtid_binlog_pos").count() == 0
    page.get_by_label("Password", exact=True).fill(GUI_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("gtid_binlog_pos").first.wait_for()
    # Served from streamlit/, so .streamlit/config.toml bound it to 127.0.0.1: no warning.
    assert page.get_by_text("Streamlit is listening on").count() == 0

    page.get_by_role("link", name="SQL Console").click()
    page.wait_for_url("**/SQL_Console")
    editor = page.get_by_label("SQL", exact=True)
    editor.fill("SELECT id, name, balance FROM MOST.customers ORDER BY id;\nSELECT 6 * 7 AS answer")
    editor.press("Control+Enter")  # commit the text area before clicking Run
    page.get_by_role("button", name="Run").click()
    page.get_by_text("2 statement(s) in").wait_for()
    page.get_by_text("3 rows ·").wait_for()
    grids = page.locator('[data-testid="stDataFrame"]')
    grids.first.wait_for()
    assert grids.count() == 2
    # The grid draws on a canvas but keeps an (invisible) accessible table of its cells.
    for value in ("Grace", "10.50", "42"):
        page.get_by_role("gridcell", name=value, exact=True, include_hidden=True).wait_for(state="attached")
    page.wait_for_timeout(500)  # let the canvas grids paint before the picture
    page.screenshot(path=str(screenshot), full_page=True)
