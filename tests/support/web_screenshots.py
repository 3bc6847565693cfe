"""Screenshots of the staff web app for the README, from a running dev stack with the demo.

Usage (while ``make run`` runs; the passwords file is the dev stack's)::

    .venv/bin/python -m tests.support.web_screenshots http://127.0.0.1:8090 \\
        .cellpath/demo-passwords.txt docs/web

Signs in as the ARD specialist (dr.martin), shoots *My work* and the pathway at the top of
it, then the nurse (n.bernard). Needs Debian's chromium (``tests/support/browser.py``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.async_api import Browser

from tests.support.browser import chromium


def passwords_from(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            found[parts[0].rstrip(":")] = parts[-1]
    return found


async def shoot(browser: Browser, url: str, who: str, password: str, out: Path) -> None:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(f"{url}/sign-in")
    await page.fill("input[name=staff_id]", who)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/sign-in'] button[type=submit]")
    await page.wait_for_selector("h1:text('My work')")
    await page.screenshot(path=str(out / f"demo-my-work-{who}.png"), full_page=True)
    first = page.locator("table a[href^='/pathways/']").first
    if await first.count():
        await first.click()
        await page.wait_for_selector("h2:text('Audit timeline')")
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(out / f"demo-pathway-{who}.png"), full_page=True)


async def main(url: str, passwords_file: Path, out: Path) -> None:
    passwords = passwords_from(passwords_file)
    out.mkdir(parents=True, exist_ok=True)
    async with chromium() as browser:
        for who in ("dr.martin", "n.bernard"):
            await shoot(browser, url, who, passwords[who], out)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
