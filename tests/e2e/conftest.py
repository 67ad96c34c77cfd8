"""Browser fixtures: Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NO_CHROMIUM = not Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path("/tmp/hashfleet-e2e")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module.

    Not per session: Playwright's sync API keeps an event loop running in the main thread
    until it stops, which would break the async tests collected after this folder.
    """
    if NO_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(page: Any, url: str, password: str) -> None:
    """Log in through the form."""
    page.goto(f"{url}/login")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
