"""Camera groups made in the console on this workstation, in a real Chromium against the real app.

Staff add a group, name it, tick its cameras (a group without a camera or a name is refused with a Vietnamese
message), and the wall gets a tab showing just those cameras; the group and the choice survive a reload (they
live in this browser), and removing the group brings the whole wall back.
"""

from __future__ import annotations

import pytest

from mediaserver.app_keys import STORE_KEY
from tests.browser import console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, Api

pytestmark = pytest.mark.slow

CAMERAS = {"cong": "Cổng chính", "san": "Sân trường", "kho": "Kho"}


async def tile_ids(page: object) -> list[str]:
    got = await page.locator("#camera-wall .cam-tile").evaluate_all("ts => ts.map(t => t.dataset.cameraId)")  # type: ignore[attr-defined]
    return sorted(got)


@pytest.mark.timeout(60)
async def test_staff_make_a_camera_group_in_the_console_and_the_wall_shows_it(api: Api) -> None:
    store = api.app[STORE_KEY]
    for cid, name in CAMERAS.items():
        await store.cameras.upsert(cid, name, "api")
    await api.add_user("bao-ve", "security")
    base = str(api.client.make_url("")).rstrip("/")
    async with console_page(base) as page:
        await console_login(page, "#/cameras", "bao-ve", STRONG_PASSWORD)
        await until(lambda: _eq(tile_ids(page), sorted(CAMERAS)), "every camera on the wall")
        await page.locator("#wall-groups-edit").click()
        dialog = page.locator("#grp-dialog")
        assert "Chưa có nhóm nào" in await dialog.inner_text()
        await page.locator("#grp-add").click()
        await page.locator("#grp-save").click()
        assert "chưa có camera nào" in await page.locator("#grp-error").inner_text()
        group = dialog.locator("fieldset.grp")
        await group.locator(".grp-name").fill("  ")
        await group.locator("input[value='cong']").check()
        await page.locator("#grp-save").click()
        assert await page.locator("#grp-error").inner_text() == "Mỗi nhóm cần một tên."
        await group.locator(".grp-name").fill("Ca đêm")
        await group.locator("input[value='kho']").check()
        await page.locator("#grp-save").click()
        await dialog.wait_for(state="detached", timeout=5_000)

        tab = page.locator("#wall-groups .room-tab", has_text="Ca đêm")
        await tab.click()
        await until(lambda: _eq(tile_ids(page), ["cong", "kho"]), "the group's cameras")
        await page.reload()
        await page.locator("#wall-groups .room-tab.active", has_text="Ca đêm").wait_for(timeout=10_000)
        await until(lambda: _eq(tile_ids(page), ["cong", "kho"]), "the group after a reload")

        await page.locator("#wall-groups-edit").click()
        await page.locator("#grp-dialog .grp-remove").click()
        await page.locator("#grp-save").click()
        await until(lambda: _eq(tile_ids(page), sorted(CAMERAS)), "the whole wall again")
        assert await tab.count() == 0
        assert page.errors == []


async def _eq(got: object, want: object) -> bool:
    return bool(await got == want)  # type: ignore[misc]
