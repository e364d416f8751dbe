"""The dashboard in a real headless Chromium (selenium + chromedriver): served by uvicorn over the
indexed book, it renders the charts and tables with the indexed figures; the filters work; the
static snapshot shows the same from file://. Screenshots go to reports/ (gitignored).

Without Chromium the test is skipped on a workstation and FAILS under CI (`CI=true`)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from xborder.api import create_app
from xborder.api.snapshot import write_snapshot
from xborder.chain import free_port
from xborder.config import PROJECT_ROOT
from xborder.index.db import open_database

from .world import Book

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("XBORDER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("XBORDER_CHROMEDRIVER", "/usr/bin/chromedriver")
REPORTS = PROJECT_ROOT / "reports"


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(p))]
    if missing:
        message = f"browser test needs Chromium and chromedriver; missing: {', '.join(missing)}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(book: Book) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(book.settings), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="xborder-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1440,1400"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait_ready(driver: object) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(  # type: ignore[arg-type]
        lambda d: d.find_element("tag name", "body").get_attribute("data-state") in ("ready", "error"))
    body = driver.find_element("tag name", "body")  # type: ignore[attr-defined]
    assert body.get_attribute("data-state") == "ready", driver.find_element("id", "error").text  # type: ignore[attr-defined]


def _screenshot(driver: object, name: str) -> Path:
    REPORTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")  # type: ignore[attr-defined]
    driver.set_window_size(1440, height + 40)  # type: ignore[attr-defined]
    target = REPORTS / name
    driver.save_screenshot(str(target))  # type: ignore[attr-defined]
    return target


def _check_dashboard(driver: object) -> None:
    find, find_all = driver.find_element, driver.find_elements  # type: ignore[attr-defined]
    rows = find_all("css selector", "#util-chart g.bar-row")
    assert [r.get_attribute("data-name") for r in rows[:3]] == ["BORROWER-X", "BORROWER-Y", "BANK-A"]
    assert rows[0].get_attribute("data-band") == "critical"
    assert float(rows[0].get_attribute("data-utilisation")) == pytest.approx(323 / 350, abs=1e-6)
    assert "92.3 %" in rows[0].text and "CNY 323,000,000.00" in rows[0].text
    assert "CNY 356,550,000.00" in find("id", "headline-outstanding").text
    assert "USD 30,000,000.00" in find("id", "headline-outstanding").text
    assert "CNY 481,000,000.00" in find("id", "headline-balance").text
    assert find("id", "headline-near").text.splitlines()[1] == "1"
    bars = find_all("css selector", "#volume-chart rect.vol-bar")
    assert {b.get_attribute("data-currency") for b in bars} == {"USD", "CNY", "EUR", "JPY"}
    usd = sum(int(b.get_attribute("data-value")) for b in bars if b.get_attribute("data-currency") == "USD")
    assert usd == 213_000_000 * 100  # CNY equivalent of USD 30,000,000.00 at 7.1
    assert "USD · drawn 30,000,000.00" in find("id", "volume-legend").text
    exposures = find_all("css selector", "#exposures-table tbody tr")
    assert exposures[0].text.startswith("BORROWER-X") and "CNY 27,000,000.00" in exposures[0].text
    events = find_all("css selector", "#events-table tbody tr")
    assert "Drawn" in events[0].text and "JPY 50,000,000.00" in events[0].text


def test_dashboard_shows_the_indexed_figures(server: str, browser: object) -> None:
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(server + "/")  # type: ignore[attr-defined]
    _wait_ready(driver)
    _check_dashboard(driver)
    logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert not logs, logs
    shot = _screenshot(driver, "dashboard.png")
    assert shot.stat().st_size > 20_000

    Select(driver.find_element("id", "filter-currency")).select_by_value("EUR")  # type: ignore[attr-defined]
    time.sleep(0.3)
    _wait_ready(driver)
    assert "EUR 4,000,000.00" in driver.find_element("id", "headline-outstanding").text  # type: ignore[attr-defined]
    bars = driver.find_elements("css selector", "#volume-chart rect.vol-bar")  # type: ignore[attr-defined]
    assert {b.get_attribute("data-currency") for b in bars} == {"EUR"}
    events = driver.find_elements("css selector", "#events-table tbody tr")  # type: ignore[attr-defined]
    assert events and all("BORROWER-Y" in e.text for e in events)
    Select(driver.find_element("id", "filter-currency")).select_by_value("")  # type: ignore[attr-defined]
    Select(driver.find_element("id", "filter-borrower")).select_by_value("3")  # type: ignore[attr-defined]
    time.sleep(0.3)
    _wait_ready(driver)
    events = driver.find_elements("css selector", "#events-table tbody tr")  # type: ignore[attr-defined]
    assert events and all("BORROWER-X" in e.text for e in events)


def test_static_snapshot_opens_from_file(book: Book, browser: object, tmp_path: Path) -> None:
    db = open_database(book.settings.index_url, migrate=False)
    try:
        page = write_snapshot(db, tmp_path / "snapshot")
    finally:
        db.close()
    html = page.read_text()
    assert "/static/" not in html and "XBORDER_SNAPSHOT" in html
    driver = browser
    driver.get(page.as_uri())  # type: ignore[attr-defined]
    _wait_ready(driver)
    _check_dashboard(driver)
    assert "Static snapshot" in driver.find_element("id", "mode").text  # type: ignore[attr-defined]
    _screenshot(driver, "dashboard-snapshot.png")
