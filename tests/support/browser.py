"""Debian's Chromium, driven by Playwright, for the drawing page and the DVC plots page."""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Playwright itself is imported by the tests that drive a browser
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium tries to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def launch_chromium(playwright: "Playwright") -> "Browser":
    """A headless Debian Chromium, started by a running `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
