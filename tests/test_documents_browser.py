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

from mediaserver.app_keys import STORE_KEY
from tests.browser import ARTIFACTS, console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, Api
from tests.test_browser import Pages, browser  # noqa: F401  (the browser fixture)
from tests.test_documents import elf, tiny_pdf, upload
from tests.test_meetings import HOST, A, B, at, schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def noise_png(w: int = 800, h: int = 600) -> bytes:
    """Return a PNG of random pixels (about 1,4 MB: it does not compress)."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


async def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


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


async def test_console_uploads_with_progress_lists_toggles_and_deletes(api: Api, tmp_path: Any) -> None:
    await api.add_user("dieu-hanh", "operator")
    op = api.auth(await api.login("dieu-hanh"))
    m = await schedule(api, op, title="Họp chuyên đề")
    pdf_file, png_file, fake = tmp_path / "Kế hoạch.pdf", tmp_path / "anh-lon.png", tmp_path / "bao-cao.pdf"
    pdf_file.write_bytes(tiny_pdf(2))
    png_file.write_bytes(noise_png())
    fake.write_bytes(elf())
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base, width=390, height=844) as page:
        await console_login(page, f"#/meetings?id={m['id']}", "dieu-hanh", STRONG_PASSWORD)
        section = page.locator("#documents")
        await section.wait_for()
        # The section is drawn before its list arrives: wait for the list's own words.
        await section.get_by_text("Chưa có tài liệu nào.").wait_for(timeout=10_000)
        # Two files at once: a progress bar while they go, then both listed with vi-VN sizes.
        await page.set_input_files("#docs-file", [str(pdf_file), str(png_file)])
        await page.evaluate("""() => { const b = document.querySelector('#docs-progress');
          new MutationObserver(() => { if (!b.hidden && b.value > 0) window.sawProgress = true; })
            .observe(b, { attributes: true }); }""")
        await page.locator("#docs-upload").click()
        await until(lambda: page.locator("#docs-list .doc-item").count(), "the uploaded documents listed", 30)
        await until(lambda: page.evaluate("() => document.querySelectorAll('#docs-list .doc-item').length === 2"),
                    "both documents listed", 30)
        text = await page.locator("#docs-list").inner_text()
        assert "Kế hoạch.pdf" in text and "PDF · 2 trang" in text and "1,4 MB" in text, text
        assert "Đã tải lên: Kế hoạch.pdf" in await page.locator("#docs-status").inner_text()
        assert await page.locator("#docs-progress").is_hidden()
        assert await page.evaluate("() => window.sawProgress === true")  # the bar moved while uploading
        await shoot(page, "documents-console-390.png")
        # A renamed program is refused, in Vietnamese.
        await page.set_input_files("#docs-file", str(fake))
        await page.locator("#docs-upload").click()
        await until(lambda: page.locator("#docs-status.error").count(), "the refusal shown")
        assert "Chỉ nhận tài liệu PDF, ảnh JPEG hoặc PNG" in await page.locator("#docs-status").inner_text()
        # View-only for the sites: the switch changes the server's record.
        docs = (await (await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/documents", headers=op)).json())
        pdf_id = next(d["id"] for d in docs["items"] if d["filename"] == "Kế hoạch.pdf")
        await page.locator(f'#docs-list .doc-item[data-id="{pdf_id}"] .doc-allow').uncheck()

        async def view_only() -> bool:
            r = await api.client.get(f"/api/v1/scheduled-meetings/{m['id']}/documents", headers=op)
            return not next(d for d in (await r.json())["items"] if d["id"] == pdf_id)["downloadable"]
        await until(view_only, "the document switched to view only")
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        # Delete, confirmed.
        await page.locator(f'#docs-list .doc-item[data-id="{pdf_id}"] .doc-delete').click()
        await page.locator("#doc-delete-yes").click()
        gone = f"() => !document.querySelector('#docs-list .doc-item[data-id=\"{pdf_id}\"]')"
        await until(lambda: page.evaluate(gone), "the document gone from the list")
        assert len(await api.app[STORE_KEY].documents.for_meeting(m["id"])) == 1
        await page.locator("#lang-toggle, .lang-toggle").first.click()
        await until(lambda: page.evaluate("() => document.querySelector('#documents h3')?.textContent === "
                                          "'Meeting documents'"), "the section in English")
        assert page.errors == []
