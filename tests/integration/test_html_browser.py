"""The HTML report page in a real headless Chromium: offline, complete, fast, and drawn.

One browser serves the module: it loads a 500-vault apply page (every result, vaults in
error, several subscriptions) and a 500-vault audit page (every agent state); each test then
checks one thing about what the browser saw. Skipped only when no Chromium is installed
(`.ci/run` installs Debian's).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cdp import Load, Tab, find_chromium, launch
from report_samples import fleet_report

from orchestrator.output.html import render_html
from orchestrator.output.report import Command

pytestmark = pytest.mark.integration

VAULTS = 500
WIDTH, HEIGHT = 1280, 900
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What the page itself reports about its load, read in the page after the load event.
PAGE_FACTS = """({
  vaults: document.getElementById('vault-count').textContent,
  rows: document.querySelectorAll('tr.vault').length,
  loadEventStart: performance.getEntriesByType('navigation')[0].loadEventStart,
  failedFill: getComputedStyle(document.querySelector('rect.c-failed, rect.a-expired')).fill,
})"""


@dataclass(frozen=True)
class Seen:
    """What the browser saw of one page."""

    url: str
    load: Load
    facts: dict[str, Any]
    screenshot: Path


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[Command, Seen]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (/usr/bin/chromium); .ci/run installs it")
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "profile").mkdir()
    pages = {}
    for command in (Command.APPLY, Command.AUDIT):
        page = tmp / f"{command}.html"
        page.write_text(render_html(fleet_report(vaults=VAULTS, command=command)), "utf-8")
        pages[command] = page
    return asyncio.run(_visit(binary, tmp / "profile", pages))


async def _visit(binary: str, profile: Path, pages: dict[Command, Path]) -> dict[Command, Seen]:
    async with launch(binary, profile, width=WIDTH, height=HEIGHT) as tab:
        return {command: await _look(tab, page) for command, page in pages.items()}


async def _look(tab: Tab, page: Path) -> Seen:
    url = page.as_uri()
    load = await tab.navigate(url)
    facts = await tab.evaluate(PAGE_FACTS)
    screenshot = page.with_suffix(".png")
    screenshot.write_bytes(await tab.screenshot())
    return Seen(url, load, facts, screenshot)


@pytest.fixture(params=[Command.APPLY, Command.AUDIT], ids=["apply", "audit"])
def page(request: pytest.FixtureRequest, seen: dict[Command, Seen]) -> Seen:
    return seen[request.param]


def test_the_page_is_the_only_request(page: Seen) -> None:
    assert page.load.requests == [page.url]


def test_nothing_fails_to_load(page: Seen) -> None:
    assert page.load.failures == []


def test_the_browser_logs_no_error_such_as_a_blocked_style(page: Seen) -> None:
    assert [e for e in page.load.log_entries if e.get("level") == "error"] == []


def test_the_page_shows_every_vault(page: Seen) -> None:
    assert page.facts["vaults"] == str(VAULTS)
    assert page.facts["rows"] == VAULTS


def test_the_page_loads_in_under_a_second(page: Seen) -> None:
    # As the page measured it, from the navigation's start: the test's own clock would add the
    # DevTools round trips and a busy CI machine's scheduling.
    assert 0 < page.facts["loadEventStart"] < 1000  # milliseconds


def test_the_inline_style_applies(page: Seen) -> None:
    assert page.facts["failedFill"] == "rgb(198, 40, 40)"  # --fail, not SVG's default black


def test_the_screenshot_is_a_full_viewport_png_with_content(page: Seen) -> None:
    data = page.screenshot.read_bytes()

    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 30_000  # text, bars and colours; a blank page compresses to ~5 KB
