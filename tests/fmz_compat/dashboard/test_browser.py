"""The page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from fmz_compat.dashboard.server import DashboardConfig, DashboardServer

from .conftest import REPO, start_live_robot, stop_live_robot

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_SCREENSHOT = REPO / "docs" / "img" / "dashboard.png"  # refreshed with UPDATE_DOCS_SCREENSHOTS=1
pytestmark = [pytest.mark.browser, pytest.mark.slow]  # each module run starts Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("http*://**", lambda route: route.continue_() if "127.0.0.1" in route.request.url
               else route.abort())  # no network: everything the page needs comes from the server
    yield page
    context.close()
    assert errors == []


def chart_point_counts(page: Page) -> list[int]:
    return page.evaluate("() => window.dashboard.charts.map(c => (c.getOption().series || [])"
                         ".reduce((n, s) => n + (s.data || []).length, 0))")


def test_live_robot_page_status_chart_and_button(live_robot, page: Page):
    page.goto(live_robot.url)
    expect(page.locator("#robot-state")).to_have_text("running")
    summary = page.locator("table.status").first
    state_cell = summary.locator("td", has_text="state").locator("xpath=following-sibling::td[1]")
    expect(state_cell).to_have_text("TRADING")
    expect(page.locator(".tab.active")).to_have_text("Summary")
    page.wait_for_function("() => window.dashboard.charts.length >= 2 && window.dashboard.charts[0]"
                           ".getOption().series[0].data.length > 2")
    assert all(n > 0 for n in chart_point_counts(page))
    page.get_by_role("button", name="Reduce").click()
    expect(page.locator("#command-note")).to_have_text("sent: reduce")
    # the strategy got the command: its status table and its log say so, without a reload
    expect(state_cell).to_have_text("REDUCING", timeout=15_000)
    expect(page.locator("#log-rows td.msg", has_text="command received: reduce").first).to_be_visible()
    page.get_by_role("tab", name="Venues").click()
    expect(page.locator("table.status td", has_text="Futures_OKX")).to_be_visible()


def test_command_box_and_log_filters(live_robot, page: Page):
    page.goto(live_robot.url)
    expect(page.locator("#robot-state")).to_have_text("running")
    page.fill("#command-input", "hello world")
    page.press("#command-input", "Enter")
    expect(page.locator("#log-rows td.msg", has_text="command received: hello world")).to_be_visible(
        timeout=15_000)
    page.fill("#command-input", "retitle")
    page.press("#command-input", "Enter")
    page.wait_for_function("() => window.dashboard.charts[0].getOption().title[0].text.endsWith('(updated)')")
    page.fill("#command-input", "reset")
    page.press("#command-input", "Enter")
    page.wait_for_function("() => window.dashboard.charts[0].getOption().series.every(s => !s.data.length)")
    page.select_option("#log-type", "3")
    expect(page.locator("#log-rows td.msg", has_text="command received")).to_have_count(0)
    page.select_option("#log-type", "")
    page.fill("#log-text", "hello")
    expect(page.locator("#log-rows tr")).to_have_count(1)


def test_token_protected_dashboard(tmp_path: Path, browser: Browser):
    server = DashboardServer(DashboardConfig(host="127.0.0.1", port=0, token="s3cret-token"),
                             out=lambda line: None)
    server.start()
    robot = start_live_robot(tmp_path, server)
    try:
        page = browser.new_page()
        page.goto(robot.url)
        expect(page.locator("#auth-banner")).to_be_visible()
        page.goto(robot.url + "#token=s3cret-token")
        expect(page.locator("#robot-state")).to_have_text("running")
        assert "token" not in page.url  # taken out of the address bar
        page.get_by_role("button", name="Reduce").click()
        expect(page.locator("#command-note")).to_have_text("sent: reduce")
        page.close()
    finally:
        stop_live_robot(robot)


def test_hedge_strategy_page_renders_and_screenshot(hedge_run_dir: Path, page: Page, tmp_path: Path):
    shot = DOCS_SCREENSHOT if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" else tmp_path / "dashboard.png"
    server = DashboardServer(DashboardConfig(port=0), out=lambda line: None)
    server.open_folder(hedge_run_dir)
    server.start()
    try:
        page.goto(server.url)
        expect(page.locator("#robot-state")).to_have_text("stopped")
        expect(page.locator(".tab", has_text="Summary")).to_be_visible()
        expect(page.locator("table.status td", has_text="unit NAV").first).to_be_visible()
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        page.wait_for_function("() => window.dashboard.charts.length >= 2")
        counts = chart_point_counts(page)
        assert counts[0] > 0 and counts[-1] > 0  # the unit NAV chart and the LogProfit curve
        expect(page.locator("#log-rows tr").first).to_be_visible()
        page.get_by_role("tab", name="Accounts").click()
        expect(page.locator("table.status td", has_text="binance").first).to_be_visible()
        page.get_by_role("tab", name="Summary").click()
        page.wait_for_timeout(300)  # let the charts finish their first paint
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1360, "height": 1760})
        page.wait_for_timeout(300)
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
    finally:
        server.stop()
