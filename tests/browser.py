"""Debian's Chromium under Playwright, with the network cut to this machine.

Playwright comes from PyPI without a browser download; the browser is the system's
`/usr/bin/chromium` (`apt-get install chromium`; .ci/run installs it). Without it a test skips
locally and fails under CI=true, so a CI machine that lost it cannot pass quietly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # sessions and CI run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1"})


def chromium_path() -> Path:
    """The system Chromium; skips the test locally, fails it under CI, when there is none."""
    found = Path("/usr/bin/chromium")
    if not found.exists():
        which = shutil.which("chromium")
        found = Path(which) if which else found
    problem = None
    if not found.exists():
        problem = "no Chromium at /usr/bin/chromium (apt-get install -y chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests need Chromium and Playwright under CI: {problem}")
        pytest.skip(problem)
    return found


@dataclass
class OfflinePage:
    page: Page
    # Requests the page tried to send beyond this machine; each was aborted.
    refused: list[str] = field(default_factory=list)
    # Uncaught script errors in the page.
    errors: list[str] = field(default_factory=list)


@asynccontextmanager
async def offline_page(viewport: tuple[int, int] = (1280, 900)) -> AsyncIterator[OfflinePage]:
    """A fresh page whose every request to a host other than 127.0.0.1 is aborted."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}
            )
            page = await context.new_page()
            result = OfflinePage(page)

            async def cut(route: Route) -> None:
                url = route.request.url
                scheme = urlsplit(url).scheme
                if scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
                    await route.continue_()
                else:
                    result.refused.append(url)
                    await route.abort("internetdisconnected")

            await context.route("**/*", cut)
            page.on("pageerror", lambda error: result.errors.append(str(error)))
            yield result
        finally:
            await browser.close()
