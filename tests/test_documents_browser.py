"""Meeting documents on the join page in real headless Chromium: a site opens the meeting's PDF, the chair presents.

The server is the real app on 127.0.0.1; the sites' pages join with their own join tokens (fake camera and
microphone). The PDF opens in Chromium's own PDF viewer from a blob: URL (the file fetched with the join token
in a header), a picture in an <img>; the chair presents page 1 then page 2 and every site's page follows, a
site that joins late opens the presented page at once. The commune's page is phone-sized (390×844).
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.browser import until
from tests.conftest import Api
from tests.test_browser import Pages, browser  # noqa: F401  (the browser fixture)
from tests.test_documents import tiny_pdf, upload
from tests.test_meetings import HOST, A, B, at, schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def noise_png(w: int = 800, h: int = 600) -> bytes:
    """Return a PNG of random pixels (about 1,4 MB: it does not compress)."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


async def viewing(page: Any) -> dict[str, Any] | None:
    return await page.evaluate("() => window.__docs.viewing")  # type: ignore[no-any-return]


async def frame_src(page: Any) -> str:
    return str(await page.evaluate("() => (document.querySelector('#doc-frame') || {}).src || ''"))


async def test_site_opens_the_meetings_pdf_and_follows_the_chair(api: Api, browser: Any) -> None:  # noqa: F811
    op = api.auth(await api.token_for("operator"))
    m = await schedule(api, op, starts_at=at(60), ends_at=at(3600), title="Giao ban tháng 12")
    r = await upload(api, op, m["id"], tiny_pdf(3), "bao-cao.pdf", title="Báo cáo tình hình", downloadable="false")
    assert r.status == 201, await r.text()
    pdf = await r.json()
    png = noise_png()
    r = await upload(api, op, m["id"], png, "so-do.png", title="Sơ đồ vị trí")
    assert r.status == 201, await r.text()
    pages = Pages(browser, api)
    try:
        site = await pages.open(A, await pages.token(A), viewport=(390, 844))
        docs_btn = site.locator("#btn-docs")
        await docs_btn.wait_for(state="visible", timeout=20_000)
        await docs_btn.click()
        rows = site.locator("#docs-list .doc-row")
        await until(lambda: rows.count(), "the documents listed")
        assert await rows.count() == 2
        first, second = await rows.nth(0).inner_text(), await rows.nth(1).inner_text()
        assert "Báo cáo tình hình" in first and "PDF · 3 trang" in first and "Chỉ xem, không tải về" in first
        assert "Tải về" not in first  # view-only: no download button
        assert "Sơ đồ vị trí" in second and "1,4 MB" in second and "Tải về" in second
        assert await site.evaluate("() => document.documentElement.scrollWidth") <= 390

        # Open the PDF: the file arrives (200, with the join token in a header) and the PDF viewer shows it.
        content_url = f"/api/v1/documents/{pdf['id']}/content"
        async with site.expect_response(lambda resp: resp.url.endswith(content_url)) as got:
            await rows.nth(0).locator(".doc-open").click()
        resp = await got.value
        assert resp.status == 200 and resp.headers["content-type"] == "application/pdf"
        assert (await resp.request.all_headers())["authorization"].startswith("Bearer ")
        await until(lambda: frame_src(site), "the PDF's frame")
        src = await frame_src(site)
        assert src.startswith("blob:") and src.endswith("#page=1&toolbar=0"), src
        await until(lambda: site.evaluate("() => window.__docs.viewing.status === 'shown'"), "the PDF shown")
        # Chromium's own PDF viewer loaded inside the frame.
        async def pdf_viewer() -> bool:
            return any(f.url.startswith("chrome-extension://") for f in site.frames)
        await until(pdf_viewer, "the PDF viewer")
        assert await site.locator("#doc-frame").is_visible()
        assert await site.locator("#doc-download").is_hidden()
        assert "Chỉ xem, không tải về" in await site.locator("#doc-note").inner_text()
        await site.locator("#doc-close").click()
        await site.locator("#doc-viewer").wait_for(state="hidden")

        # The picture opens in an <img>, decoded.
        await docs_btn.click()
        await rows.nth(1).locator(".doc-open").click()
        await until(lambda: site.evaluate("() => { const i = document.querySelector('#doc-img');"
                                          " return i && i.complete && i.naturalWidth === 800; }"), "the picture shown")
        assert await site.locator("#doc-download").is_visible()
        await site.locator("#doc-close").click()

        # The chair presents the PDF: the commune's page opens it; the next page follows.
        chair = await pages.open(HOST, await pages.token(HOST))
        await chair.locator("#btn-docs").wait_for(state="visible", timeout=20_000)
        await chair.locator("#btn-docs").click()
        await chair.locator(f'#docs-list .doc-row[data-id="{pdf["id"]}"] .doc-present').click()
        await until(lambda: viewing(site), "the commune's page to open the presented document")
        v = await viewing(site)
        assert v is not None and v["id"] == pdf["id"] and v["page"] == 1 and v["presented"]
        assert await site.locator("#doc-presented").inner_text() == "Chủ tọa đang trình chiếu tài liệu này"
        await chair.locator("#doc-next").click()
        await until(lambda: site.evaluate("() => (window.__docs.viewing || {}).page === 2"), "page 2 on the commune")
        await until(lambda: frame_src(site), "the PDF's frame")
        assert (await frame_src(site)).endswith("#page=2&toolbar=0")
        assert await chair.locator("#doc-page").inner_text() == "Trang 2/3"

        # A site that joins now opens the presented page at once.
        late = await pages.open(B, await pages.token(B))
        await until(lambda: late.evaluate("() => (window.__docs.viewing || {}).page === 2"), "page 2 on the late site")
        await until(lambda: frame_src(late), "the late site's PDF frame")

        # English on the toggle.
        await site.locator("#lang-toggle").click()
        assert await site.locator("#doc-presented").inner_text() == "The chair is presenting this document"

        # Stop: the sites' viewers close.
        await chair.locator("#doc-present-btn").click()
        await site.locator("#doc-viewer").wait_for(state="hidden")
        pages.assert_no_script_errors()
    finally:
        await pages.close()
