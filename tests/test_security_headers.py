"""Browser-facing hardening: security headers on every answer, a strict CSP that the pages live with, Origin checks.

Real parts: the real app on loopback, every route of its OpenAPI document requested; headless Chromium loads the
console (every section, a camera playing live on the wall), the join pages of two sites in a meeting and the
meeting player, collecting every ``securitypolicyviolation`` event and console error; a page served by another
real server on another port tries to frame the console (refused) and the player (allowed when configured); the
signalling WebSocket is opened with a foreign Origin (refused with a reason) and with its own (served).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright import async_api as playwright_api

from mediaserver.app_keys import ENGINE_KEY, STORE_KEY, TOKENS_KEY
from mediaserver.config import Config
from mediaserver.engine import Source
from mediaserver.security import WS_POLICY_VIOLATION
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conf_peer import encode_video, feed_h264
from tests.conftest import STRONG_PASSWORD, Api, ApiFactory
from tests.test_api import PATH_VALUES, routes_of
from tests.test_meeting_pages import connected
from tests.test_meetings import HOST, ROOM, A

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy")
# Collect CSP violations on every page of a context, from the first script on.
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`
    + ` in ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


def assert_hardened(headers: Any, what: str, *, join: bool = False) -> None:
    for h in HEADERS:
        assert h in headers, f"{what}: no {h}"
    csp = headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'"):
        assert directive in csp, f"{what}: CSP lacks {directive}: {csp}"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    media = "(self)" if join else "()"
    assert f"camera={media}" in headers["Permissions-Policy"] and f"microphone={media}" in headers["Permissions-Policy"]
    assert headers.get("Server") == "mediaserver", f"{what}: Server: {headers.get('Server')}"
    assert "Strict-Transport-Security" not in headers  # plain HTTP here: HSTS only with TLS


async def test_every_route_answers_with_the_headers(api: Api) -> None:
    doc = await (await api.client.get("/api/openapi.json")).json()
    admin = api.auth(await api.token_for("admin"))
    checked = 0
    for method, path in routes_of(doc):
        if path in ("/api/v1/auth/logout", "/api/v1/auth/password"):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
        r = await api.client.request(method, url, headers=admin, json={})
        assert_hardened(r.headers, f"{method} {path} ({r.status})", join=path.startswith("/join"))
        checked += 1
    assert checked > 100
    for url in ("/no/such/page", "/console/console.js", "/join"):  # a 404, a static file, the join page
        r = await api.client.get(url)
        assert_hardened(r.headers, url, join=url == "/join")
    r = await api.client.put("/api/v1/cameras")  # a 405 from the router
    assert r.status == 405
    assert_hardened(r.headers, "a 405")


async def test_hsts_is_sent_when_tls_is_on(make_api: ApiFactory, config: Config) -> None:
    config.server.tls.mode = "self_signed"  # the test client speaks plain HTTP; the headers follow the config
    api = await make_api(config)
    r = await api.client.get("/healthz")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_foreign_origin_cannot_open_the_signalling_websocket(api: Api) -> None:
    token = (await api.app[TOKENS_KEY].issue_join(A, ROOM))[0]
    url = api.client.make_url(f"/api/v1/rooms/{ROOM}/signal")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, headers={"Origin": "https://evil.example"}) as ws:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE, msg
            assert ws.close_code == WS_POLICY_VIOLATION
            assert str(msg.extra).startswith("origin_not_allowed: origin https://evil.example")
        own = str(api.client.make_url("")).rstrip("/")
        async with http.ws_connect(url, headers={"Origin": own}) as ws:
            await ws.send_json({"type": "join", "v": 1, "token": token})
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] != "error", reply  # the server's own page is served


async def _violations(page: Any) -> list[str]:
    return list(await page.evaluate("() => window.__csp || []"))


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_pages_run_under_the_policy_without_a_violation(make_api: ApiFactory, config: Config) -> None:
    config.server.security.frame_ancestors = []  # set below per part
    api = await make_api(config)
    store, engine = api.app[STORE_KEY], api.app[ENGINE_KEY]
    await store.cameras.upsert("cong-chinh", "Cổng chính", "api")
    await api.add_user("quan-tri", "admin")
    stop = asyncio.Event()
    source = engine.add_source(Source("camera/cong-chinh/sub", "video", "h264", 90_000, None))
    feeder = asyncio.ensure_future(feed_h264(source, encode_video("h264", 50, 7, gop=10), stop))
    base = str(api.client.make_url("")).rstrip("/")
    problems: dict[str, list[str]] = {}
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                async def context(name: str, **kw: Any) -> Any:
                    ctx = await browser.new_context(base_url=base, **kw)
                    await ctx.add_init_script(CSP_PROBE)
                    log = problems.setdefault(name, [])
                    ctx.on("console", lambda m: log.append(f"console {m.type}: {m.text}")
                           if m.type == "error" else None)
                    return ctx

                # Two sites in the meeting: the chair's page and a commune's.
                tokens = {s: (await api.app[TOKENS_KEY].issue_join(s, ROOM))[0] for s in (HOST, A)}
                joins = []
                for site in (HOST, A):
                    ctx = await context(site, permissions=["camera", "microphone"])
                    page = await ctx.new_page()
                    await page.goto(f"/join#token={tokens[site]}")
                    joins.append((site, page))
                for site, page in joins:
                    await connected(page, site)

                # The console, every section, with the camera live on the wall.
                ctx = await context("console", viewport={"width": 1366, "height": 768})
                console = await ctx.new_page()
                await console.goto("/")
                await console.fill("#username", "quan-tri")
                await console.fill("#password", STRONG_PASSWORD)
                await console.locator("#login-form").evaluate("f => f.requestSubmit()")
                await console.locator("#topbar").wait_for(timeout=10_000)
                links = await console.locator("#nav .nav-link[data-section]").evaluate_all(
                    "links => links.map((a) => [a.dataset.section, a.getAttribute('href')])")
                sections = dict(links)
                assert "cameras" in sections, sections
                for section, href in sections.items():  # every section, shown or not (the review badge polls)
                    await console.evaluate("(h) => { location.hash = h; }", href)
                    await console.wait_for_timeout(600)
                    if section == "cameras":
                        tile = console.locator(".cam-tile[data-camera-id='cong-chinh'][data-state='live']")
                        await tile.wait_for(timeout=15_000)
                # The meeting player (an unknown session: the page, its scripts and styles still load).
                player = await ctx.new_page()
                await player.goto("/meetings/999999/player")
                await player.wait_for_load_state("networkidle")
                assert await player.evaluate("() => typeof window.__meetingPlayer") == "object"  # its script ran

                for name, page in [*joins, ("console", console), ("player", player)]:
                    problems.setdefault(name, []).extend(await _violations(page))
                # The probe works: a picture from another site is blocked and reported.
                await player.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
                    '<img src="http://evil.example/x.png">')""")
                await player.wait_for_function("() => window.__csp.length > 0", timeout=5_000)
                assert "img-src" in (await _violations(player))[0]
            finally:
                await browser.close()
    finally:
        stop.set()
        await feeder
    csp_console = {k: [m for m in v if ("Content Security Policy" in m or "blocked" in m)
                       and "evil.example" not in m]  # the probe's own test, above
                   for k, v in problems.items()}
    assert not any(csp_console.values()), csp_console


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_another_site_cannot_frame_the_console_but_may_frame_the_allowed_player(
        make_api: ApiFactory, config: Config, unused_tcp_port_factory: Any) -> None:
    port = unused_tcp_port_factory()
    portal = f"http://127.0.0.1:{port}"
    config.server.security.frame_ancestors = [portal]
    api = await make_api(config)
    base = str(api.client.make_url("")).rstrip("/")

    async def page(_: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            f'<!doctype html><iframe id="console" src="{base}/"></iframe>'
            f'<iframe id="player" src="{base}/meetings/1/player"></iframe>'))

    other = web.Application()
    other.router.add_get("/", page)
    runner = web.AppRunner(other)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                tab = await browser.new_page()
                await tab.goto(portal)
                await tab.wait_for_timeout(1500)

                urls = {f.url for f in tab.frames if f.parent_frame is not None}
                assert f"{base}/meetings/1/player" in urls, urls  # the allowed page is framed
                assert f"{base}/" not in urls, urls  # the console is refused (an error page instead)
                player = next(f for f in tab.frames if f.url == f"{base}/meetings/1/player")
                assert await player.locator("body").count() == 1
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
