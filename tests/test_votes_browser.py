"""Votes from the join pages in real headless Chromium (fake devices): the chair and two phone-sized sites.

The chair opens a question from its panel; each site's card shows three big buttons that fit a 390×844 phone;
a site that clicks twice (and then forces a second ballot over its socket) is counted once and told so; the
chair's box counts live in vi-VN numbers; the result reaches every page, in English on the toggle; the index
holds exactly the ballots cast.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mediaserver.app_keys import STORE_KEY
from tests.browser import until
from tests.conftest import Api
from tests.test_browser import Pages, browser  # noqa: F401  (the browser fixture)
from tests.test_votes import HOST, A, B, schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

QUESTION = "Thông qua Nghị quyết phân bổ vốn đầu tư công năm 2027"
PHONE = (390, 844)


async def shown(page: Any, selector: str, wait_s: float = 20.0, **kw: Any) -> Any:
    loc = page.locator(selector, **kw)
    await loc.first.wait_for(state="visible", timeout=wait_s * 1000)
    return loc


async def welcomed(page: Any, who: str) -> None:
    # The server handles a site's messages once it has sent the offer; a vote needs no media.
    await until(lambda: page.evaluate("() => Boolean(window.__conf.welcome && window.__conf.pc)"),
                f"{who}'s page to join", 30)


async def test_chromium_sites_vote_once_each_and_see_the_result(api: Api, browser: Any) -> None:  # noqa: F811
    op = api.auth(await api.token_for("operator"))
    meeting_id = await schedule(api, op)
    pages = Pages(browser, api)
    try:
        chair = await pages.open(HOST, await pages.token(HOST))
        a = await pages.open(A, await pages.token(A), viewport=PHONE)
        b = await pages.open(B, await pages.token(B), viewport=PHONE)
        for page, who in ((chair, HOST), (a, A), (b, B)):
            await welcomed(page, who)
        await until(lambda: chair.evaluate("() => window.__conf.roster.filter((s) => s.connected).length === 3"),
                    "all three sites on the chair's roster")

        # The chair puts the question from its panel.
        await (await shown(chair, "#vote-box")).first.scroll_into_view_if_needed()
        await chair.fill("#vote-text", QUESTION)
        await chair.locator("#vote-open").click()
        for page in (a, b, chair):
            await shown(page, "#vote-card-question", has_text=QUESTION)
        assert await a.locator("#vote-card-title").text_content() == "Biểu quyết"

        # Three big buttons, all inside the phone's screen.
        buttons = a.locator(".vote-btn")
        assert await buttons.all_text_contents() == ["Tán thành", "Không tán thành", "Không ý kiến"]
        for i in range(3):
            box = await buttons.nth(i).bounding_box()
            assert box is not None and box["height"] >= 48 and box["width"] >= 300, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0] and box["y"] + box["height"] <= PHONE[1], box

        # A clicks twice, then forces a second ballot over its own socket: counted once, told so.
        await a.locator('.vote-btn[data-choice="yes"]').dblclick()
        await shown(a, "#vote-done", has_text="Đã biểu quyết: Tán thành")
        question_id = await a.evaluate("() => window.__votes.state.question.id")
        await a.evaluate("(m) => window.__conf.ws.send(m)",
                         json.dumps({"type": "vote_cast", "question": question_id, "choice": "no"}))
        await shown(a, "#vote-card-error", has_text="mỗi điểm cầu chỉ biểu quyết một lần")
        assert await a.locator("#vote-choices").is_hidden()

        await b.locator('.vote-btn[data-choice="no"]').click()
        await shown(b, "#vote-done", has_text="Đã biểu quyết: Không tán thành")
        await chair.locator('.vote-btn[data-choice="abstain"]').click()  # the chair votes too
        await shown(chair, "#vote-done", has_text="Đã biểu quyết: Không ý kiến")

        # The chair's box counts live, in vi-VN numbers.
        await shown(chair, ".vote-live-n", has_text="Đã biểu quyết: 3/3 điểm cầu")
        await shown(chair, "#vote-live .vote-count[data-choice='yes'] .vote-count-n", has_text="1 điểm cầu (33,3 %)")
        await shown(chair, "#vote-live .vote-missing", has_text="Tất cả điểm cầu đã biểu quyết.")
        assert await a.locator("#vote-box").is_hidden(), "only the chair has the vote controls"

        await chair.locator("#vote-close").click()
        for page in (a, b, chair):
            await shown(page, "#vote-card[data-state='closed'] #vote-card-title", has_text="Kết quả biểu quyết")
            counts = await page.locator("#vote-card-result .vote-count-n").all_text_contents()
            assert counts == ["1 điểm cầu (33,3 %)"] * 3, counts
        await b.locator("#lang-toggle").click()
        await shown(b, "#vote-card-title", has_text="Result of the vote")
        assert await b.locator("#vote-card-result .vote-count-label").all_text_contents() \
            == ["In favour", "Against", "Abstain"]
        assert await b.locator("#vote-card-result .vote-count-n").first.text_content() == "1 site(s) (33.3%)"
        await b.locator("#vote-card-hide").click()
        assert await b.locator("#vote-card").is_hidden()

        tallies = await api.app[STORE_KEY].votes.for_meeting(meeting_id)
        assert len(tallies) == 1
        t = tallies[0]
        assert (t.yes, t.no, t.abstain, t.not_voted) == (1, 1, 1, [])
        assert t.ballots == {HOST: "abstain", A: "yes", B: "no"} and t.question.text == QUESTION
        pages.assert_no_script_errors()
    finally:
        await pages.close()


async def test_meeting_page_lists_votes_and_results(api: Api) -> None:
    from tests.browser import console_login, console_page
    from tests.conftest import STRONG_PASSWORD

    op = api.auth(await api.token_for("operator"))
    meeting_id = await schedule(api, op)
    store = api.app[STORE_KEY]
    votes = store.votes
    import time as _time
    q = await votes.open("hop-huyen", meeting_id, None, QUESTION, False, f"site:{HOST}", _time.time(), [HOST, A, B])
    assert q is not None
    await votes.cast(q.id, A, "yes", _time.time())
    await votes.cast(q.id, HOST, "yes", _time.time())
    await votes.close(q.id, _time.time(), f"site:{HOST}")
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base) as page:
        await console_login(page, f"#/meetings?id={meeting_id}", "operator-user", STRONG_PASSWORD)
        item = await shown(page, f'#votes-list .vt-item[data-question-id="{q.id}"]')
        text = await item.first.text_content()
        assert QUESTION in text and "Tán thành 2 điểm cầu (100,0 %)" in text, text
        assert "Không ý kiến 0 điểm cầu (0,0 %)" in text, text
        assert "Không biểu quyết: UBND xã An Hòa" in text, text
        assert not page.errors, page.errors


async def test_monitor_page_opens_counts_and_closes_a_vote(api: Api) -> None:
    import aiohttp

    from mediaserver.app_keys import TOKENS_KEY
    from tests.browser import console_login, console_page
    from tests.conftest import STRONG_PASSWORD
    from tests.test_votes import ROOM, WsSite

    await api.add_user("operator-user", "operator")
    base = str(api.client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        site = WsSite(http, base, (await api.app[TOKENS_KEY].issue_join(A, ROOM))[0], A)
        await site.join()
        try:
            async with console_page(base) as page:
                await console_login(page, f"#/monitor?room={ROOM}", "operator-user", STRONG_PASSWORD)
                box = page.locator(f'.vt-box[data-room-id="{ROOM}"]')
                await box.locator(".vt-input").fill(QUESTION)
                await box.locator(".vt-open-btn").click()
                q = (await site.next("vote_opened"))["question"]
                assert q["text"] == QUESTION and q["opened_by"] == "operator-user"
                await site.answer({"type": "vote_cast", "question": q["id"], "choice": "no"})
                await shown(page, f'.vt-box[data-room-id="{ROOM}"] .vt-progress',
                            has_text="Đã biểu quyết: 1/1 điểm cầu")
                await box.locator(".vt-close-btn").click()
                result = await site.next("vote_result")
                assert (result["yes"], result["no"], result["abstain"]) == (0, 1, 0)
                await shown(page, f'.vt-box[data-room-id="{ROOM}"] .vt-last',
                            has_text="Không tán thành 1 điểm cầu (100,0 %)")
                assert not page.errors, page.errors
        finally:
            await site.close()
