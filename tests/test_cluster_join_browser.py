"""A real browser follows the cluster's redirect: a site's join link opened on the wrong node lands in its room.

Two in-process nodes share one index (tests/test_cluster_routing.py); the room is pinned to node b. Chromium, with
fake camera and microphone, opens the join link on node a: node a's signalling answers ``redirect``, the page
reloads itself from node b with the same link (the token stays in the fragment, never sent to a server) and
connects there — media and all.
"""

from __future__ import annotations

import pytest
from playwright import async_api as playwright_api

from mediaserver.app_keys import CONFERENCE_KEY, TOKENS_KEY
from tests.browser import CHROMIUM, CHROMIUM_ARGS, until
from tests.test_cluster_routing import ROOM, SITE, Node, nodes  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def engine() -> str:
    """One engine is enough: the redirect is the same on both (tests/test_cluster_routing.py runs both)."""
    return "sqlite"


@pytest.mark.timeout(90)
async def test_a_join_link_opened_on_the_wrong_node_connects_on_the_rooms_node(
        nodes: tuple[Node, Node]) -> None:  # noqa: F811  (the imported fixture)
    a, b = nodes
    token, _ = await a.api.app[TOKENS_KEY].issue_join(SITE, ROOM)
    a_base, b_base = f"http://127.0.0.1:{a.client.port}", f"http://127.0.0.1:{b.client.port}"
    log: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(permissions=["camera", "microphone"], locale="vi-VN")
            page = await ctx.new_page()
            page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
            await page.goto(f"{a_base}/join#token={token}")
            await until(lambda: page.evaluate("() => window.__conf?.state === 'connected'"),
                        "the page to connect on the room's node", wait_s=40)
            # It is node b's page now, with the link's token still only in the fragment, and the hop count gone.
            assert page.url.startswith(f"{b_base}/join?room={ROOM}"), page.url
            assert page.url.endswith(f"#token={token}") and "hop=" not in page.url, page.url
            room = b.api.app[CONFERENCE_KEY].live(ROOM)
            assert room is not None and SITE in room.sessions
            assert a.api.app[CONFERENCE_KEY].live(ROOM) is None
            errors = [m for m in log if m.startswith("pageerror:")]
            assert not errors, errors
        finally:
            await browser.close()
